//! The renewal forecast and scorecard accuracy pages (SPEC §8), over the same
//! queries as `/api/v1/renewals` and `/api/v1/accuracy`, written for a reader who has
//! not seen the scorecard: every number says what it is and where it comes from.

use axum::{
    extract::{RawQuery, State},
    response::Response,
};
use maud::{html, Markup};
use pulse_core::{
    backtest::{ColorStats, HorizonReport},
    Color,
};

use super::{
    badge, money, num1,
    pages::{account_link, card, or_dash, respond, scope_form},
    svg, verdict_badge,
};
use crate::{
    error::ApiResult,
    params::Params,
    routes::{
        accuracy::{self, Accuracy},
        outcomes::OutcomeAccount,
        portfolio,
        renewals::{self, ColorRate, Renewals, RenewalsRequest, Window},
    },
    state::AppState,
};

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

fn versions_note(live: &str, stored: &[String]) -> Markup {
    if stored.is_empty() || (stored.len() == 1 && stored[0] == live) {
        return html! {};
    }
    html! {
        p class="note" data-testid="config-note" {
            "The stored daily results these numbers were measured on were computed with scoring config "
            @for (i, v) in stored.iter().enumerate() {
                @if i > 0 { ", " }
                code { (v) }
            }
            "; this API runs config " code { (live) } ". Where they differ, the rates describe the earlier config."
        }
    }
}

pub async fn renewals(State(st): State<AppState>, RawQuery(q): RawQuery) -> Response {
    respond(&st, renewals_body(&st, q.as_deref()).await, "Renewal forecast", "/renewals").await
}

async fn renewals_body(st: &AppState, q: Option<&str>) -> ApiResult<Markup> {
    let p = Params::parse(q, renewals::KEYS)?;
    let req = RenewalsRequest::parse(&p)?;
    let version = st.scoring.version();
    let (r, filters) =
        futures::try_join!(renewals::query_renewals(&st.db, &version, &req), portfolio::query_filters(&st.db))?;
    let head = html! {
        div class="title" {
            h1 { "Renewal forecast" }
            span class="asof" { "as of " b data-testid="as-of" { (or_dash(r.as_of)) } }
        }
        (scope_form("/renewals", &filters, &req.scope, super::pages::former_box(&req.scope)))
        div class="explain" {
            p {
                "How much of the annual recurring revenue (ARR) coming up for renewal we expect to keep.\n\
                 Each renewal's ARR is weighted by its " b { "chance of loss" } ": how often renewals were lost (churned or contracted)\n\
                 in the past year among accounts that had the same health color the same number of days before their renewal date.\n"
                b { "Expected retained ARR" } " = ARR × (1 − chance of loss), added up over the renewals due."
            }
        }
    };
    let Some(cal) = &r.calibration else {
        return Ok(html! {
            (head)
            p class="empty" data-testid="empty" {
                "No health results yet: nothing to forecast. The forecast appears once the scorer has written its first day of results."
            }
        });
    };
    Ok(html! {
        (head)
        (versions_note(&r.config_version, &r.stored_config_versions))
        @if cal.outcomes == 0 {
            p class="empty" data-testid="no-outcomes" {
                "No renewal outcomes were recorded for renewals between " (cal.from) " and " (cal.to)
                ", so there is no history to learn loss rates from yet. Until there is, every renewal counts as a coin flip (a 50% chance of loss) and the expected retained ARR is half the ARR due. Outcomes arrive as CRM "
                code { "renewal" } " events (renewed, churned, contracted, expanded)."
            }
        }
        div class="two" {
            @for w in &r.windows { (window_panel(w)) }
        }
        (accounts_table(&r))
        (calibration_panel(&r))
        (backcast_panel(&r))
    })
}

fn window_panel(w: &Window) -> Markup {
    let d = w.days;
    html! {
        section class="panel" data-testid={ "window-" (d) } {
            h2 { "Next " (d) " days " span class="muted" { "(" (w.from) " to " (w.to) ")" } }
            section class="cards" {
                (card("Renewals due", &w.renewals.to_string(), &format!("renewals-{d}"), ""))
                (card("ARR due", &dollars(w.arr_due), &format!("arr-due-{d}"), ""))
                (card("Expected retained ARR", &dollars(w.expected_retained_arr), &format!("retained-{d}"), "green"))
                (card("Expected loss", &dollars(w.expected_lost_arr), &format!("lost-{d}"), "red"))
            }
            table {
                thead {
                    tr {
                        th { "Color today" } th class="num" { "Renewals" } th class="num" { "ARR due" }
                        th class="num" { "Expected retained" }
                    }
                }
                tbody {
                    @for c in &w.by_color {
                        tr {
                            td { (badge(c.color)) }
                            td class="num" { (c.renewals) }
                            td class="num" { (dollars(c.arr_due)) }
                            td class="num" { (dollars(c.expected_retained_arr)) }
                        }
                    }
                }
            }
            @if w.arr_unknown > 0 {
                p class="muted" { (w.arr_unknown) " renewal(s) due have no ARR on record and count as $0." }
            }
        }
    }
}

fn accounts_table(r: &Renewals) -> Markup {
    let Some(w) = r.windows.iter().max_by_key(|w| w.days) else { return html! {} };
    let near = r.windows.iter().map(|w| w.days).min().unwrap_or(w.days);
    html! {
        section class="panel" {
            h2 { "The renewals behind the number (next " (w.days) " days)" }
            p class="muted" {
                "Soonest first. The chance of loss comes from the calibration table below, at the horizon closest to the days left."
            }
            table data-testid="renewal-accounts" {
                thead {
                    tr {
                        th { "Account" } th { "Renewal" } th class="num" { "Days left" } th { "Color today" }
                        th class="num" { "Score" } th class="num" { "ARR" } th class="num" { "Chance of loss" }
                        th class="num" { "Expected retained ARR" } th { "Segment" } th { "CSM" }
                    }
                }
                tbody {
                    @for a in &w.accounts {
                        @let f = &a.forecast;
                        tr data-account=(f.due.account_id) data-window=[(f.days_left <= i64::from(near)).then_some(near)] {
                            td { (account_link(&f.due.account_id, &a.name)) }
                            td class="date" { (f.due.renewal_on) }
                            td class="num" { (f.days_left) }
                            td { (badge(f.due.color)) }
                            td class="num" { (num1(Some(f.due.score))) }
                            td class="num" { (if a.arr_unknown { "—".to_owned() } else { dollars(f.due.arr) }) }
                            td class="num" title={ "horizon " (f.horizon_days) " days" } { (percent(Some(f.p_lost))) }
                            td class="num" { (dollars(f.expected_retained_arr)) }
                            td { (a.segment) }
                            td { (a.csm) }
                        }
                    }
                    @if w.accounts.is_empty() {
                        tr { td colspan="10" class="muted" { "no renewals due in the next " (w.days) " days" } }
                    }
                }
            }
        }
    }
}

fn rate_cells(c: &ColorRate) -> Markup {
    html! {
        td class="num" { (c.outcomes) }
        td class="num" { (c.lost) }
        td class="num" { (percent(c.lost_rate)) }
        td class="num" { b { (percent(Some(c.p_lost))) } }
    }
}

fn calibration_panel(r: &Renewals) -> Markup {
    let Some(cal) = &r.calibration else { return html! {} };
    html! {
        section class="panel" {
            h2 { "Where the chances of loss come from" }
            div class="explain" {
                p {
                    "The renewals decided between " b { (cal.from) } " and " b { (cal.to) } " (" (cal.outcomes) " renewals, " (cal.lost)
                    " lost). For each, we looked up the account's health color 30, 60 and 90 days before its renewal date and counted how many of each color were lost.\n\
                     The " b { "chance of loss" } " used is smoothed as (lost + 1) ÷ (renewals + 2): with few renewals of a color it stays near 50%, and it approaches the observed rate as history accumulates, so one lucky or unlucky renewal cannot swing the forecast to 0% or 100%.\n\
                     A renewal " i { "d" } " days away uses the row of the horizon closest to " i { "d" } " (ties go to the shorter)."
                }
            }
            table data-testid="calibration" {
                thead {
                    tr {
                        th { "Days before renewal" } th { "Color then" } th class="num" { "Renewals" } th class="num" { "Lost" }
                        th class="num" { "Observed loss rate" } th class="num" { "Chance of loss used" }
                    }
                }
                tbody {
                    @for h in &cal.horizons {
                        @for (color, c) in [(Color::Green, &h.green), (Color::Yellow, &h.yellow), (Color::Red, &h.red)] {
                            tr data-horizon=(h.horizon_days) data-color=(color.as_str()) {
                                td { (h.horizon_days) }
                                td { (badge(color)) }
                                (rate_cells(c))
                            }
                        }
                    }
                }
            }
        }
    }
}

fn backcast_panel(r: &Renewals) -> Markup {
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
    html! {
        section class="panel" {
            h2 { "How this method did in past quarters" }
            div class="explain" {
                p {
                    "For each past quarter, the same method was run as of the day before the quarter began, knowing only what was known then: the renewals decided in the 365 days before that day, and each account's color that day. It is compared with what actually happened to the renewals decided in the quarter.\n"
                    b { "Actually retained" } " is the ARR (before renewal) of the renewals that were not lost — the same all-or-nothing measure the forecast makes; "
                    b { "ARR after" } " is what those contracts are worth now, contractions and expansions included."
                }
            }
            @if r.backcast.iter().all(|q| q.renewals == 0) {
                p class="empty" data-testid="no-backcast" {
                    "No renewals were decided in these quarters (with a health result the day before the quarter), so there is nothing to compare yet."
                }
            }
            (svg::grouped_bars("Forecast against actual retained ARR per past quarter", &labels, &series, |v| money(Some(v))))
            ul class="legend" {
                li class="s-due" { "ARR due" }
                li class="s-forecast" { "forecast to keep" }
                li class="s-actual" { "actually kept" }
            }
            table data-testid="backcast" {
                thead {
                    tr {
                        th { "Quarter" } th { "Forecast made" } th class="num" { "Renewals" } th class="num" { "ARR due" }
                        th class="num" { "Forecast to keep" } th class="num" { "Actually kept" } th class="num" { "Difference" }
                        th class="num" { "ARR after" } th class="num" { "Lost" } th class="num" { "Expected lost" }
                    }
                }
                tbody {
                    @for q in &r.backcast {
                        tr data-quarter=(q.quarter) {
                            td { (q.quarter) }
                            td class="date" { (q.as_of) }
                            td class="num" { (q.renewals) }
                            td class="num" { (dollars(q.arr_due)) }
                            td class="num" { (dollars(q.forecast_retained_arr)) }
                            td class="num" { (dollars(q.actual_retained_arr)) }
                            td class="num" { (dollars(q.actual_retained_arr - q.forecast_retained_arr)) }
                            td class="num" { (dollars(q.actual_arr_after)) }
                            td class="num" { (q.lost) }
                            td class="num" { (format!("{:.2}", q.expected_lost)) }
                        }
                    }
                }
            }
        }
    }
}

pub async fn accuracy(State(st): State<AppState>, RawQuery(q): RawQuery) -> Response {
    respond(&st, accuracy_body(&st, q.as_deref()).await, "Scorecard accuracy", "/accuracy").await
}

async fn accuracy_body(st: &AppState, q: Option<&str>) -> ApiResult<Markup> {
    let p = Params::parse(q, accuracy::KEYS)?;
    let scope = p.decode::<crate::routes::SegmentQuery>()?.scope();
    let version = st.scoring.version();
    let (a, filters, checked) = futures::try_join!(
        accuracy::query_accuracy(&st.db, &version, &scope),
        portfolio::query_filters(&st.db),
        crate::routes::reconcile::query_last_run(&st.db)
    )?;
    let head = html! {
        div class="title" {
            h1 { "Scorecard accuracy" }
            span class="asof" {
                "as of " b data-testid="as-of" { (or_dash(a.as_of)) }
                " · config " code data-testid="config-version" { (a.config_version) }
            }
        }
        (scope_form("/accuracy", &filters, &scope, html! {}))
        (super::reconcile::line(&checked))
        div class="explain" {
            p {
                "Did the health score see renewals coming? For every renewal decided in the past 365 days, we looked up the account's color and score "
                b { "30, 60 and 90 days before" }
                " its renewal date, as the scorer recorded them that day, and compared them with what happened. A renewal is "
                b { "lost" } " when the customer churned or contracted; renewed and expanded count as kept."
            }
        }
    };
    let (Some(from), Some(to)) = (a.from, a.to) else {
        return Ok(html! {
            (head)
            p class="empty" data-testid="empty" { "No health results yet: nothing to measure." }
        });
    };
    let note = versions_note(&a.config_version, &a.stored_config_versions);
    if a.outcomes == 0 {
        return Ok(html! {
            (head)
            (note)
            p class="empty" data-testid="no-outcomes" {
                "No renewal outcomes were recorded for renewals between " (from) " and " (to)
                ", so the score's accuracy cannot be measured yet. Outcomes arrive as CRM " code { "renewal" }
                " events (renewed, churned, contracted, expanded)."
            }
        });
    }
    Ok(html! {
        (head)
        (note)
        section class="cards" {
            (card("Renewals decided", &a.outcomes.to_string(), "outcomes", ""))
            (card("Lost", &a.lost.to_string(), "lost", "red"))
            (card("Lost while green", &a.lost_while_green.len().to_string(), "missed", "risk"))
            (card("Red that renewed", &a.red_that_renewed.len().to_string(), "false-alarms", "yellow"))
        }
        (backtest_table(&a.horizons, from, to))
        div class="explain panel" {
            h2 { "Reading the table" }
            "\n"
            p {
                b { "Loss rate by color" }
                ": of the renewals whose account had that color that many days before, the share that was lost. A useful score has a low green rate and a high red rate."
            }
            "\n"
            p {
                b { "Precision" }
                ": of the renewals flagged (red, or red or yellow), the share that was really lost. Low precision means many false alarms. "
                b { "Recall" } ": of the renewals lost, the share that had been flagged. Low recall means losses the score missed."
            }
            "\n"
            p {
                b { "AUC" } ": the chance that a lost renewal had a lower score than a kept one. " b { "1.0" }
                " means the score ranked every lost account below every kept one; " b { "0.5" }
                " means it did no better than a coin toss; below 0.5, worse than a coin toss."
            }
            "\n"
            p {
                b { "Median warning lead" }
                ": for lost renewals that turned red at some point in the 180 days before the renewal date, how many days before it they first did (the median). More days means more time to act."
            }
        }
        (graduation_table(&a))
        (outcome_table(
            "Lost while green: what the score missed",
            "Renewals lost although the account was green at one of the horizons or more, largest ARR first.",
            "lost-while-green",
            &a.lost_while_green,
            "no lost renewal was green at any horizon",
        ))
        (outcome_table(
            "Red that renewed: false alarms",
            "Renewals kept (renewed or expanded) although the account was red at one of the horizons or more, largest ARR first.",
            "red-that-renewed",
            &a.red_that_renewed,
            "no kept renewal was red at any horizon",
        ))
    })
}

fn color_rate(c: &ColorStats) -> Markup {
    if c.outcomes == 0 {
        return html! { "—" };
    }
    html! { (percent(c.lost_rate)) " " span class="muted" { "(" (c.lost) "/" (c.outcomes) ")" } }
}

fn backtest_table(horizons: &[HorizonReport], from: chrono::NaiveDate, to: chrono::NaiveDate) -> Markup {
    html! {
        section class="panel" {
            h2 { "The backtest, renewals " (from) " to " (to) }
            table data-testid="backtest" {
                thead {
                    tr {
                        th { "Days before renewal" } th class="num" { "Renewals" } th class="num" { "Lost" }
                        th class="num" { "Loss rate green" } th class="num" { "yellow" } th class="num" { "red" }
                        th class="num" { "Red: precision" } th class="num" { "recall" }
                        th class="num" { "Red or yellow: precision" } th class="num" { "recall" }
                        th class="num" { "AUC" } th class="num" { "Median warning lead" }
                    }
                }
                tbody {
                    @for h in horizons {
                        tr data-horizon=(h.horizon_days) {
                            td { (h.horizon_days) }
                            td class="num" { (h.outcomes) }
                            td class="num" { (h.lost) }
                            td class="num" { (color_rate(&h.by_color.green)) }
                            td class="num" { (color_rate(&h.by_color.yellow)) }
                            td class="num" { (color_rate(&h.by_color.red)) }
                            td class="num" { (percent(h.red.precision)) }
                            td class="num" { (percent(h.red.recall)) }
                            td class="num" { (percent(h.at_risk.precision)) }
                            td class="num" { (percent(h.at_risk.recall)) }
                            td class="num" data-testid={ "auc-" (h.horizon_days) } {
                                (h.auc.map_or_else(|| "—".to_owned(), |v| format!("{v:.2}")))
                            }
                            td class="num" { (h.median_lead_days.map_or_else(|| "—".to_owned(), |v| format!("{v:.0} days"))) }
                        }
                    }
                }
            }
            p class="muted" {
                "Renewals without a health result on the day looked up (accounts not yet scored then) are left out of that row."
            }
        }
    }
}

fn graduation_table(a: &Accuracy) -> Markup {
    let by = &a.graduation.by_verdict;
    html! {
        section class="panel" {
            h2 { "Does \"ready to graduate\" predict retention?" }
            p class="explain" {
                "Accounts that left onboarding, by the readiness verdict on their last onboarding day, and what happened at their renewals decided since (within the year above)."
            }
            table data-testid="graduation" {
                thead {
                    tr {
                        th { "Verdict when onboarding ended" } th class="num" { "Renewals" } th class="num" { "Lost" }
                        th class="num" { "Retained" }
                    }
                }
                tbody {
                    @for (name, s) in [("ready", &by.ready), ("close", &by.close), ("not_ready", &by.not_ready)] {
                        tr data-verdict=(name) {
                            td { (verdict_badge(Some(name))) }
                            td class="num" { (s.outcomes) }
                            td class="num" { (s.lost) }
                            td class="num" { (percent(s.lost_rate.map(|r| 1.0 - r))) }
                        }
                    }
                }
            }
            @if by.ready.outcomes + by.close.outcomes + by.not_ready.outcomes == 0 {
                p class="muted" data-testid="no-graduations" {
                    "No account that left onboarding has had a renewal decided since, in this window: nothing to compare yet."
                }
            }
        }
    }
}

fn outcome_table(title: &str, help: &str, testid: &str, items: &[OutcomeAccount], none: &str) -> Markup {
    html! {
        section class="panel" {
            h2 { (title) }
            p class="muted" { (help) }
            table data-testid=(testid) {
                thead {
                    tr {
                        th { "Account" } th { "Renewal" } th { "Outcome" } th class="num" { "ARR before" }
                        th class="num" { "ARR after" } th { "90 days before" } th { "60 days before" } th { "30 days before" }
                        th { "First red" } th { "Segment" } th { "CSM" }
                    }
                }
                tbody {
                    @for o in items {
                        tr data-account=(o.account_id) {
                            td { (account_link(&o.account_id, &o.name)) }
                            td class="date" { (o.renewal_on) }
                            td { (o.outcome) }
                            td class="num" { (dollars(o.arr_before)) }
                            td class="num" { (dollars(o.arr_after)) }
                            @for h in [90, 60, 30] {
                                td {
                                    @match o.at.iter().find(|x| x.horizon_days == h) {
                                        None => { "—" }
                                        Some(x) => {
                                            @if let (Some(c), Some(s)) = (x.color, x.score) {
                                                (badge(c)) " " (num1(Some(s)))
                                            } @else {
                                                span class="muted" { "no result" }
                                            }
                                        }
                                    }
                                }
                            }
                            td class="date" { (or_dash(o.first_red)) }
                            td { (o.segment) }
                            td { (o.csm) }
                        }
                    }
                    @if items.is_empty() {
                        tr { td colspan="11" class="muted" { (none) } }
                    }
                }
            }
        }
    }
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
