//! The list pages: portfolio, accounts, graduation pipeline, alerts. Each accepts the
//! query parameters of its API counterpart (same validation, same queries).

use axum::{
    extract::{RawQuery, State},
    response::{IntoResponse, Response},
};

use super::{
    badge, error_page, esc, layout, link, money, num1, pager, pairs, path_segment, select, signed, sort_th, svg,
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
    service::AppState,
};

pub(crate) fn respond(r: ApiResult<String>, title: &str, active: &str) -> Response {
    match r {
        Ok(body) => layout(title, active, &body).into_response(),
        Err(e) => error_page(e),
    }
}

pub(crate) fn account_link(id: &str, name: &str) -> String {
    let shown = if name.is_empty() { id } else { name };
    format!(r#"<a href="/accounts/{}">{}</a>"#, esc(&path_segment(id)), esc(shown))
}

pub(crate) fn scope_form(action: &str, f: &portfolio::Filters, scope: &Scope, extra: &str) -> String {
    format!(
        r#"<form class="filters" method="get" action="{action}">{}{}{extra}<button type="submit">Apply</button></form>"#,
        select("segment", "Segment", &f.segments, scope.segment.as_deref()),
        select("csm", "CSM", &f.csms, scope.csm.as_deref()),
    )
}

pub(crate) fn card(label: &str, value: &str, testid: &str, class: &str) -> String {
    format!(
        r#"<div class="card {class}"><div class="label">{}</div><div class="value" data-testid="{testid}">{}</div></div>"#,
        esc(label),
        esc(value)
    )
}

pub async fn portfolio(State(st): State<AppState>, RawQuery(q): RawQuery) -> Response {
    respond(portfolio_body(&st, q.as_deref()).await, "Portfolio", "/")
}

async fn portfolio_body(st: &AppState, q: Option<&str>) -> ApiResult<String> {
    let p = Params::parse(q, &["segment", "csm"])?;
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
    let mut b = String::new();
    b.push_str(&format!(
        r#"<div class="title"><h1>Portfolio</h1><span class="asof">as of <b data-testid="as-of">{}</b></span></div>"#,
        summary.as_of.map_or_else(|| "—".to_owned(), |d| d.to_string())
    ));
    b.push_str(&scope_form("/", &filters, &scope, ""));
    b.push_str(r#"<section class="cards">"#);
    b.push_str(&card("Accounts", &summary.accounts.to_string(), "accounts", ""));
    b.push_str(&card("Green", &c.green.to_string(), "green", "green"));
    b.push_str(&card("Yellow", &c.yellow.to_string(), "yellow", "yellow"));
    b.push_str(&card("Red", &c.red.to_string(), "red", "red"));
    b.push_str(&card("ARR", &money(Some(summary.arr_total)), "arr-total", ""));
    b.push_str(&card("ARR at risk (red + yellow)", &money(Some(summary.arr_at_risk)), "arr-at-risk", "risk"));
    b.push_str("</section>");
    b.push_str(&svg::color_strip([c.green, c.yellow, c.red]).into_string());
    let bars: Vec<(String, [u64; 3])> =
        trend.points.iter().map(|p| (p.week_ending.to_string(), [p.green, p.yellow, p.red])).collect();
    b.push_str(r#"<section class="panel"><h2>Accounts by color, week by week</h2>"#);
    b.push_str(&svg::color_bars("Accounts by color on the last day of each week", &bars).into_string());
    b.push_str(r#"<ul class="legend"><li class="green">green</li><li class="yellow">yellow</li><li class="red">red</li></ul></section>"#);
    b.push_str(r#"<div class="two">"#);
    for (title, movers, testid) in
        [("Biggest drops, 7 days", &movers7, "movers-7"), ("Biggest drops, 30 days", &movers30, "movers-30")]
    {
        b.push_str(&format!(r#"<section class="panel"><h2>{title}</h2><table data-testid="{testid}"><thead><tr><th>Account</th><th>Score</th><th>Change</th><th>ARR</th></tr></thead><tbody>"#));
        for m in &movers.page.items {
            b.push_str(&format!(
                r#"<tr><td>{}</td><td>{} {}</td><td class="neg">{}</td><td>{}</td></tr>"#,
                account_link(&m.account_id, &m.name),
                badge(m.color),
                num1(Some(m.score)),
                signed(Some(m.change)),
                money(m.arr)
            ));
        }
        if movers.page.items.is_empty() {
            b.push_str(r#"<tr><td colspan="4" class="muted">no drops</td></tr>"#);
        }
        b.push_str("</tbody></table></section>");
    }
    b.push_str("</div>");
    for (title, page, testid) in [("By segment", &by_segment, "by-segment"), ("By CSM", &by_csm, "by-csm")] {
        b.push_str(&format!(
            r#"<section class="panel"><h2>{title}</h2><table data-testid="{testid}"><thead><tr><th></th><th>Accounts</th><th>Green</th><th>Yellow</th><th>Red</th><th>Avg score</th><th>ARR</th><th>ARR at risk</th></tr></thead><tbody>"#
        ));
        for r in &page.items {
            let key = if r.key.is_empty() { "(none)" } else { &r.key };
            let filter = if testid == "by-segment" { "segment" } else { "csm" };
            let href = link("/accounts", &[], &[(filter, Some(&r.key))]);
            b.push_str(&format!(
                r#"<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                esc(&href),
                esc(key),
                r.accounts,
                r.green,
                r.yellow,
                r.red,
                num1(Some(r.avg_score)),
                money(Some(r.arr)),
                money(Some(r.arr_at_risk))
            ));
        }
        b.push_str("</tbody></table></section>");
    }
    Ok(b)
}

pub async fn accounts(State(st): State<AppState>, RawQuery(q): RawQuery) -> Response {
    respond(accounts_body(&st, q.as_deref()).await, "Accounts", "/accounts")
}

async fn accounts_body(st: &AppState, q: Option<&str>) -> ApiResult<String> {
    let p = Params::parse(q, accounts::LIST_KEYS)?;
    let req = ListRequest::parse(&p, st.cfg.max_page_size, st.cfg.max_range_days)?;
    let (page, filters) = futures::try_join!(accounts::query_list(&st.db, &req), portfolio::query_filters(&st.db))?;
    let cur = pairs(q);
    let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let mut b = String::from(r#"<div class="title"><h1>Accounts</h1></div>"#);
    b.push_str(&format!(
        r#"<form class="filters" method="get" action="/accounts"><label>Search<input type="search" name="q" value="{}" maxlength="128" placeholder="name or id"></label>{}{}{}{}{}{}<button type="submit">Apply</button></form>"#,
        esc(req.filter.q.as_deref().unwrap_or("")),
        select("color", "Color", &owned(&filters.colors), p.raw("color")),
        select("segment", "Segment", &filters.segments, req.filter.scope.segment.as_deref()),
        select("csm", "CSM", &filters.csms, req.filter.scope.csm.as_deref()),
        select("stage", "Stage", &owned(&filters.stages), p.raw("stage")),
        select("verdict", "Verdict", &owned(&filters.verdicts), p.raw("verdict")),
        select("red_flag", "Red flag", &owned(&filters.red_flags), p.raw("red_flag")),
    ));
    let sort = req.sort_label();
    let th = |key: &str, label: &str, desc_first: bool| sort_th("/accounts", &cur, &sort, key, label, desc_first);
    b.push_str(&format!(
        r#"<table class="list" data-testid="accounts"><thead><tr>{}<th>Color</th>{}{}<th>Segment</th><th>CSM</th><th>Stage</th><th>Verdict</th><th>Red flags</th>{}{}</tr></thead><tbody>"#,
        th("name", "Account", false),
        th("score", "Score", false),
        th("change", "Change 7d", false),
        th("arr", "ARR", true),
        th("renewal", "Renewal", false),
    ));
    for a in &page.items {
        b.push_str(&format!(
            r#"<tr data-account="{}"><td>{}</td><td>{}</td><td class="num">{}</td><td class="num {}">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="flags">{}</td><td class="num">{}</td><td>{}</td></tr>"#,
            esc(&a.account_id),
            account_link(&a.account_id, &a.name),
            badge(a.color),
            num1(Some(a.score)),
            if a.change.is_some_and(|c| c < 0.0) { "neg" } else { "" },
            signed(a.change),
            esc(&a.segment),
            esc(&a.csm),
            esc(&a.lifecycle_stage),
            super::verdict_badge(a.verdict),
            esc(&a.red_flags.join(", ").replace('_', " ")),
            money(a.arr),
            a.renewal_on.map_or_else(|| "—".to_owned(), |d| d.to_string()),
        ));
    }
    if page.items.is_empty() {
        b.push_str(r#"<tr><td colspan="11" class="muted">no accounts match</td></tr>"#);
    }
    b.push_str("</tbody></table>");
    b.push_str(&pager("/accounts", &cur, page.page, page.page_size, page.total));
    Ok(b)
}

pub use super::account::account;

pub async fn graduation(State(st): State<AppState>, RawQuery(q): RawQuery) -> Response {
    respond(graduation_body(&st, q.as_deref()).await, "Graduation", "/graduation")
}

async fn graduation_body(st: &AppState, q: Option<&str>) -> ApiResult<String> {
    let p = Params::parse(q, graduation::LIST_KEYS)?;
    let req = GradRequest::parse(&p, st.cfg.max_page_size)?;
    let (summary, page, filters) = futures::try_join!(
        graduation::query_summary(&st.db, &req.scope),
        graduation::query_list(&st.db, &req),
        portfolio::query_filters(&st.db)
    )?;
    let cur = pairs(q);
    let c = &summary.counts;
    let mut b = String::from(r#"<div class="title"><h1>Graduation pipeline</h1></div>"#);
    b.push_str(r#"<section class="cards">"#);
    b.push_str(&card("Onboarding", &c.onboarding.to_string(), "onboarding", ""));
    b.push_str(&card("Ready", &c.ready.to_string(), "ready", "green"));
    b.push_str(&card("Close", &c.close.to_string(), "close", "yellow"));
    b.push_str(&card("Not ready", &c.not_ready.to_string(), "not-ready", "red"));
    b.push_str(&card("Overdue", &c.overdue.to_string(), "overdue", "risk"));
    b.push_str(&card("Recovery plan needed", &c.recovery_plan_needed.to_string(), "recovery", "risk"));
    b.push_str(&card("Avg days in stage", &format!("{:.0}", c.avg_days_in_stage), "avg-days", ""));
    b.push_str("</section>");
    b.push_str(r#"<section class="panel"><h2>Nearest to ready</h2><ol class="nearest" data-testid="nearest">"#);
    for n in &summary.nearest_to_ready {
        let first = n.blockers.first().map_or(String::new(), |bl| format!(" — needs: {}", bl.needed_to_clear));
        b.push_str(&format!(
            r#"<li>{} <b>{:.2}</b> {} <span class="muted">{} blocker(s){}</span></li>"#,
            account_link(&n.account_id, &n.name),
            n.total,
            super::verdict_badge(Some(n.verdict)),
            n.blockers.len(),
            esc(&first)
        ));
    }
    b.push_str("</ol></section>");
    let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let yes_no = owned(&["true", "false"]);
    let extra = format!(
        "{}{}{}",
        select("verdict", "Verdict", &owned(&filters.verdicts), p.raw("verdict")),
        select("overdue", "Overdue", &yes_no, p.raw("overdue")),
        select("recovery_plan_needed", "Recovery plan", &yes_no, p.raw("recovery_plan_needed")),
    );
    b.push_str(&scope_form("/graduation", &filters, &req.scope, &extra));
    let sort = req.sort_label();
    let th = |key: &str, label: &str, desc_first: bool| sort_th("/graduation", &cur, &sort, key, label, desc_first);
    b.push_str(&format!(
        r#"<table class="list" data-testid="pipeline"><thead><tr>{}{}<th>Verdict</th>{}<th>Target</th><th>Flags</th>{}<th>What clears the first blocker</th></tr></thead><tbody>"#,
        th("name", "Account", false),
        th("total", "Total", true),
        th("days_in_stage", "Days in stage", true),
        th("blockers", "Blockers", true),
    ));
    for g in &page.items {
        let mut flags = Vec::new();
        if g.recovery_plan_needed {
            flags.push(r#"<span class="flag red">recovery plan</span>"#);
        } else if g.overdue {
            flags.push(r#"<span class="flag yellow">overdue</span>"#);
        }
        b.push_str(&format!(
            r#"<tr data-account="{}"><td>{}</td><td class="num">{:.2}</td><td>{}</td><td class="num">{}</td><td>{}</td><td>{}</td><td class="num">{}</td><td class="muted">{}</td></tr>"#,
            esc(&g.account_id),
            account_link(&g.account_id, &g.name),
            g.total,
            super::verdict_badge(Some(g.verdict)),
            g.days_in_stage.map_or_else(|| "—".to_owned(), |d| d.to_string()),
            g.target_graduation_on.map_or_else(|| "—".to_owned(), |d| d.to_string()),
            flags.join(" "),
            g.blockers.len(),
            esc(g.blockers.first().map_or("", |bl| bl.needed_to_clear.as_str())),
        ));
    }
    if page.items.is_empty() {
        b.push_str(r#"<tr><td colspan="8" class="muted">no onboarding accounts match</td></tr>"#);
    }
    b.push_str("</tbody></table>");
    b.push_str(&pager("/graduation", &cur, page.page, page.page_size, page.total));
    Ok(b)
}

pub async fn alerts(State(st): State<AppState>, RawQuery(q): RawQuery) -> Response {
    respond(alerts_body(&st, q.as_deref()).await, "Alerts", "/alerts")
}

/// An alert's acknowledgement, or the form to acknowledge it (`pulse.js` posts it).
pub(crate) fn ack_cell(a: &alerts::Alert) -> String {
    match &a.acknowledged {
        Some(k) => format!(
            r#"<span class="acked" title="{}">acknowledged by {} · {}</span>"#,
            esc(&k.note),
            esc(&k.by),
            esc(k.at.get(..10).unwrap_or(&k.at))
        ),
        None if a.state == "open" => format!(
            r#"<form class="ack" data-alert="{}"><input name="by" placeholder="your name" maxlength="128" aria-label="who"><input name="note" placeholder="note" maxlength="1000" aria-label="note"><button type="submit">Acknowledge</button><span class="ack-status" role="status"></span></form>"#,
            esc(&a.alert_id)
        ),
        None => String::new(),
    }
}

async fn alerts_body(st: &AppState, q: Option<&str>) -> ApiResult<String> {
    let p = Params::parse(q, alerts::LIST_KEYS)?;
    let req = AlertsRequest::parse(&p, st.cfg.max_page_size)?;
    let (summary, page, filters) = futures::try_join!(
        alerts::query_summary(&st.db, &req.scope),
        alerts::query_alerts(&st.db, &req),
        portfolio::query_filters(&st.db)
    )?;
    let cur = pairs(q);
    let mut b = String::from(r#"<div class="title"><h1>Alerts</h1></div>"#);
    b.push_str(r#"<section class="cards">"#);
    b.push_str(&card("Open", &summary.open.to_string(), "open", "risk"));
    b.push_str(&card("Not acknowledged", &summary.unacknowledged.to_string(), "unacknowledged", ""));
    b.push_str("</section>");
    b.push_str(r#"<section class="panel"><h2>Open alerts by rule and age</h2><table data-testid="by-rule"><thead><tr><th>Rule</th><th>Open</th><th>Acknowledged</th><th>0–7 days</th><th>8–30 days</th><th>&gt; 30 days</th><th>Oldest (days)</th></tr></thead><tbody>"#);
    for r in &summary.by_rule {
        let href = link("/alerts", &[], &[("rule", Some(&r.rule))]);
        b.push_str(&format!(
            r#"<tr><td><a href="{}">{}</a></td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
            esc(&href),
            esc(&r.rule.replace('_', " ")),
            r.open,
            r.acknowledged,
            r.age_0_7,
            r.age_8_30,
            r.age_over_30,
            r.oldest_days
        ));
    }
    b.push_str("</tbody></table></section>");
    let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let extra = format!(
        "{}{}{}{}",
        select("state", "State", &owned(&["open", "resolved", "all"]), p.raw("state")),
        select("rule", "Rule", &owned(&filters.rules), p.raw("rule")),
        select("severity", "Severity", &owned(&["info", "warning", "critical"]), p.raw("severity")),
        select("acknowledged", "Acknowledged", &owned(&["true", "false"]), p.raw("acknowledged")),
    );
    b.push_str(&scope_form("/alerts", &filters, &req.scope, &extra));
    let sort = req.sort_label();
    let th = |key: &str, label: &str, desc_first: bool| sort_th("/alerts", &cur, &sort, key, label, desc_first);
    b.push_str(&format!(
        r#"<table class="list" data-testid="alerts"><thead><tr>{}{}{}<th>State</th>{}{}<th>Message</th><th>Acknowledgement</th></tr></thead><tbody>"#,
        th("account", "Account", false),
        th("rule", "Rule", false),
        th("severity", "Severity", true),
        th("opened_on", "Opened", true),
        th("age", "Age (days)", true),
    ));
    for a in &page.items {
        b.push_str(&format!(
            r#"<tr data-alert="{}"><td>{}</td><td>{}</td><td><span class="sev {}">{}</span></td><td>{}</td><td class="date">{}</td><td class="num">{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&a.alert_id),
            account_link(&a.account_id, &a.name),
            esc(&a.rule.replace('_', " ")),
            esc(&a.severity),
            esc(&a.severity),
            a.state,
            a.opened_on,
            a.age_days,
            esc(&a.message),
            ack_cell(a),
        ));
    }
    if page.items.is_empty() {
        b.push_str(r#"<tr><td colspan="8" class="muted">no alerts match</td></tr>"#);
    }
    b.push_str("</tbody></table>");
    b.push_str(&pager("/alerts", &cur, page.page, page.page_size, page.total));
    Ok(b)
}
