//! Server-side SVG charts: a line chart with threshold lines (score and active-user
//! shares over time) and stacked bars (accounts by color per week). Styling comes from
//! classes in `pulse.css`; no inline styles or scripts, so the pages keep a strict CSP.

use maud::{html, Markup};
use pulse_core::Color;

pub struct Series<'a> {
    pub name: &'a str,
    /// CSS class of the line (`s-score`, `s-dau`, ...).
    pub class: &'a str,
    /// One value per x position; `None` leaves a gap.
    pub values: Vec<Option<f64>>,
}

pub struct Threshold {
    pub value: f64,
    pub label: String,
    /// CSS class (`t-green`, `t-yellow`, `t-target`, `t-low`).
    pub class: &'static str,
}

/// A vertical line at one x position (e.g. the day the scorecard changed), with a
/// short label at the top and a tooltip.
pub struct Marker {
    /// Index into the chart's labels.
    pub index: usize,
    /// Written at the top of the line.
    pub label: String,
    /// The tooltip (`<title>`).
    pub title: String,
}

/// Line charts sit in half-width panels (~560 CSS pixels), so text keeps its size.
const W: f64 = 560.0;
const H: f64 = 250.0;
const LEFT: f64 = 34.0;
const RIGHT: f64 = 118.0;
/// Bar charts span the page.
const BAR_W: f64 = 1100.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 30.0;

fn fmt_num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A coordinate with one decimal.
fn c1(v: f64) -> String {
    format!("{v:.1}")
}

/// The chart's frame: `<svg class="chart">` with its accessible title. SVG elements are
/// written with explicit end tags (`<line ...></line>`): inside `<svg>` an HTML parser
/// treats no element as void.
fn chart(width: f64, title: &str, content: Markup) -> Markup {
    html! {
        svg class="chart" viewBox={ "0 0 " (width) " " (H) } role="img" aria-label=(title) xmlns="http://www.w3.org/2000/svg" {
            title { (title) }
            (content)
        }
    }
}

/// A horizontal grid line at `yy` from `x1` to `x2`, labelled at the left with `label`.
fn grid_line(x1: f64, x2: f64, yy: f64, label: &str) -> Markup {
    html! {
        line class="grid" x1=(x1) x2=(c1(x2)) y1=(c1(yy)) y2=(c1(yy)) {}
        text class="axis" x=(c1(x1 - 6.0)) y=(c1(yy + 4.0)) text-anchor="end" { (label) }
    }
}

/// An x-axis label centred at `x`.
fn x_label(x: f64, label: &str) -> Markup {
    html! { text class="axis" x=(c1(x)) y=(c1(H - 10.0)) text-anchor="middle" { (label) } }
}

/// A line chart over `labels` (x positions, e.g. dates) with a y axis from 0 to
/// `y_max`, dashed threshold lines labelled at the right and vertical `markers`.
pub fn line_chart(
    title: &str,
    labels: &[String],
    series: &[Series<'_>],
    thresholds: &[Threshold],
    markers: &[Marker],
    y_max: f64,
) -> Markup {
    let n = labels.len().max(1);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let x = |i: usize| LEFT + if n == 1 { plot_w / 2.0 } else { plot_w * i as f64 / (n - 1) as f64 };
    let y = |v: f64| TOP + plot_h * (1.0 - (v / y_max).clamp(0.0, 1.0));
    // X labels: about six, always the last, and none too close before the last.
    let step = (n / 6).max(1);
    let x_labels = labels.iter().enumerate().filter(|&(i, _)| i + 1 == n || (i % step == 0 && n - 1 - i >= step / 2));
    // Labels at least 12 units apart, top to bottom, so equal or close thresholds stay legible.
    let mut order: Vec<&Threshold> = thresholds.iter().collect();
    order.sort_by(|a, b| b.value.total_cmp(&a.value));
    let mut last_label = f64::NEG_INFINITY;
    let placed: Vec<(&Threshold, f64, f64)> = order
        .into_iter()
        .map(|t| {
            let yy = y(t.value);
            let ly = (yy + 4.0).max(last_label + 12.0);
            last_label = ly;
            (t, yy, ly)
        })
        .collect();
    chart(
        W,
        title,
        html! {
            // Grid and y axis labels at quarters.
            @for k in 0..=4 {
                @let v = y_max * f64::from(k) / 4.0;
                (grid_line(LEFT, W - RIGHT, y(v), &fmt_num(v)))
            }
            @for (i, l) in x_labels {
                (x_label(x(i), l.get(5..).unwrap_or(l)))
            }
            @for (t, yy, ly) in placed {
                line class={ "threshold " (t.class) } x1=(LEFT) x2=(c1(W - RIGHT)) y1=(c1(yy)) y2=(c1(yy)) {}
                text class={ "tlabel " (t.class) } x=(c1(W - RIGHT + 6.0)) y=(c1(ly)) { (t.label) }
            }
            @for m in markers.iter().filter(|m| m.index < labels.len()) {
                @let mx = c1(x(m.index));
                g class="marker" data-marker=(labels[m.index]) {
                    title { (m.title) }
                    line x1=(mx) x2=(mx) y1=(c1(TOP)) y2=(c1(H - BOTTOM)) {}
                    text x=(c1(x(m.index) + 3.0)) y=(c1(TOP + 9.0)) { (m.label) }
                }
            }
            @for se in series {
                g class={ "series " (se.class) } data-series=(se.name) {
                    @for pts in segments(&se.values, &x, &y) {
                        @if let &[(px, py)] = pts.as_slice() {
                            circle cx=(c1(px)) cy=(c1(py)) r="2.5" {}
                        } @else {
                            polyline points=(points(&pts)) {}
                        }
                    }
                    @if let Some((i, Some(v))) = se.values.iter().enumerate().rev().find(|(_, v)| v.is_some()) {
                        circle class="last" cx=(c1(x(i))) cy=(c1(y(*v))) r="3.5" {
                            title { (se.name) ": " (fmt_num(*v)) }
                        }
                    }
                }
            }
        },
    )
}

/// The runs of consecutive known values as points; a `None` breaks the line.
fn segments(values: &[Option<f64>], x: &impl Fn(usize) -> f64, y: &impl Fn(f64) -> f64) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let mut seg = Vec::new();
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => seg.push((x(i), y(*v))),
            None if !seg.is_empty() => out.push(std::mem::take(&mut seg)),
            None => {}
        }
    }
    if !seg.is_empty() {
        out.push(seg);
    }
    out
}

/// `x,y x,y ...` for a polyline.
fn points(pts: &[(f64, f64)]) -> String {
    pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect::<Vec<_>>().join(" ")
}

/// One segment of a stacked bar: y, height, count, color class.
type BarSegment = (f64, f64, u64, &'static str);

/// Stacked bars of (green, yellow, red) counts per label.
pub fn color_bars(title: &str, bars: &[(String, [u64; 3])]) -> Markup {
    let n = bars.len().max(1) as f64;
    let max = bars.iter().map(|(_, c)| c.iter().sum::<u64>()).max().unwrap_or(0).max(1) as f64;
    let plot_w = BAR_W - LEFT - 20.0;
    let plot_h = H - TOP - BOTTOM;
    let slot = plot_w / n;
    let bw = (slot * 0.7).min(48.0);
    // Each bar (x centre, label) with its segments, bottom up.
    let stacks: Vec<(f64, &String, Vec<BarSegment>)> = bars
        .iter()
        .enumerate()
        .map(|(i, (label, counts))| {
            let mut base = TOP + plot_h;
            let mut segs = Vec::new();
            for (c, class) in counts.iter().zip(COLORS.map(|c| c.as_str())) {
                let h = plot_h * (*c as f64) / max;
                if h > 0.0 {
                    segs.push((base - h, h, *c, class));
                }
                base -= h;
            }
            (LEFT + slot * (i as f64 + 0.5), label, segs)
        })
        .collect();
    chart(
        BAR_W,
        title,
        html! {
            @for k in 0..=4 {
                @let v = max * f64::from(k) / 4.0;
                (grid_line(LEFT, BAR_W - 20.0, TOP + plot_h * (1.0 - v / max), &format!("{v:.0}")))
            }
            @for (cx, label, segs) in stacks {
                @for (y, h, c, class) in segs {
                    rect class={ "bar " (class) } x=(c1(cx - bw / 2.0)) y=(c1(y)) width=(c1(bw)) height=(c1(h)) {
                        title { (label) ": " (c) " " (class) }
                    }
                }
                (x_label(cx, label.get(5..).unwrap_or(label)))
            }
        },
    )
}

/// Side-by-side bars per label (e.g. per quarter: ARR due, forecast, actual), one bar
/// per series, values formatted by `fmt` (axis and tooltips). Each bar carries
/// `data-series` and `data-value` for tests.
pub fn grouped_bars(title: &str, labels: &[String], series: &[Series<'_>], fmt: impl Fn(f64) -> String) -> Markup {
    let n = labels.len().max(1) as f64;
    let max = series.iter().flat_map(|s| s.values.iter().flatten()).copied().fold(0.0_f64, f64::max);
    let max = if max > 0.0 { max } else { 1.0 };
    let left = 64.0;
    let plot_w = BAR_W - left - 20.0;
    let plot_h = H - TOP - BOTTOM;
    let slot = plot_w / n;
    let k = series.len().max(1) as f64;
    let bw = ((slot * 0.8) / k).min(40.0);
    chart(
        BAR_W,
        title,
        html! {
            @for q in 0..=4 {
                @let v = max * f64::from(q) / 4.0;
                (grid_line(left, BAR_W - 20.0, TOP + plot_h * (1.0 - v / max), &fmt(v)))
            }
            @for (i, label) in labels.iter().enumerate() {
                @let cx = left + slot * (i as f64 + 0.5);
                @let x0 = cx - bw * k / 2.0;
                @for (j, se) in series.iter().enumerate() {
                    @if let Some(v) = se.values.get(i).copied().flatten() {
                        @let h = plot_h * (v.max(0.0) / max);
                        rect class={ "bar " (se.class) } data-series=(se.name) data-value=(v) x=(c1(x0 + bw * j as f64)) y=(c1(TOP + plot_h - h)) width=(c1((bw - 2.0).max(1.0))) height=(c1(h)) {
                            title { (label) ": " (se.name) " " (fmt(v)) }
                        }
                    }
                }
                (x_label(cx, label))
            }
        },
    )
}

/// The order of color counts (`[green, yellow, red]`): classes are the core's names.
const COLORS: [Color; 3] = [Color::Green, Color::Yellow, Color::Red];

/// A one-line proportional bar of color counts (the portfolio "now").
pub fn color_strip(counts: [u64; 3]) -> Markup {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return html! {};
    }
    let mut x = 0.0;
    let rects: Vec<(f64, f64, &str)> = counts
        .iter()
        .zip(COLORS.map(|c| c.as_str()))
        .map(|(c, class)| {
            let w = 100.0 * (*c as f64) / (total as f64);
            let start = x;
            x += w;
            (start, w, class)
        })
        .collect();
    html! {
        svg class="strip" viewBox="0 0 100 6" preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg" aria-hidden="true" {
            @for (x, w, class) in rects {
                rect class={ "bar " (class) } x=(format!("{x:.2}")) y="0" width=(format!("{w:.2}")) height="6" {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_and_break_on_gaps() {
        let labels: Vec<String> = (1..=5).map(|d| format!("2026-11-0{d}")).collect();
        let svg = line_chart(
            "<score>",
            &labels,
            &[Series {
                name: "score",
                class: "s-score",
                values: vec![Some(10.0), None, Some(30.0), Some(40.0), Some(50.0)],
            }],
            &[Threshold { value: 70.0, label: "green 70".into(), class: "t-green" }],
            &[
                Marker { index: 2, label: "<new>".into(), title: "a -> b".into() },
                Marker { index: 9, label: "out of range".into(), title: String::new() },
            ],
            100.0,
        )
        .into_string();
        assert_eq!(svg.matches("data-marker=").count(), 1, "a marker past the labels is left out: {svg}");
        assert!(svg.contains(r#"data-marker="2026-11-03""#) && svg.contains("&lt;new&gt;"));
        assert!(svg.contains("&lt;score&gt;") && !svg.contains("<score>"));
        assert_eq!(svg.matches("<polyline").count(), 1, "{svg}");
        assert!(svg.contains("<circle cx="), "single point drawn as a dot");
        assert!(svg.contains("green 70"));
        let bars = color_bars("weeks", &[("2026-11-07".into(), [5, 2, 1])]).into_string();
        assert_eq!(bars.matches("<rect").count(), 3);
        let grouped = grouped_bars(
            "quarters",
            &["2026-Q1".into(), "2026-Q2".into()],
            &[
                Series { name: "due", class: "s-due", values: vec![Some(100.0), None] },
                Series { name: "<actual>", class: "s-actual", values: vec![Some(50.0), Some(0.0)] },
            ],
            |v| format!("${v:.0}"),
        )
        .into_string();
        assert_eq!(grouped.matches("<rect").count(), 3, "a missing value draws no bar");
        assert!(grouped.contains(r#"data-value="100""#) && grouped.contains("&lt;actual&gt;"));
        assert!(grouped.contains(">$100<"), "axis labels through fmt");
    }
}
