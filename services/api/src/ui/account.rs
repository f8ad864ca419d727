//! One account's story: current health and why, history charts with the thresholds
//! that matter, the readiness scorecard with sources and blockers, and its alerts.

use axum::{
    extract::{Path, RawQuery, State},
    response::Response,
};
use pulse_core::readiness::{DimensionResult, Source};

use super::{badge, esc, money, num1, pct, signed, svg, verdict_badge};
use crate::{
    error::ApiResult,
    params::Params,
    routes::{
        account_id,
        accounts::{self, AccountDetail, History},
        alerts,
    },
    service::AppState,
};

pub async fn account(State(st): State<AppState>, Path(id): Path<String>, RawQuery(q): RawQuery) -> Response {
    let r = body(&st, &id, q.as_deref()).await;
    let title = match &r {
        Ok((name, _)) => name.clone(),
        Err(_) => "Account".to_owned(),
    };
    super::pages::respond(r.map(|(_, b)| b), &title, "/accounts")
}

fn source_label(d: &DimensionResult) -> String {
    let s = match d.source {
        Source::Assessment => "assessment",
        Source::Override => "assessment (overrides telemetry)",
        Source::Computed => "computed from usage",
        Source::Evidence => "evidence",
        Source::Unassessed => "unassessed",
    };
    s.to_owned()
}

fn charts(h: &History) -> String {
    let labels: Vec<String> = h.points.iter().map(|p| p.as_of.to_string()).collect();
    let t = &h.thresholds;
    let score = svg::line_chart(
        "Health score by day",
        &labels,
        &[svg::Series { name: "score", class: "s-score", values: h.points.iter().map(|p| Some(p.score)).collect() }],
        &[
            svg::Threshold { value: t.green, label: format!("green ≥ {}", t.green), class: "t-green" },
            svg::Threshold { value: t.yellow, label: format!("yellow ≥ {}", t.yellow), class: "t-yellow" },
        ],
        100.0,
    )
    .into_string();
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
    let usage = svg::line_chart("Active users as a share of seats", &labels, &series, &thresholds, y_max).into_string();
    format!(
        r#"<div class="two"><section class="panel"><h2>Health score</h2>{score}<ul class="legend"><li class="s-score">score</li></ul></section>
<section class="panel"><h2>Active-user shares ({} profile)</h2>{usage}<ul class="legend"><li class="s-dau">DAU % (7-day mean)</li><li class="s-wau">WAU %</li><li class="s-mau">MAU %</li></ul></section></div>"#,
        esc(&format!("{:?}", h.usage_profile).to_lowercase())
    )
}

async fn body(st: &AppState, raw_id: &str, q: Option<&str>) -> ApiResult<(String, String)> {
    let p = Params::parse(q, &["days"])?;
    let id = account_id(raw_id)?;
    let history_req = alerts::AlertsRequest::history_for(&id);
    let (d, hist, history) = futures::try_join!(
        accounts::query_detail(&st.db, &id),
        accounts::query_history(st, &id, &p),
        alerts::query_alerts(&st.db, &history_req),
    )?;
    let AccountDetail { attributes: a, health: h, readiness, past_scores, open_alerts, .. } = &d;
    let name = if a.name.is_empty() { id.clone() } else { a.name.clone() };
    let mut b = format!(
        r#"<div class="title"><h1 data-testid="name">{}</h1><span class="muted">{}</span> {} <span class="big" data-testid="score">{}</span></div>"#,
        esc(&name),
        esc(&id),
        badge(h.color.as_str()),
        num1(Some(h.score)),
    );
    b.push_str(r#"<dl class="facts">"#);
    let mut fact = |k: &str, v: String, testid: &str| {
        b.push_str(&format!(r#"<div><dt>{}</dt><dd data-testid="{testid}">{}</dd></div>"#, esc(k), esc(&v)));
    };
    fact("As of", d.as_of.to_string(), "as-of");
    for ps in past_scores {
        fact(&format!("Change {}d", ps.days_ago), signed(Some(h.score - ps.score)), &format!("change-{}", ps.days_ago));
    }
    fact("Yesterday", h.previous_color.map_or("—", |c| c.as_str()).to_owned(), "previous-color");
    fact("Segment", a.segment.clone(), "segment");
    fact("CSM", a.csm.clone(), "csm");
    fact("Stage", a.lifecycle_stage.clone(), "stage");
    fact("ARR", money(a.arr), "arr");
    fact("Renewal", a.renewal_on.map_or_else(|| "—".to_owned(), |r| r.to_string()), "renewal");
    b.push_str("</dl>");
    b.push_str(&charts(&hist));
    // Why: measures, reasons, metrics, flags.
    let m = &h.metrics;
    b.push_str(r#"<div class="two"><section class="panel"><h2>Why this score</h2><table data-testid="measures"><thead><tr><th>Measure</th><th>Value</th><th>Score</th><th>Weight</th></tr></thead><tbody>"#);
    for ms in &h.measures {
        let low = if ms.score < 70.0 { " class=\"low\"" } else { "" };
        b.push_str(&format!(
            r#"<tr{low}><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}%</td></tr>"#,
            esc(ms.name.as_str()),
            num1(Some(ms.value)),
            num1(Some(ms.score)),
            num1(Some(ms.weight))
        ));
    }
    b.push_str("</tbody></table>");
    if !h.missing_measures.is_empty() {
        let missing: Vec<&str> = h.missing_measures.iter().map(|m| m.as_str()).collect();
        b.push_str(&format!(r#"<p class="muted">Left out for lack of data: {}</p>"#, esc(&missing.join(", "))));
    }
    b.push_str(r#"<ul class="reasons" data-testid="reasons">"#);
    for r in &h.reasons {
        b.push_str(&format!("<li>{}</li>", esc(r)));
    }
    b.push_str("</ul>");
    if !h.red_flags.is_empty() {
        let flags: Vec<String> = h
            .red_flags
            .iter()
            .map(|f| format!(r#"<span class="flag red">{}</span>"#, esc(&f.as_str().replace('_', " "))))
            .collect();
        b.push_str(&format!(r#"<p data-testid="red-flags">{}</p>"#, flags.join(" ")));
    }
    b.push_str(r#"</section><section class="panel"><h2>Usage metrics</h2><table data-testid="metrics"><tbody>"#);
    let seats = m.seats.map_or_else(|| "unknown".to_owned(), |s| s.to_string());
    for (k, v) in [
        ("Seats", seats),
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
    ] {
        b.push_str(&format!(r#"<tr><th>{}</th><td class="num">{}</td></tr>"#, esc(k), esc(&v)));
    }
    b.push_str("</tbody></table></section></div>");
    // Readiness.
    if let Some(r) = readiness {
        b.push_str(&format!(
            r#"<section class="panel"><h2>Graduation readiness</h2><p class="readiness">Total <b data-testid="readiness-total">{:.2}</b> / 10 {} {}{}{}</p>"#,
            r.total,
            verdict_badge(Some(r.verdict.as_str())),
            r.days_in_stage.map_or(String::new(), |d| format!(" · {d} days in onboarding")),
            r.target_graduation_on.map_or(String::new(), |t| format!(" · target {t}")),
            if r.recovery_plan_needed {
                r#" <span class="flag red">recovery plan needed</span>"#
            } else if r.overdue {
                r#" <span class="flag yellow">overdue</span>"#
            } else {
                ""
            },
        ));
        b.push_str(r#"<table data-testid="dimensions"><thead><tr><th>Dimension</th><th>Score</th><th>Weight</th><th>Source</th><th>By</th><th>Evidence / detail</th></tr></thead><tbody>"#);
        let dims = &r.dimensions;
        for (name, dr) in [
            ("technical", &dims.technical),
            ("knowledge", &dims.knowledge),
            ("usage", &dims.usage),
            ("value", &dims.value),
            ("stakeholder", &dims.stakeholder),
        ] {
            let by = match (&dr.author, &dr.assessed_at) {
                (Some(a), Some(t)) => format!("{a}, {}", t.format("%Y-%m-%d")),
                (Some(a), None) => a.clone(),
                _ => "—".to_owned(),
            };
            let detail = match &dr.note {
                Some(n) => format!("{} — “{n}”", dr.detail),
                None => dr.detail.clone(),
            };
            let low = if dr.score.is_none_or(|s| s < 7.0) { " class=\"low\"" } else { "" };
            b.push_str(&format!(
                r#"<tr{low} data-dimension="{name}"><td>{name}</td><td class="num">{}</td><td class="num">{}%</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                num1(dr.score),
                num1(Some(dr.weight)),
                esc(&source_label(dr)),
                esc(&by),
                esc(&detail)
            ));
        }
        b.push_str(r#"</tbody></table><h3>Blockers</h3><ul class="blockers" data-testid="blockers">"#);
        for bl in &r.blockers {
            b.push_str(&format!(
                r#"<li>{}<br><span class="clears">To clear: {}</span></li>"#,
                esc(&bl.reason),
                esc(&bl.needed_to_clear)
            ));
        }
        if r.blockers.is_empty() {
            b.push_str(r#"<li class="muted">none</li>"#);
        }
        b.push_str("</ul></section>");
    }
    // Alerts.
    b.push_str(
        r#"<section class="panel"><h2>Open alerts</h2><table data-testid="open-alerts"><thead><tr><th>Rule</th><th>Opened</th><th>Age</th><th>Message</th><th>Acknowledgement</th></tr></thead><tbody>"#,
    );
    for a in open_alerts {
        b.push_str(&format!(
            r#"<tr data-alert="{}"><td>{}</td><td class="date">{}</td><td class="num">{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&a.alert_id),
            esc(&a.rule.replace('_', " ")),
            a.opened_on,
            a.age_days,
            esc(&a.message),
            super::pages::ack_cell(a)
        ));
    }
    if open_alerts.is_empty() {
        b.push_str(r#"<tr><td colspan="5" class="muted">no open alerts</td></tr>"#);
    }
    b.push_str("</tbody></table></section>");
    // The account's alert history: every alert that held (open or resolved), newest
    // first; an alert whose opening was retracted (withdrawn) is not part of it.
    b.push_str(
        r#"<section class="panel"><h2>Alert history</h2><table data-testid="alert-history"><thead><tr><th>Rule</th><th>State</th><th>Opened</th><th>Resolved</th><th>Days</th><th>Message</th></tr></thead><tbody>"#,
    );
    for a in &history.items {
        b.push_str(&format!(
            r#"<tr data-history-alert="{}"><td>{}</td><td>{}</td><td class="date">{}</td><td class="date">{}</td><td class="num">{}</td><td>{}</td></tr>"#,
            esc(&a.alert_id),
            esc(&a.rule.replace('_', " ")),
            a.state,
            a.opened_on,
            a.resolved_on.map_or_else(|| "—".to_owned(), |d| d.to_string()),
            a.age_days,
            esc(&a.message),
        ));
    }
    if history.items.is_empty() {
        b.push_str(r#"<tr><td colspan="6" class="muted">no alerts</td></tr>"#);
    }
    let all = super::link("/alerts", &[], &[("account_id", Some(&id)), ("state", Some("all"))]);
    let more = if history.total > history.items.len() as u64 {
        format!("All {} alerts of this account", history.total)
    } else {
        "All alerts of this account".to_owned()
    };
    b.push_str(&format!(r#"</tbody></table><p><a href="{}">{}</a></p></section>"#, esc(&all), esc(&more)));
    Ok((name, b))
}
