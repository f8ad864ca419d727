//! One account's story: current health and why, history charts with the thresholds
//! that matter, the readiness scorecard with sources and blockers, and its alerts.

use axum::{
    extract::{Path, RawQuery, State},
    response::Response,
};
use maud::{html, Markup};
use pulse_core::readiness::{DimensionResult, Source};

use super::{
    badge, former_badge, money, num1,
    pages::{ack_cell, alert_state, or_dash, respond},
    pct, quality_badge, signed, svg, verdict_badge,
};
use crate::{
    error::ApiResult,
    params::Params,
    routes::{
        account_id,
        accounts::{self, AccountDetail, History, HistoryPoint},
        alerts,
    },
    state::AppState,
};

pub async fn account(State(st): State<AppState>, Path(id): Path<String>, RawQuery(q): RawQuery) -> Response {
    let r = body(&st, &id, q.as_deref()).await;
    let title = match &r {
        Ok((name, _)) => name.clone(),
        Err(_) => "Account".to_owned(),
    };
    respond(&st, r.map(|(_, b)| b), &title, "/accounts").await
}

fn source_label(d: &DimensionResult) -> &'static str {
    match d.source {
        Source::Assessment => "assessment",
        Source::Override => "assessment (overrides telemetry)",
        Source::Computed => "computed from usage",
        Source::Evidence => "evidence",
        Source::Unassessed => "unassessed",
    }
}

fn charts(h: &History) -> Markup {
    let labels: Vec<String> = h.points.iter().map(|p| p.as_of.to_string()).collect();
    let t = &h.thresholds;
    // The days the scorecard changed: a jump there may be the new rules, not the customer.
    let changes: Vec<(usize, &HistoryPoint, &str)> = h
        .points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.scorecard_changed_from.as_deref().map(|old| (i, p, old)))
        .collect();
    let markers: Vec<svg::Marker> = changes
        .iter()
        .map(|(i, p, old)| svg::Marker {
            index: *i,
            label: "new scorecard".into(),
            title: format!("{}: scorecard changed: {old} → {}", p.as_of, p.config_version),
        })
        .collect();
    let score = svg::line_chart(
        "Health score by day",
        &labels,
        &[svg::Series { name: "score", class: "s-score", values: h.points.iter().map(|p| Some(p.score)).collect() }],
        &[
            svg::Threshold { value: t.green, label: format!("green ≥ {}", t.green), class: "t-green" },
            svg::Threshold { value: t.yellow, label: format!("yellow ≥ {}", t.yellow), class: "t-yellow" },
        ],
        &markers,
        100.0,
    );
    let shares = [
        ("DAU %", "s-dau", h.points.iter().map(|p| p.dau_pct).collect::<Vec<_>>()),
        ("WAU %", "s-wau", h.points.iter().map(|p| p.wau_pct).collect()),
        ("MAU %", "s-mau", h.points.iter().map(|p| p.mau_pct).collect()),
    ];
    let max = shares.iter().flat_map(|(_, _, v)| v.iter().flatten()).fold(100.0_f64, |a, b| a.max(*b));
    let y_max = (max / 10.0).ceil() * 10.0;
    let mut thresholds: Vec<svg::Threshold> = t
        .usage
        .iter()
        .map(|(share, v)| svg::Threshold {
            value: *v,
            label: format!("{} target {v}", share.replace("_pct", "").to_uppercase()),
            class: "t-target",
        })
        .collect();
    thresholds.push(svg::Threshold {
        value: t.low_engagement_pct,
        label: format!("low engagement {}", t.low_engagement_pct),
        class: "t-low",
    });
    let series: Vec<svg::Series<'_>> =
        shares.iter().map(|(name, class, v)| svg::Series { name, class, values: v.clone() }).collect();
    let usage = svg::line_chart("Active users as a share of seats", &labels, &series, &thresholds, &[], y_max);
    html! {
        div class="two" {
            section class="panel" {
                h2 { "Health score" }
                (score)
                ul class="legend" {
                    li class="s-score" { "score" }
                    @if !changes.is_empty() { li class="marker" { "scorecard changed" } }
                }
                @if !changes.is_empty() {
                    ul class="scorecard-changes" data-testid="scorecard-changes" {
                        @for (_, p, old) in &changes {
                            li data-day=(p.as_of) {
                                span class="date" { (p.as_of) } ": scorecard changed: "
                                code { (old) } " → " code { (p.config_version) }
                            }
                        }
                    }
                    p class="muted" { "Score changes on these days may come from the new scoring rules, not from the customer." }
                }
            }
            "\n"
            section class="panel" {
                h2 { "Active-user shares (" (format!("{:?}", h.usage_profile).to_lowercase()) " profile)" }
                (usage)
                ul class="legend" {
                    li class="s-dau" { "DAU % (7-day mean)" }
                    li class="s-wau" { "WAU %" }
                    li class="s-mau" { "MAU %" }
                }
            }
        }
    }
}

/// "as of" a measure's or dimension's newest input (SPEC v3 §10), `—` without one.
fn as_of_cell(d: Option<chrono::NaiveDate>) -> String {
    d.map_or_else(|| "no input".to_owned(), |d| format!("as of {d}"))
}

/// A class for a row that falls short (`low`), none otherwise.
fn low(is_low: bool) -> Option<&'static str> {
    is_low.then_some("low")
}

async fn body(st: &AppState, raw_id: &str, q: Option<&str>) -> ApiResult<(String, Markup)> {
    let p = Params::parse(q, &["days"])?;
    let id = account_id(raw_id)?;
    let history_req = alerts::AlertsRequest::history_for(&id);
    let (d, hist, history) = futures::try_join!(
        accounts::query_detail(&st.db, &id),
        accounts::query_history(st, &id, &p),
        alerts::query_alerts(&st.db, &history_req),
    )?;
    let AccountDetail { attributes: a, health: h, readiness, past_scores, open_alerts, former_since, .. } = &d;
    let name = if a.name.is_empty() { id.clone() } else { a.name.clone() };
    let mut facts: Vec<(String, String, String)> = vec![("As of".into(), d.as_of.to_string(), "as-of".into())];
    for ps in past_scores {
        facts.push((
            format!("Change {}d", ps.days_ago),
            signed(Some(h.score - ps.score)),
            format!("change-{}", ps.days_ago),
        ));
    }
    for (k, v, testid) in [
        ("Yesterday", h.previous_color.map_or("—", |c| c.as_str()).to_owned(), "previous-color"),
        ("Segment", a.segment.clone(), "segment"),
        ("CSM", a.csm.clone(), "csm"),
        ("Stage", a.lifecycle_stage.clone(), "stage"),
        ("ARR", money(a.arr), "arr"),
        ("Renewal", or_dash(a.renewal_on), "renewal"),
    ] {
        facts.push((k.into(), v, testid.into()));
    }
    let m = &h.metrics;
    let usage_rows = [
        ("Seats", m.seats.map_or_else(|| "unknown".to_owned(), |s| s.to_string())),
        ("DAU (today)", m.dau.to_string()),
        ("WAU", m.wau.to_string()),
        ("MAU", m.mau.to_string()),
        ("DAU % (7-day mean)", pct(m.dau_pct)),
        ("WAU %", pct(m.wau_pct)),
        ("MAU %", pct(m.mau_pct)),
        (
            "WAU change, week over week",
            m.wau_change_pct.map_or_else(|| "—".to_owned(), |v| format!("{}%", signed(Some(v)))),
        ),
    ];
    let all = super::link("/alerts", &[], &[("account_id", Some(&id)), ("state", Some("all"))]);
    let more = if history.total > history.items.len() as u64 {
        format!("All {} alerts of this account", history.total)
    } else {
        "All alerts of this account".to_owned()
    };
    let page = html! {
        div class="title" {
            h1 data-testid="name" { (name) }
            span class="muted" { (id) } " "
            (badge(h.color)) " "
            span class="big" data-testid="score" { (num1(Some(h.score))) } " "
            (former_badge(h.former)) " "
            span data-testid="data-status" data-status=(h.data_status.as_str()) {
                (quality_badge(h.data_status.as_str()))
            } " "
            span class="muted" data-testid="coverage" title="share of the configured weight resting on current data" {
                "coverage " (format!("{:.0}%", h.coverage * 100.0))
            }
        }
        @if h.former {
            p class="former-note" data-testid="former-since" {
                "Former customer"
                @if let Some(since) = former_since { " since " (since) }
                ". Its history and results are kept; it opens no alerts and is left out of the portfolio, the lists, the forecast and the graduation page."
            }
        }
        dl class="facts" {
            @for (k, v, testid) in &facts {
                div { dt { (k) } dd data-testid=(testid) { (v) } }
            }
        }
        (charts(&hist))
        // Why: measures, reasons, metrics, flags.
        div class="two" {
            section class="panel" {
                h2 { "Why this score" }
                table data-testid="measures" {
                    thead { tr { th { "Measure" } th { "Value" } th { "Score" } th { "Weight" } th { "Data" } } }
                    tbody {
                        @for ms in &h.measures {
                            tr class=[low(ms.score < 70.0)] data-measure=(ms.name.as_str()) data-state=(ms.state.as_str()) {
                                td { (ms.name.as_str()) }
                                td class="num" { (num1(Some(ms.value))) }
                                td class="num" { (num1(Some(ms.score))) }
                                td class="num" { (num1(Some(ms.weight))) "%" }
                                td class="date" { (as_of_cell(ms.as_of)) " " (quality_badge(ms.state.as_str())) }
                            }
                        }
                        @for mm in &h.missing_measures {
                            tr data-measure=(mm.as_str()) data-state="missing" {
                                td { (mm.as_str()) }
                                td class="num" { "—" } td class="num" { "—" } td class="num" { "—" }
                                td { (quality_badge("missing")) }
                            }
                        }
                    }
                }
                @if !h.missing_measures.is_empty() {
                    p class="muted" {
                        "Left out for lack of data: "
                        (h.missing_measures.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", "))
                    }
                }
                ul class="reasons" data-testid="reasons" {
                    @for r in &h.reasons { li { (r) } }
                }
                @if !h.red_flags.is_empty() {
                    p data-testid="red-flags" {
                        @for (i, f) in h.red_flags.iter().enumerate() {
                            @if i > 0 { " " }
                            span class="flag red" { (f.as_str().replace('_', " ")) }
                        }
                    }
                }
            }
            section class="panel" {
                h2 { "Usage metrics" }
                table data-testid="metrics" {
                    tbody {
                        @for (k, v) in &usage_rows {
                            tr { th { (k) } td class="num" { (v) } }
                        }
                    }
                }
            }
        }
        // Readiness.
        @if let Some(r) = readiness {
            section class="panel" {
                h2 { "Graduation readiness" }
                p class="readiness" {
                    "Total " b data-testid="readiness-total" { (format!("{:.2}", r.total)) } " / 10 "
                    (verdict_badge(Some(r.verdict.as_str()))) " "
                    @if let Some(d) = r.days_in_stage { " · " (d) " days in onboarding" }
                    @if let Some(t) = r.target_graduation_on { " · target " (t) }
                    @if r.recovery_plan_needed {
                        " " span class="flag red" { "recovery plan needed" }
                    } @else if r.overdue {
                        " " span class="flag yellow" { "overdue" }
                    }
                }
                table data-testid="dimensions" {
                    thead {
                        tr { th { "Dimension" } th { "Score" } th { "Weight" } th { "Source" } th { "By" } th { "Data" } th { "Evidence / detail" } }
                    }
                    tbody {
                        @for (dim, dr) in [
                            ("technical", &r.dimensions.technical),
                            ("knowledge", &r.dimensions.knowledge),
                            ("usage", &r.dimensions.usage),
                            ("value", &r.dimensions.value),
                            ("stakeholder", &r.dimensions.stakeholder),
                        ] {
                            tr class=[low(dr.score.is_none_or(|s| s < 7.0))] data-dimension=(dim) data-state=(dr.state.as_str()) {
                                td { (dim) }
                                td class="num" { (num1(dr.score)) }
                                td class="num" { (num1(Some(dr.weight))) "%" }
                                td { (source_label(dr)) }
                                td {
                                    @match (&dr.author, &dr.assessed_at) {
                                        (Some(a), Some(t)) => { (a) ", " (t.format("%Y-%m-%d")) }
                                        (Some(a), None) => { (a) }
                                        _ => { "—" }
                                    }
                                }
                                td class="date" { (as_of_cell(dr.as_of)) " " (quality_badge(dr.state.as_str())) }
                                td {
                                    (dr.detail)
                                    @if let Some(n) = &dr.note { " — “" (n) "”" }
                                }
                            }
                        }
                    }
                }
                h3 { "Blockers" }
                ul class="blockers" data-testid="blockers" {
                    @for bl in &r.blockers {
                        li { (bl.reason) br; span class="clears" { "To clear: " (bl.needed_to_clear) } }
                    }
                    @if r.blockers.is_empty() {
                        li class="muted" { "none" }
                    }
                }
            }
        }
        // Alerts.
        section class="panel" {
            h2 { "Open alerts" }
            table data-testid="open-alerts" {
                thead { tr { th { "Rule" } th { "Opened" } th { "Age" } th { "Message" } th { "Acknowledgement" } } }
                tbody {
                    @for a in open_alerts {
                        tr data-alert=(a.alert_id) {
                            td { (a.rule.replace('_', " ")) }
                            td class="date" { (a.opened_on) }
                            td class="num" { (a.age_days) }
                            td { (a.message) }
                            td { (ack_cell(a)) }
                        }
                    }
                    @if open_alerts.is_empty() {
                        tr { td colspan="5" class="muted" { "no open alerts" } }
                    }
                }
            }
        }
        // The account's alert history: every alert that held (open or resolved), newest
        // first; an alert whose opening was retracted (withdrawn) is not part of it.
        section class="panel" {
            h2 { "Alert history" }
            table data-testid="alert-history" {
                thead {
                    tr { th { "Rule" } th { "State" } th { "Opened" } th { "Resolved" } th { "Days" } th { "Message" } }
                }
                tbody {
                    @for a in &history.items {
                        tr data-history-alert=(a.alert_id) {
                            td { (a.rule.replace('_', " ")) }
                            td { (alert_state(a)) }
                            td class="date" { (a.opened_on) }
                            td class="date" { (or_dash(a.resolved_on)) }
                            td class="num" { (a.age_days) }
                            td { (a.message) }
                        }
                    }
                    @if history.items.is_empty() {
                        tr { td colspan="6" class="muted" { "no alerts" } }
                    }
                }
            }
            p { a href=(all) { (more) } }
        }
    };
    Ok((name, page))
}
