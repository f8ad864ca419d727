//! The list pages: portfolio, accounts, graduation pipeline, alerts. Each accepts the
//! query parameters of its API counterpart (same validation, same queries).

use axum::{
    extract::{RawQuery, State},
    response::{IntoResponse, Response},
};
use maud::{html, Markup};

use super::{
    badge, error_page, former_badge, layout_with, link, money, num1, pager, pairs, path_segment, quality_badge, select,
    signed, sort_th, svg, verdict_badge, Reflected,
};
use crate::{
    error::ApiResult,
    params::Params,
    routes::{
        accounts::{self, ListRequest},
        alerts::{self, AlertsRequest},
        graduation::{self, GradRequest},
        portfolio::{self, By},
        Scope,
    },
    state::AppState,
};

/// The page, with a banner per stalled source (SPEC v3 §10), or the error page.
pub(crate) async fn respond(st: &AppState, r: ApiResult<Markup>, title: &str, active: &str) -> Response {
    match r {
        Ok(body) => {
            let stalled = match crate::routes::sources::query_sources(&st.db, chrono::Utc::now()).await {
                Ok(s) => s.stalled,
                Err(e) => {
                    tracing::warn!(error = %e, "stalled sources unreadable: page shown without banners");
                    Vec::new()
                }
            };
            layout_with(title, active, &stalled, body).into_response()
        }
        Err(e) => error_page(e),
    }
}

pub(crate) fn account_link(id: &str, name: &str) -> Markup {
    let shown = if name.is_empty() { id } else { name };
    html! { a href={ "/accounts/" (path_segment(id)) } { (shown) } }
}

pub(crate) fn scope_form(action: &str, f: &portfolio::Filters, scope: &Scope, extra: Markup) -> Markup {
    html! {
        form class="filters" method="get" action=(action) {
            (select("segment", "Segment", &f.segments, scope.segment.as_deref()))
            (select("csm", "CSM", &f.csms, scope.csm.as_deref()))
            (extra)
            button type="submit" { "Apply" }
        }
    }
}

/// The "include former customers" box of a page's filters (SPEC v3 §8).
pub(crate) fn former_box(scope: &Scope) -> Markup {
    html! {
        label class="check" {
            "Former customers"
            span { input type="checkbox" name="include_former" value="true" checked[scope.include_former]; " include" }
        }
    }
}

pub(crate) fn card(label: &str, value: &str, testid: &str, class: &str) -> Markup {
    html! {
        div class={ "card " (class) } {
            div class="label" { (label) }
            div class="value" data-testid=(testid) { (value) }
        }
    }
}

/// A value (a date, a number of days), or `—` when there is none.
pub(crate) fn or_dash(d: Option<impl std::fmt::Display>) -> String {
    d.map_or_else(|| "—".to_owned(), |d| d.to_string())
}

fn owned(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

pub async fn portfolio(State(st): State<AppState>, RawQuery(q): RawQuery) -> Response {
    respond(&st, portfolio_body(&st, q.as_deref()).await, "Portfolio", "/").await
}

async fn portfolio_body(st: &AppState, q: Option<&str>) -> ApiResult<Markup> {
    let p = Params::parse(q, crate::routes::SCOPE_KEYS)?;
    let scope = crate::routes::scope(&p)?;
    let db = &st.db;
    let p_trend = p.with(&[("weeks", "12")]);
    let p_seg = p.with(&[("page_size", "20")]);
    let p_m7 = p.with(&[("window", "7"), ("page_size", "5")]);
    let p_m30 = p.with(&[("window", "30"), ("page_size", "5")]);
    let (summary, trend, by_segment, by_csm, movers7, movers30, filters) = futures::try_join!(
        portfolio::query_summary(db, &scope),
        portfolio::query_trend(db, &p_trend, st.cfg.max_range_days),
        portfolio::query_breakdown(db, &p_seg, By::Segment, st.cfg.max_page_size),
        portfolio::query_breakdown(db, &p_seg, By::Csm, st.cfg.max_page_size),
        portfolio::query_movers(db, &p_m7, st.cfg.max_page_size, st.cfg.max_range_days),
        portfolio::query_movers(db, &p_m30, st.cfg.max_page_size, st.cfg.max_range_days),
        portfolio::query_filters(db),
    )?;
    let c = &summary.colors;
    // Links to the account list keep `include_former`.
    let scope_pairs: Vec<(String, String)> =
        if scope.include_former { vec![("include_former".into(), "true".into())] } else { Vec::new() };
    let bars: Vec<(String, [u64; 3])> =
        trend.points.iter().map(|p| (p.week_ending.to_string(), [p.green, p.yellow, p.red])).collect();
    Ok(html! {
        div class="title" {
            h1 { "Portfolio" }
            span class="asof" { "as of " b data-testid="as-of" { (or_dash(summary.as_of)) } }
        }
        (scope_form("/", &filters, &scope, former_box(&scope)))
        section class="cards" {
            (card("Accounts", &summary.accounts.to_string(), "accounts", ""))
            (card("Green", &c.green.to_string(), "green", "green"))
            (card("Yellow", &c.yellow.to_string(), "yellow", "yellow"))
            (card("Red", &c.red.to_string(), "red", "red"))
            (card("Stale data (source stalled)", &summary.data_status.stale.to_string(), "stale", "dq-stale"))
            (card("Insufficient data", &summary.data_status.insufficient.to_string(), "insufficient", "dq-insufficient"))
            (card("ARR", &money(Some(summary.arr_total)), "arr-total", ""))
            (card("ARR at risk (red + yellow)", &money(Some(summary.arr_at_risk)), "arr-at-risk", "risk"))
        }
        (svg::color_strip([c.green, c.yellow, c.red]))
        section class="panel" {
            h2 { "Accounts by color, week by week" }
            (svg::color_bars("Accounts by color on the last day of each week", &bars))
            ul class="legend" { li class="green" { "green" } li class="yellow" { "yellow" } li class="red" { "red" } }
        }
        div class="two" {
            @for (title, movers, testid) in
                [("Biggest drops, 7 days", &movers7, "movers-7"), ("Biggest drops, 30 days", &movers30, "movers-30")]
            {
                section class="panel" {
                    h2 { (title) }
                    table data-testid=(testid) {
                        thead { tr { th { "Account" } th { "Score" } th { "Change" } th { "ARR" } } }
                        tbody {
                            @for m in &movers.page.items {
                                tr {
                                    td { (account_link(&m.account_id, &m.name)) }
                                    td { (badge(m.color)) " " (num1(Some(m.score))) }
                                    td class="neg" { (signed(Some(m.change))) }
                                    td { (money(m.arr)) }
                                }
                            }
                            @if movers.page.items.is_empty() {
                                tr { td colspan="4" class="muted" { "no drops" } }
                            }
                        }
                    }
                }
            }
        }
        @for (title, page, testid) in [("By segment", &by_segment, "by-segment"), ("By CSM", &by_csm, "by-csm")] {
            section class="panel" {
                h2 { (title) }
                table data-testid=(testid) {
                    thead {
                        tr {
                            th {} th { "Accounts" } th { "Green" } th { "Yellow" } th { "Red" }
                            th { "Stale" } th { "Insufficient" } th { "Avg score" }
                            th { "ARR" } th { "ARR at risk" }
                        }
                    }
                    tbody {
                        @for r in &page.items {
                            @let filter = if testid == "by-segment" { "segment" } else { "csm" };
                            tr {
                                td { a href=(link("/accounts", &scope_pairs, &[(filter, Some(&r.key))])) { (if r.key.is_empty() { "(none)" } else { r.key.as_str() }) } }
                                td { (r.accounts) }
                                td { (r.green) }
                                td { (r.yellow) }
                                td { (r.red) }
                                td { (r.stale) }
                                td { (r.insufficient) }
                                td { (num1(Some(r.avg_score))) }
                                td { (money(Some(r.arr))) }
                                td { (money(Some(r.arr_at_risk))) }
                            }
                        }
                    }
                }
            }
        }
    })
}

pub async fn accounts(State(st): State<AppState>, RawQuery(q): RawQuery) -> Response {
    respond(&st, accounts_body(&st, q.as_deref()).await, "Accounts", "/accounts").await
}

async fn accounts_body(st: &AppState, q: Option<&str>) -> ApiResult<Markup> {
    let p = Params::parse(q, accounts::LIST_KEYS)?;
    let req = ListRequest::parse(&p, st.cfg.max_page_size, st.cfg.max_range_days)?;
    let (page, filters) = futures::try_join!(accounts::query_list(&st.db, &req), portfolio::query_filters(&st.db))?;
    let cur = pairs(q);
    let sort = req.sort_label();
    let th = |key: &str, label: &str, desc_first: bool| sort_th("/accounts", &cur, &sort, key, label, desc_first);
    Ok(html! {
        div class="title" { h1 { "Accounts" } }
        form class="filters" method="get" action="/accounts" {
            label {
                "Search"
                input type="search" name="q" value=(Reflected(req.filter.q.as_deref().unwrap_or(""))) maxlength="128" placeholder="name or id";
            }
            (select("color", "Color", &owned(&filters.colors), p.raw("color")))
            (select("segment", "Segment", &filters.segments, req.filter.scope.segment.as_deref()))
            (select("csm", "CSM", &filters.csms, req.filter.scope.csm.as_deref()))
            (select("stage", "Stage", &owned(&filters.stages), p.raw("stage")))
            (select("verdict", "Verdict", &owned(&filters.verdicts), p.raw("verdict")))
            (select("red_flag", "Red flag", &owned(&filters.red_flags), p.raw("red_flag")))
            (select("data_status", "Data", &owned(&filters.data_statuses), p.raw("data_status")))
            (former_box(&req.filter.scope))
            button type="submit" { "Apply" }
        }
        p class="muted" data-testid="data-status-counts" {
            "Of the " (page.page.total) " accounts listed: "
            b data-testid="list-stale" { (page.data_status.stale) } " stale (source stalled), "
            b data-testid="list-insufficient" { (page.data_status.insufficient) } " insufficient data"
        }
        table class="list" data-testid="accounts" {
            thead {
                tr {
                    (th("name", "Account", false))
                    th { "Color" }
                    th { "Data" }
                    (th("score", "Score", false))
                    (th("change", "Change 7d", false))
                    th { "Segment" } th { "CSM" } th { "Stage" } th { "Verdict" } th { "Red flags" }
                    (th("arr", "ARR", true))
                    (th("renewal", "Renewal", false))
                }
            }
            tbody {
                @for a in &page.page.items {
                    tr data-account=(a.account_id) {
                        td { (account_link(&a.account_id, &a.name)) " " (former_badge(a.former)) }
                        td { (badge(a.color)) }
                        td title={ "coverage " (format!("{:.0}%", a.coverage * 100.0)) } { (quality_badge(a.data_status.as_str())) }
                        td class="num" { (num1(Some(a.score))) }
                        td class={ "num " (if a.change.is_some_and(|c| c < 0.0) { "neg" } else { "" }) } { (signed(a.change)) }
                        td { (a.segment) }
                        td { (a.csm) }
                        td { (a.lifecycle_stage) }
                        td { (verdict_badge(a.verdict)) }
                        td class="flags" { (a.red_flags.join(", ").replace('_', " ")) }
                        td class="num" { (money(a.arr)) }
                        td { (or_dash(a.renewal_on)) }
                    }
                }
                @if page.page.items.is_empty() {
                    tr { td colspan="12" class="muted" { "no accounts match" } }
                }
            }
        }
        (pager("/accounts", &cur, page.page.page, page.page.page_size, page.page.total))
    })
}

pub use super::account::account;

pub async fn graduation(State(st): State<AppState>, RawQuery(q): RawQuery) -> Response {
    respond(&st, graduation_body(&st, q.as_deref()).await, "Graduation", "/graduation").await
}

async fn graduation_body(st: &AppState, q: Option<&str>) -> ApiResult<Markup> {
    let p = Params::parse(q, graduation::LIST_KEYS)?;
    let req = GradRequest::parse(&p, st.cfg.max_page_size)?;
    let (summary, page, filters) = futures::try_join!(
        graduation::query_summary(&st.db, &req.scope),
        graduation::query_list(&st.db, &req),
        portfolio::query_filters(&st.db)
    )?;
    let cur = pairs(q);
    let c = &summary.counts;
    let yes_no = owned(&["true", "false"]);
    let extra = html! {
        (select("verdict", "Verdict", &owned(&filters.verdicts), p.raw("verdict")))
        (select("overdue", "Overdue", &yes_no, p.raw("overdue")))
        (select("recovery_plan_needed", "Recovery plan", &yes_no, p.raw("recovery_plan_needed")))
        (former_box(&req.scope))
    };
    let sort = req.sort_label();
    let th = |key: &str, label: &str, desc_first: bool| sort_th("/graduation", &cur, &sort, key, label, desc_first);
    Ok(html! {
        div class="title" { h1 { "Graduation pipeline" } }
        section class="cards" {
            (card("Onboarding", &c.onboarding.to_string(), "onboarding", ""))
            (card("Ready", &c.ready.to_string(), "ready", "green"))
            (card("Close", &c.close.to_string(), "close", "yellow"))
            (card("Not ready", &c.not_ready.to_string(), "not-ready", "red"))
            (card("Overdue", &c.overdue.to_string(), "overdue", "risk"))
            (card("Recovery plan needed", &c.recovery_plan_needed.to_string(), "recovery", "risk"))
            (card("Avg days in stage", &format!("{:.0}", c.avg_days_in_stage), "avg-days", ""))
        }
        section class="panel" {
            h2 { "Nearest to ready" }
            ol class="nearest" data-testid="nearest" {
                @for n in &summary.nearest_to_ready {
                    li {
                        (account_link(&n.account_id, &n.name)) " "
                        b { (format!("{:.2}", n.total)) } " "
                        (verdict_badge(Some(n.verdict))) " "
                        span class="muted" {
                            (n.blockers.len()) " blocker(s)"
                            @if let Some(bl) = n.blockers.first() { " — needs: " (bl.needed_to_clear) }
                        }
                    }
                }
            }
        }
        (scope_form("/graduation", &filters, &req.scope, extra))
        table class="list" data-testid="pipeline" {
            thead {
                tr {
                    (th("name", "Account", false))
                    (th("total", "Total", true))
                    th { "Verdict" }
                    (th("days_in_stage", "Days in stage", true))
                    th { "Target" } th { "Flags" }
                    (th("blockers", "Blockers", true))
                    th { "What clears the first blocker" }
                }
            }
            tbody {
                @for g in &page.items {
                    tr data-account=(g.account_id) {
                        td { (account_link(&g.account_id, &g.name)) }
                        td class="num" { (format!("{:.2}", g.total)) }
                        td { (verdict_badge(Some(g.verdict))) }
                        td class="num" { (or_dash(g.days_in_stage)) }
                        td { (or_dash(g.target_graduation_on)) }
                        td {
                            @if g.recovery_plan_needed {
                                span class="flag red" { "recovery plan" }
                            } @else if g.overdue {
                                span class="flag yellow" { "overdue" }
                            }
                        }
                        td class="num" { (g.blockers.len()) }
                        td class="muted" { (g.blockers.first().map_or("", |bl| bl.needed_to_clear.as_str())) }
                    }
                }
                @if page.items.is_empty() {
                    tr { td colspan="8" class="muted" { "no onboarding accounts match" } }
                }
            }
        }
        (pager("/graduation", &cur, page.page, page.page_size, page.total))
    })
}

pub async fn alerts(State(st): State<AppState>, RawQuery(q): RawQuery) -> Response {
    respond(&st, alerts_body(&st, q.as_deref()).await, "Alerts", "/alerts").await
}

/// An alert's acknowledgement, or the form to acknowledge it (`pulse.js` posts it).
pub(crate) fn ack_cell(a: &alerts::Alert) -> Markup {
    match &a.acknowledged {
        Some(k) => html! {
            span class="acked" title=(k.note) {
                "acknowledged by " (k.by) " · " (k.at.get(..10).unwrap_or(&k.at))
            }
        },
        None if a.state == "open" => html! {
            form class="ack" data-alert=(a.alert_id) {
                input name="by" placeholder="your name" maxlength="128" aria-label="who";
                input name="note" placeholder="note" maxlength="1000" aria-label="note";
                button type="submit" { "Acknowledge" }
                span class="ack-status" role="status" {}
            }
        },
        None => html! {},
    }
}

/// An alert's state, with the reason of a resolve that is not its rule's own
/// ("resolved (churned)", SPEC v3 §8).
pub(crate) fn alert_state(a: &alerts::Alert) -> Markup {
    html! {
        (a.state)
        @if let Some(r) = &a.reason {
            " " span class="reason" data-testid="alert-reason" { "(" (r.as_str()) ")" }
        }
    }
}

async fn alerts_body(st: &AppState, q: Option<&str>) -> ApiResult<Markup> {
    let p = Params::parse(q, alerts::LIST_KEYS)?;
    let req = AlertsRequest::parse(&p, st.cfg.max_page_size)?;
    let (summary, page, filters) = futures::try_join!(
        alerts::query_summary(&st.db, &req.scope),
        alerts::query_alerts(&st.db, &req),
        portfolio::query_filters(&st.db)
    )?;
    let cur = pairs(q);
    let extra = html! {
        (select("state", "State", &owned(&["open", "resolved", "all"]), p.raw("state")))
        (select("rule", "Rule", &owned(&filters.rules), p.raw("rule")))
        (select("severity", "Severity", &owned(&["info", "warning", "critical"]), p.raw("severity")))
        (select("acknowledged", "Acknowledged", &owned(&["true", "false"]), p.raw("acknowledged")))
        (former_box(&req.scope))
    };
    let sort = req.sort_label();
    let th = |key: &str, label: &str, desc_first: bool| sort_th("/alerts", &cur, &sort, key, label, desc_first);
    Ok(html! {
        div class="title" { h1 { "Alerts" } }
        section class="cards" {
            (card("Open", &summary.open.to_string(), "open", "risk"))
            (card("Not acknowledged", &summary.unacknowledged.to_string(), "unacknowledged", ""))
        }
        section class="panel" {
            h2 { "Open alerts by rule and age" }
            table data-testid="by-rule" {
                thead {
                    tr {
                        th { "Rule" } th { "Open" } th { "Acknowledged" } th { "0–7 days" } th { "8–30 days" }
                        th { "> 30 days" } th { "Oldest (days)" }
                    }
                }
                tbody {
                    @for r in &summary.by_rule {
                        tr {
                            td { a href=(link("/alerts", &[], &[("rule", Some(&r.rule))])) { (r.rule.replace('_', " ")) } }
                            td class="num" { (r.open) }
                            td class="num" { (r.acknowledged) }
                            td class="num" { (r.age_0_7) }
                            td class="num" { (r.age_8_30) }
                            td class="num" { (r.age_over_30) }
                            td class="num" { (r.oldest_days) }
                        }
                    }
                }
            }
        }
        (scope_form("/alerts", &filters, &req.scope, extra))
        table class="list" data-testid="alerts" {
            thead {
                tr {
                    (th("account", "Account", false))
                    (th("rule", "Rule", false))
                    (th("severity", "Severity", true))
                    th { "State" }
                    (th("opened_on", "Opened", true))
                    (th("age", "Age (days)", true))
                    th { "Message" } th { "Acknowledgement" }
                }
            }
            tbody {
                @for a in &page.items {
                    tr data-alert=(a.alert_id) {
                        td { (account_link(&a.account_id, &a.name)) }
                        td { (a.rule.replace('_', " ")) }
                        td { span class={ "sev " (a.severity) } { (a.severity) } }
                        td { (alert_state(a)) }
                        td class="date" { (a.opened_on) }
                        td class="num" { (a.age_days) }
                        td { (a.message) }
                        td { (ack_cell(a)) }
                    }
                }
                @if page.items.is_empty() {
                    tr { td colspan="8" class="muted" { "no alerts match" } }
                }
            }
        }
        (pager("/alerts", &cur, page.page, page.page_size, page.total))
    })
}
