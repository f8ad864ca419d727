//! Server-side SVG charts: a line chart with threshold lines (score and active-user
//! shares over time) and stacked bars (accounts by color per week). Styling comes from
//! classes in `pulse.css`; no inline styles or scripts, so the pages keep a strict CSP.

use std::fmt::Write as _;

use super::esc;

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

/// A line chart over `labels` (x positions, e.g. dates) with a y axis from 0 to
/// `y_max` and dashed threshold lines labelled at the right.
pub fn line_chart(
    title: &str,
    labels: &[String],
    series: &[Series<'_>],
    thresholds: &[Threshold],
    y_max: f64,
) -> String {
    let n = labels.len().max(1);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let x = |i: usize| LEFT + if n == 1 { plot_w / 2.0 } else { plot_w * i as f64 / (n - 1) as f64 };
    let y = |v: f64| TOP + plot_h * (1.0 - (v / y_max).clamp(0.0, 1.0));
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{t}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title>"#,
        t = esc(title)
    );
    // Grid and y axis labels at quarters.
    for k in 0..=4 {
        let v = y_max * f64::from(k) / 4.0;
        let yy = y(v);
        let _ = write!(
            s,
            r#"<line class="grid" x1="{LEFT}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}"/><text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            W - RIGHT,
            LEFT - 6.0,
            yy + 4.0,
            fmt_num(v)
        );
    }
    // X labels: about six, always the last.
    let step = (n / 6).max(1);
    for (i, l) in labels.iter().enumerate() {
        if i % step == 0 || i + 1 == n {
            if i + 1 != n && n - 1 - i < step / 2 {
                continue;
            }
            let short = l.get(5..).unwrap_or(l);
            let _ = write!(
                s,
                r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                x(i),
                H - 10.0,
                esc(short)
            );
        }
    }
    // Labels at least 12 units apart, top to bottom, so equal or close thresholds stay legible.
    let mut order: Vec<&Threshold> = thresholds.iter().collect();
    order.sort_by(|a, b| b.value.total_cmp(&a.value));
    let mut last_label = f64::NEG_INFINITY;
    for t in order {
        let yy = y(t.value);
        let ly = (yy + 4.0).max(last_label + 12.0);
        last_label = ly;
        let _ = write!(
            s,
            r#"<line class="threshold {c}" x1="{LEFT}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}"/><text class="tlabel {c}" x="{:.1}" y="{ly:.1}">{}</text>"#,
            W - RIGHT,
            W - RIGHT + 6.0,
            esc(&t.label),
            c = t.class
        );
    }
    for se in series {
        let mut seg = String::new();
        let mut segments = Vec::new();
        for (i, v) in se.values.iter().enumerate() {
            match v {
                Some(v) => {
                    let _ = write!(seg, "{:.1},{:.1} ", x(i), y(*v));
                }
                None if !seg.is_empty() => segments.push(std::mem::take(&mut seg)),
                None => {}
            }
        }
        if !seg.is_empty() {
            segments.push(seg);
        }
        let _ = write!(s, r#"<g class="series {}" data-series="{}">"#, esc(se.class), esc(se.name));
        for pts in segments {
            if pts.split(' ').filter(|p| !p.is_empty()).count() == 1 {
                if let Some((px, py)) = pts.trim().split_once(',') {
                    let _ = write!(s, r#"<circle cx="{px}" cy="{py}" r="2.5"/>"#);
                }
            } else {
                let _ = write!(s, r#"<polyline points="{}"/>"#, pts.trim());
            }
        }
        if let Some((i, Some(v))) = se.values.iter().enumerate().rev().find(|(_, v)| v.is_some()) {
            let _ = write!(
                s,
                r#"<circle class="last" cx="{:.1}" cy="{:.1}" r="3.5"><title>{}: {}</title></circle>"#,
                x(i),
                y(*v),
                esc(se.name),
                fmt_num(*v)
            );
        }
        s.push_str("</g>");
    }
    s.push_str("</svg>");
    s
}

/// Stacked bars of (green, yellow, red) counts per label.
pub fn color_bars(title: &str, bars: &[(String, [u64; 3])]) -> String {
    let n = bars.len().max(1) as f64;
    let max = bars.iter().map(|(_, c)| c.iter().sum::<u64>()).max().unwrap_or(0).max(1) as f64;
    let plot_w = BAR_W - LEFT - 20.0;
    let plot_h = H - TOP - BOTTOM;
    let slot = plot_w / n;
    let bw = (slot * 0.7).min(48.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {BAR_W} {H}" role="img" aria-label="{t}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title>"#,
        t = esc(title)
    );
    for k in 0..=4 {
        let v = max * f64::from(k) / 4.0;
        let yy = TOP + plot_h * (1.0 - v / max);
        let _ = write!(
            s,
            r#"<line class="grid" x1="{LEFT}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}"/><text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{:.0}</text>"#,
            BAR_W - 20.0,
            LEFT - 6.0,
            yy + 4.0,
            v
        );
    }
    for (i, (label, counts)) in bars.iter().enumerate() {
        let cx = LEFT + slot * (i as f64 + 0.5);
        let mut base = TOP + plot_h;
        for (c, class) in counts.iter().zip(["green", "yellow", "red"]) {
            let h = plot_h * (*c as f64) / max;
            if h > 0.0 {
                let _ = write!(
                    s,
                    r#"<rect class="bar {class}" x="{:.1}" y="{:.1}" width="{bw:.1}" height="{h:.1}"><title>{}: {c} {class}</title></rect>"#,
                    cx - bw / 2.0,
                    base - h,
                    esc(label)
                );
            }
            base -= h;
        }
        let short = label.get(5..).unwrap_or(label);
        let _ = write!(
            s,
            r#"<text class="axis" x="{cx:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            H - 10.0,
            esc(short)
        );
    }
    s.push_str("</svg>");
    s
}

/// Side-by-side bars per label (e.g. per quarter: ARR due, forecast, actual), one bar
/// per series, values formatted by `fmt` (axis and tooltips). Each bar carries
/// `data-series` and `data-value` for tests.
pub fn grouped_bars(title: &str, labels: &[String], series: &[Series<'_>], fmt: impl Fn(f64) -> String) -> String {
    let n = labels.len().max(1) as f64;
    let max = series.iter().flat_map(|s| s.values.iter().flatten()).copied().fold(0.0_f64, f64::max);
    let max = if max > 0.0 { max } else { 1.0 };
    let left = 64.0;
    let plot_w = BAR_W - left - 20.0;
    let plot_h = H - TOP - BOTTOM;
    let slot = plot_w / n;
    let k = series.len().max(1) as f64;
    let bw = ((slot * 0.8) / k).min(40.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {BAR_W} {H}" role="img" aria-label="{t}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title>"#,
        t = esc(title)
    );
    for q in 0..=4 {
        let v = max * f64::from(q) / 4.0;
        let yy = TOP + plot_h * (1.0 - v / max);
        let _ = write!(
            s,
            r#"<line class="grid" x1="{left}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}"/><text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            BAR_W - 20.0,
            left - 6.0,
            yy + 4.0,
            esc(&fmt(v))
        );
    }
    for (i, label) in labels.iter().enumerate() {
        let cx = left + slot * (i as f64 + 0.5);
        let x0 = cx - bw * k / 2.0;
        for (j, se) in series.iter().enumerate() {
            let Some(v) = se.values.get(i).copied().flatten() else { continue };
            let h = plot_h * (v.max(0.0) / max);
            let _ = write!(
                s,
                r#"<rect class="bar {c}" data-series="{n}" data-value="{v}" x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}"><title>{l}: {n} {f}</title></rect>"#,
                x0 + bw * j as f64,
                TOP + plot_h - h,
                (bw - 2.0).max(1.0),
                c = esc(se.class),
                n = esc(se.name),
                l = esc(label),
                f = esc(&fmt(v))
            );
        }
        let _ = write!(
            s,
            r#"<text class="axis" x="{cx:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            H - 10.0,
            esc(label)
        );
    }
    s.push_str("</svg>");
    s
}

/// A one-line proportional bar of color counts (the portfolio "now").
pub fn color_strip(counts: [u64; 3]) -> String {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return String::new();
    }
    let mut s = String::from(
        r#"<svg class="strip" viewBox="0 0 100 6" preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg" aria-hidden="true">"#,
    );
    let mut x = 0.0;
    for (c, class) in counts.iter().zip(["green", "yellow", "red"]) {
        let w = 100.0 * (*c as f64) / (total as f64);
        let _ = write!(s, r#"<rect class="bar {class}" x="{x:.2}" y="0" width="{w:.2}" height="6"/>"#);
        x += w;
    }
    s.push_str("</svg>");
    s
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
            100.0,
        );
        assert!(svg.contains("&lt;score&gt;") && !svg.contains("<score>"));
        assert_eq!(svg.matches("<polyline").count(), 1, "{svg}");
        assert!(svg.contains("<circle cx="), "single point drawn as a dot");
        assert!(svg.contains("green 70"));
        let bars = color_bars("weeks", &[("2026-11-07".into(), [5, 2, 1])]);
        assert_eq!(bars.matches("<rect").count(), 3);
        let grouped = grouped_bars(
            "quarters",
            &["2026-Q1".into(), "2026-Q2".into()],
            &[
                Series { name: "due", class: "s-due", values: vec![Some(100.0), None] },
                Series { name: "<actual>", class: "s-actual", values: vec![Some(50.0), Some(0.0)] },
            ],
            |v| format!("${v:.0}"),
        );
        assert_eq!(grouped.matches("<rect").count(), 3, "a missing value draws no bar");
        assert!(grouped.contains(r#"data-value="100""#) && grouped.contains("&lt;actual&gt;"));
        assert!(grouped.contains(">$100<"), "axis labels through fmt");
    }
}
