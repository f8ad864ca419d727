//! The renewal forecast and scorecard accuracy pages (SPEC §8), over the same
//! queries as `/api/v1/renewals` and `/api/v1/accuracy`, written for a reader who has
//! not seen the scorecard: every number says what it is and where it comes from.

use axum::{
    extract::{RawQuery, State},
    response::Response,
};
use pulse_core::backtest::{ColorStats, HorizonReport};

use super::{esc, money, num1, pages::respond, svg};
use crate::{
    error::ApiResult,
    params::Params,
    routes::{
        accuracy::{self, Accuracy},
        outcomes::OutcomeAccount,
        portfolio,
        renewals::{self, ColorRate, Renewals, RenewalsRequest, Window},
    },
    service::AppState,
};

// Transitional, until this page is a maud template too: the maud helpers as strings.
fn card(label: &str, value: &str, testid: &str, class: &str) -> String {
    super::pages::card(label, value, testid, class).into_string()
}
fn badge(color: &str) -> String {
    super::badge(color).into_string()
}
fn verdict_badge(v: Option<&str>) -> String {
    super::verdict_badge(v).into_string()
}
fn account_link(id: &str, name: &str) -> String {
    super::pages::account_link(id, name).into_string()
}
fn scope_form(action: &str, f: &portfolio::Filters, scope: &crate::routes::Scope, extra: &str) -> String {
    super::pages::scope_form(action, f, scope, maud::PreEscaped(extra.to_owned())).into_string()
}

/// `$1,234,567` (whole dollars, thousands separated).
pub fn dollars(v: f64) -> String {
    let neg = v < 0.0;
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{}${out}", if neg { "−" } else { "" })
}

/// A probability or rate as a percentage, `—` when unknown.
fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{:.1}%", v * 100.0))
}

fn date(d: Option<chrono::NaiveDate>) -> String {
    d.map_or_else(|| "—".to_owned(), |d| d.to_string())
}

fn versions_note(live: &str, stored: &[String]) -> String {
    if stored.is_empty() || (stored.len() == 1 && stored[0] == live) {
        return String::new();
    }
    format!(
        r#"<p class="note" data-testid="config-note">The stored daily results these numbers were measured on were computed with scoring config {}; this API runs config <code>{}</code>. Where they differ, the rates describe the earlier config.</p>"#,
        stored.iter().map(|v| format!("<code>{}</code>", esc(v))).collect::<Vec<_>>().join(", "),
        esc(live)
    )
}

pub async fn renewals(State(st): State<AppState>, RawQuery(q): RawQuery) -> Response {
    respond(renewals_body(&st, q.as_deref()).await.map(maud::PreEscaped), "Renewal forecast", "/renewals")
}

async fn renewals_body(st: &AppState, q: Option<&str>) -> ApiResult<String> {
    let p = Params::parse(q, renewals::KEYS)?;
    let req = RenewalsRequest::parse(&p)?;
    let version = st.scoring.version();
    let (r, filters) =
        futures::try_join!(renewals::query_renewals(&st.db, &version, &req), portfolio::query_filters(&st.db))?;
    let mut b = String::new();
    b.push_str(&format!(
        r#"<div class="title"><h1>Renewal forecast</h1><span class="asof">as of <b data-testid="as-of">{}</b></span></div>"#,
        date(r.as_of)
    ));
    b.push_str(&scope_form("/renewals", &filters, &req.scope, ""));
    b.push_str(
        r#"<div class="explain"><p>How much of the annual recurring revenue (ARR) coming up for renewal we expect to keep.
Each renewal's ARR is weighted by its <b>chance of loss</b>: how often renewals were lost (churned or contracted)
in the past year among accounts that had the same health color the same number of days before their renewal date.
<b>Expected retained ARR</b> = ARR × (1 − chance of loss), added up over the renewals due.</p></div>"#,
    );
    let Some(cal) = &r.calibration else {
        b.push_str(r#"<p class="empty" data-testid="empty">No health results yet: nothing to forecast. The forecast appears once the scorer has written its first day of results.</p>"#);
        return Ok(b);
    };
    b.push_str(&versions_note(&r.config_version, &r.stored_config_versions));
    if cal.outcomes == 0 {
        b.push_str(&format!(
            r#"<p class="empty" data-testid="no-outcomes">No renewal outcomes were recorded for renewals between {} and {}, so there is no history to learn loss rates from yet. Until there is, every renewal counts as a coin flip (a 50% chance of loss) and the expected retained ARR is half the ARR due. Outcomes arrive as CRM <code>renewal</code> events (renewed, churned, contracted, expanded).</p>"#,
            cal.from, cal.to
        ));
    }
    b.push_str(r#"<div class="two">"#);
    for w in &r.windows {
        window_panel(&mut b, w);
    }
    b.push_str("</div>");
    accounts_table(&mut b, &r);
    calibration_panel(&mut b, &r);
    backcast_panel(&mut b, &r);
    Ok(b)
}

fn window_panel(b: &mut String, w: &Window) {
    b.push_str(&format!(
        r#"<section class="panel" data-testid="window-{d}"><h2>Next {d} days <span class="muted">({} to {})</span></h2><section class="cards">"#,
        w.from,
        w.to,
        d = w.days
    ));
    b.push_str(&card("Renewals due", &w.renewals.to_string(), &format!("renewals-{}", w.days), ""));
    b.push_str(&card("ARR due", &dollars(w.arr_due), &format!("arr-due-{}", w.days), ""));
    b.push_str(&card(
        "Expected retained ARR",
        &dollars(w.expected_retained_arr),
        &format!("retained-{}", w.days),
        "green",
    ));
    b.push_str(&card("Expected loss", &dollars(w.expected_lost_arr), &format!("lost-{}", w.days), "red"));
    b.push_str("</section>");
    b.push_str(r#"<table><thead><tr><th>Color today</th><th class="num">Renewals</th><th class="num">ARR due</th><th class="num">Expected retained</th></tr></thead><tbody>"#);
    for c in &w.by_color {
        let name = crate::routes::outcomes::color_str(c.color);
        b.push_str(&format!(
            r#"<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
            badge(name),
            c.renewals,
            dollars(c.arr_due),
            dollars(c.expected_retained_arr)
        ));
    }
    b.push_str("</tbody></table>");
    if w.arr_unknown > 0 {
        b.push_str(&format!(
            r#"<p class="muted">{} renewal(s) due have no ARR on record and count as $0.</p>"#,
            w.arr_unknown
        ));
    }
    b.push_str("</section>");
}

fn accounts_table(b: &mut String, r: &Renewals) {
    let Some(w) = r.windows.iter().max_by_key(|w| w.days) else { return };
    let near = r.windows.iter().map(|w| w.days).min().unwrap_or(w.days);
    b.push_str(&format!(
        r#"<section class="panel"><h2>The renewals behind the number (next {} days)</h2><p class="muted">Soonest first. The chance of loss comes from the calibration table below, at the horizon closest to the days left.</p><table data-testid="renewal-accounts"><thead><tr><th>Account</th><th>Renewal</th><th class="num">Days left</th><th>Color today</th><th class="num">Score</th><th class="num">ARR</th><th class="num">Chance of loss</th><th class="num">Expected retained ARR</th><th>Segment</th><th>CSM</th></tr></thead><tbody>"#,
        w.days
    ));
    for a in &w.accounts {
        let f = &a.forecast;
        let within = if f.days_left <= i64::from(near) { format!(r#" data-window="{near}""#) } else { String::new() };
        b.push_str(&format!(
            r#"<tr data-account="{}"{within}><td>{}</td><td class="date">{}</td><td class="num">{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num" title="horizon {} days">{}</td><td class="num">{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&f.due.account_id),
            account_link(&f.due.account_id, &a.name),
            f.due.renewal_on,
            f.days_left,
            badge(crate::routes::outcomes::color_str(f.due.color)),
            num1(Some(f.due.score)),
            if a.arr_unknown { "—".to_owned() } else { dollars(f.due.arr) },
            f.horizon_days,
            percent(Some(f.p_lost)),
            dollars(f.expected_retained_arr),
            esc(&a.segment),
            esc(&a.csm),
        ));
    }
    if w.accounts.is_empty() {
        b.push_str(&format!(
            r#"<tr><td colspan="10" class="muted">no renewals due in the next {} days</td></tr>"#,
            w.days
        ));
    }
    b.push_str("</tbody></table></section>");
}

fn rate_cells(c: &ColorRate) -> String {
    format!(
        r#"<td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num"><b>{}</b></td>"#,
        c.outcomes,
        c.lost,
        percent(c.lost_rate),
        percent(Some(c.p_lost))
    )
}

fn calibration_panel(b: &mut String, r: &Renewals) {
    let Some(cal) = &r.calibration else { return };
    b.push_str(&format!(
        r#"<section class="panel"><h2>Where the chances of loss come from</h2><div class="explain"><p>The renewals decided between <b>{}</b> and <b>{}</b> ({} renewals, {} lost). For each, we looked up the account's health color 30, 60 and 90 days before its renewal date and counted how many of each color were lost.
The <b>chance of loss</b> used is smoothed as (lost + 1) ÷ (renewals + 2): with few renewals of a color it stays near 50%, and it approaches the observed rate as history accumulates, so one lucky or unlucky renewal cannot swing the forecast to 0% or 100%.
A renewal <i>d</i> days away uses the row of the horizon closest to <i>d</i> (ties go to the shorter).</p></div>"#,
        cal.from, cal.to, cal.outcomes, cal.lost
    ));
    b.push_str(r#"<table data-testid="calibration"><thead><tr><th>Days before renewal</th><th>Color then</th><th class="num">Renewals</th><th class="num">Lost</th><th class="num">Observed loss rate</th><th class="num">Chance of loss used</th></tr></thead><tbody>"#);
    for h in &cal.horizons {
        for (name, c) in [("green", &h.green), ("yellow", &h.yellow), ("red", &h.red)] {
            b.push_str(&format!(
                r#"<tr data-horizon="{}" data-color="{name}"><td>{}</td><td>{}</td>{}</tr>"#,
                h.horizon_days,
                h.horizon_days,
                badge(name),
                rate_cells(c)
            ));
        }
    }
    b.push_str("</tbody></table></section>");
}

fn backcast_panel(b: &mut String, r: &Renewals) {
    b.push_str(
        r#"<section class="panel"><h2>How this method did in past quarters</h2><div class="explain"><p>For each past quarter, the same method was run as of the day before the quarter began, knowing only what was known then: the renewals decided in the 365 days before that day, and each account's color that day. It is compared with what actually happened to the renewals decided in the quarter.
<b>Actually retained</b> is the ARR (before renewal) of the renewals that were not lost — the same all-or-nothing measure the forecast makes; <b>ARR after</b> is what those contracts are worth now, contractions and expansions included.</p></div>"#,
    );
    if r.backcast.iter().all(|q| q.renewals == 0) {
        b.push_str(r#"<p class="empty" data-testid="no-backcast">No renewals were decided in these quarters (with a health result the day before the quarter), so there is nothing to compare yet.</p>"#);
    }
    let labels: Vec<String> = r.backcast.iter().map(|q| q.quarter.clone()).collect();
    let series = [
        svg::Series { name: "ARR due", class: "s-due", values: r.backcast.iter().map(|q| Some(q.arr_due)).collect() },
        svg::Series {
            name: "forecast to keep",
            class: "s-forecast",
            values: r.backcast.iter().map(|q| Some(q.forecast_retained_arr)).collect(),
        },
        svg::Series {
            name: "actually kept",
            class: "s-actual",
            values: r.backcast.iter().map(|q| Some(q.actual_retained_arr)).collect(),
        },
    ];
    b.push_str(&svg::grouped_bars("Forecast against actual retained ARR per past quarter", &labels, &series, |v| {
        money(Some(v))
    }).into_string());
    b.push_str(r#"<ul class="legend"><li class="s-due">ARR due</li><li class="s-forecast">forecast to keep</li><li class="s-actual">actually kept</li></ul>"#);
    b.push_str(r#"<table data-testid="backcast"><thead><tr><th>Quarter</th><th>Forecast made</th><th class="num">Renewals</th><th class="num">ARR due</th><th class="num">Forecast to keep</th><th class="num">Actually kept</th><th class="num">Difference</th><th class="num">ARR after</th><th class="num">Lost</th><th class="num">Expected lost</th></tr></thead><tbody>"#);
    for q in &r.backcast {
        b.push_str(&format!(
            r#"<tr data-quarter="{}"><td>{}</td><td class="date">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{:.2}</td></tr>"#,
            esc(&q.quarter),
            esc(&q.quarter),
            q.as_of,
            q.renewals,
            dollars(q.arr_due),
            dollars(q.forecast_retained_arr),
            dollars(q.actual_retained_arr),
            dollars(q.actual_retained_arr - q.forecast_retained_arr),
            dollars(q.actual_arr_after),
            q.lost,
            q.expected_lost
        ));
    }
    b.push_str("</tbody></table></section>");
}

pub async fn accuracy(State(st): State<AppState>, RawQuery(q): RawQuery) -> Response {
    respond(accuracy_body(&st, q.as_deref()).await.map(maud::PreEscaped), "Scorecard accuracy", "/accuracy")
}

async fn accuracy_body(st: &AppState, q: Option<&str>) -> ApiResult<String> {
    let p = Params::parse(q, accuracy::KEYS)?;
    let scope = crate::routes::scope(&p)?;
    let version = st.scoring.version();
    let (a, filters) =
        futures::try_join!(accuracy::query_accuracy(&st.db, &version, &scope), portfolio::query_filters(&st.db))?;
    let mut b = String::new();
    b.push_str(&format!(
        r#"<div class="title"><h1>Scorecard accuracy</h1><span class="asof">as of <b data-testid="as-of">{}</b> · config <code data-testid="config-version">{}</code></span></div>"#,
        date(a.as_of),
        esc(&a.config_version)
    ));
    b.push_str(&scope_form("/accuracy", &filters, &scope, ""));
    b.push_str(
        r#"<div class="explain"><p>Did the health score see renewals coming? For every renewal decided in the past 365 days, we looked up the account's color and score <b>30, 60 and 90 days before</b> its renewal date, as the scorer recorded them that day, and compared them with what happened. A renewal is <b>lost</b> when the customer churned or contracted; renewed and expanded count as kept.</p></div>"#,
    );
    let (Some(from), Some(to)) = (a.from, a.to) else {
        b.push_str(r#"<p class="empty" data-testid="empty">No health results yet: nothing to measure.</p>"#);
        return Ok(b);
    };
    b.push_str(&versions_note(&a.config_version, &a.stored_config_versions));
    if a.outcomes == 0 {
        b.push_str(&format!(
            r#"<p class="empty" data-testid="no-outcomes">No renewal outcomes were recorded for renewals between {from} and {to}, so the score's accuracy cannot be measured yet. Outcomes arrive as CRM <code>renewal</code> events (renewed, churned, contracted, expanded).</p>"#
        ));
        return Ok(b);
    }
    b.push_str(r#"<section class="cards">"#);
    b.push_str(&card("Renewals decided", &a.outcomes.to_string(), "outcomes", ""));
    b.push_str(&card("Lost", &a.lost.to_string(), "lost", "red"));
    b.push_str(&card("Lost while green", &a.lost_while_green.len().to_string(), "missed", "risk"));
    b.push_str(&card("Red that renewed", &a.red_that_renewed.len().to_string(), "false-alarms", "yellow"));
    b.push_str("</section>");
    backtest_table(&mut b, &a.horizons, from, to);
    b.push_str(
        r#"<div class="explain panel"><h2>Reading the table</h2>
<p><b>Loss rate by color</b>: of the renewals whose account had that color that many days before, the share that was lost. A useful score has a low green rate and a high red rate.</p>
<p><b>Precision</b>: of the renewals flagged (red, or red or yellow), the share that was really lost. Low precision means many false alarms. <b>Recall</b>: of the renewals lost, the share that had been flagged. Low recall means losses the score missed.</p>
<p><b>AUC</b>: the chance that a lost renewal had a lower score than a kept one. <b>1.0</b> means the score ranked every lost account below every kept one; <b>0.5</b> means it did no better than a coin toss; below 0.5, worse than a coin toss.</p>
<p><b>Median warning lead</b>: for lost renewals that turned red at some point in the 180 days before the renewal date, how many days before it they first did (the median). More days means more time to act.</p></div>"#,
    );
    graduation_table(&mut b, &a);
    outcome_table(
        &mut b,
        "Lost while green: what the score missed",
        "Renewals lost although the account was green at one of the horizons or more, largest ARR first.",
        "lost-while-green",
        &a.lost_while_green,
        "no lost renewal was green at any horizon",
    );
    outcome_table(
        &mut b,
        "Red that renewed: false alarms",
        "Renewals kept (renewed or expanded) although the account was red at one of the horizons or more, largest ARR first.",
        "red-that-renewed",
        &a.red_that_renewed,
        "no kept renewal was red at any horizon",
    );
    Ok(b)
}

fn color_rate(c: &ColorStats) -> String {
    if c.outcomes == 0 {
        return "—".into();
    }
    format!("{} <span class=\"muted\">({}/{})</span>", percent(c.lost_rate), c.lost, c.outcomes)
}

fn backtest_table(b: &mut String, horizons: &[HorizonReport], from: chrono::NaiveDate, to: chrono::NaiveDate) {
    b.push_str(&format!(
        r#"<section class="panel"><h2>The backtest, renewals {from} to {to}</h2><table data-testid="backtest"><thead><tr><th>Days before renewal</th><th class="num">Renewals</th><th class="num">Lost</th><th class="num">Loss rate green</th><th class="num">yellow</th><th class="num">red</th><th class="num">Red: precision</th><th class="num">recall</th><th class="num">Red or yellow: precision</th><th class="num">recall</th><th class="num">AUC</th><th class="num">Median warning lead</th></tr></thead><tbody>"#
    ));
    for h in horizons {
        b.push_str(&format!(
            r#"<tr data-horizon="{}"><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num" data-testid="auc-{}">{}</td><td class="num">{}</td></tr>"#,
            h.horizon_days,
            h.horizon_days,
            h.outcomes,
            h.lost,
            color_rate(&h.by_color.green),
            color_rate(&h.by_color.yellow),
            color_rate(&h.by_color.red),
            percent(h.red.precision),
            percent(h.red.recall),
            percent(h.at_risk.precision),
            percent(h.at_risk.recall),
            h.horizon_days,
            h.auc.map_or_else(|| "—".to_owned(), |v| format!("{v:.2}")),
            h.median_lead_days.map_or_else(|| "—".to_owned(), |v| format!("{v:.0} days")),
        ));
    }
    b.push_str("</tbody></table><p class=\"muted\">Renewals without a health result on the day looked up (accounts not yet scored then) are left out of that row.</p></section>");
}

fn graduation_table(b: &mut String, a: &Accuracy) {
    let by = &a.graduation.by_verdict;
    b.push_str(
        r#"<section class="panel"><h2>Does "ready to graduate" predict retention?</h2><p class="explain">Accounts that left onboarding, by the readiness verdict on their last onboarding day, and what happened at their renewals decided since (within the year above).</p><table data-testid="graduation"><thead><tr><th>Verdict when onboarding ended</th><th class="num">Renewals</th><th class="num">Lost</th><th class="num">Retained</th></tr></thead><tbody>"#,
    );
    for (name, s) in [("ready", &by.ready), ("close", &by.close), ("not_ready", &by.not_ready)] {
        b.push_str(&format!(
            r#"<tr data-verdict="{name}"><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
            verdict_badge(Some(name)),
            s.outcomes,
            s.lost,
            percent(s.lost_rate.map(|r| 1.0 - r)),
        ));
    }
    b.push_str("</tbody></table>");
    if by.ready.outcomes + by.close.outcomes + by.not_ready.outcomes == 0 {
        b.push_str(r#"<p class="muted" data-testid="no-graduations">No account that left onboarding has had a renewal decided since, in this window: nothing to compare yet.</p>"#);
    }
    b.push_str("</section>");
}

fn outcome_table(b: &mut String, title: &str, help: &str, testid: &str, items: &[OutcomeAccount], none: &str) {
    b.push_str(&format!(
        r#"<section class="panel"><h2>{}</h2><p class="muted">{}</p><table data-testid="{testid}"><thead><tr><th>Account</th><th>Renewal</th><th>Outcome</th><th class="num">ARR before</th><th class="num">ARR after</th><th>90 days before</th><th>60 days before</th><th>30 days before</th><th>First red</th><th>Segment</th><th>CSM</th></tr></thead><tbody>"#,
        esc(title),
        esc(help)
    ));
    for o in items {
        let at = |h: u32| {
            o.at.iter().find(|x| x.horizon_days == h).map_or_else(
                || "—".to_owned(),
                |x| match (x.color, x.score) {
                    (Some(c), Some(s)) => format!("{} {}", badge(c), num1(Some(s))),
                    _ => r#"<span class="muted">no result</span>"#.to_owned(),
                },
            )
        };
        b.push_str(&format!(
            r#"<tr data-account="{}"><td>{}</td><td class="date">{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td><td>{}</td><td>{}</td><td class="date">{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&o.account_id),
            account_link(&o.account_id, &o.name),
            o.renewal_on,
            esc(o.outcome),
            dollars(o.arr_before),
            dollars(o.arr_after),
            at(90),
            at(60),
            at(30),
            date(o.first_red),
            esc(&o.segment),
            esc(&o.csm),
        ));
    }
    if items.is_empty() {
        b.push_str(&format!(r#"<tr><td colspan="11" class="muted">{}</td></tr>"#, esc(none)));
    }
    b.push_str("</tbody></table></section>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_group_thousands() {
        assert_eq!(dollars(0.0), "$0");
        assert_eq!(dollars(999.4), "$999");
        assert_eq!(dollars(1000.0), "$1,000");
        assert_eq!(dollars(1_234_567.8), "$1,234,568");
        assert_eq!(dollars(-2500.0), "−$2,500");
        assert_eq!(percent(Some(0.6667)), "66.7%");
    }
}
