//! Former customers (SPEC v3 §8) and data quality (SPEC v3 §10) through the API and the
//! pages: former accounts left out of counts, lists, the forward forecast and the
//! graduation page unless `include_former=true`; the past judged as it was; data status
//! counted, filtered and shown; a banner per stalled source; results stored before
//! migration 008 read as customers with full data.

use chrono::{Duration, NaiveDate, Utc};
use pulse_core::alerts::TransitionReason;
use pulse_storage::{
    tables, types::millis, AlertRow, HealthRow, ReadinessRow, SystemAlertRow, Transition, TransitionState,
};
use serde_json::Value;

use crate::{common::*, portfolio::urlencode};

/// The account's stored result of `day` (health and readiness) as row types.
async fn rows_of(ch: &clickhouse::Client, id: &str, day: NaiveDate) -> (HealthRow, ReadinessRow) {
    let h: HealthRow = ch
        .query("SELECT ?fields FROM account_health FINAL WHERE account_id = ? AND as_of = ?")
        .bind(id)
        .bind(day.to_string())
        .fetch_one()
        .await
        .unwrap_or_else(|e| panic!("health of {id}: {e}"));
    let r: ReadinessRow = ch
        .query("SELECT ?fields FROM graduation_readiness FINAL WHERE account_id = ? AND as_of = ?")
        .bind(id)
        .bind(day.to_string())
        .fetch_one()
        .await
        .unwrap_or_else(|e| panic!("readiness of {id}: {e}"));
    (h, r)
}

/// `result` with `set` applied to its top-level keys.
fn patched(result: &str, set: &[(&str, Value)]) -> String {
    let mut v: Value = serde_json::from_str(result).expect("stored result");
    for (k, x) in set {
        v[*k] = x.clone();
    }
    v.to_string()
}

/// Rewrites the newest results (the fixture's last day) of `ids` as the scorer would
/// once the account became former that day: `former` set, computed later; their open
/// alerts resolve that day with reason `churned`.
async fn make_former(env: &pulse_e2e::TestEnv, ids: &[String]) {
    let ch = env.ch();
    for id in ids {
        let (mut h, mut r) = rows_of(&ch, id, end()).await;
        h.former = true;
        h.result = patched(&h.result, &[("former", Value::Bool(true))]);
        h.computed_at += Duration::seconds(1);
        r.former = true;
        r.result = patched(&r.result, &[("former", Value::Bool(true))]);
        r.computed_at += Duration::seconds(1);
        pulse_storage::insert(&ch, tables::ACCOUNT_HEALTH, &[h], 10).await.expect("health");
        pulse_storage::insert(&ch, tables::GRADUATION_READINESS, &[r], 10).await.expect("readiness");
        let open: Vec<AlertRow> = ch
            .query(
                "SELECT ?fields FROM health_alerts FINAL WHERE account_id = ? AND state = 'opened' \
                 AND alert_id IN (SELECT alert_id FROM alerts_current FINAL WHERE status = 'open')",
            )
            .bind(id.as_str())
            .fetch_all()
            .await
            .expect("open alerts");
        let resolved: Vec<AlertRow> = open
            .into_iter()
            .map(|o| AlertRow {
                transition: Transition::Resolved,
                state: TransitionState::Resolved,
                as_of: end(),
                version: o.version + 1_000_000_000,
                reason: Some(TransitionReason::Churned),
                message: format!("{}: resolved, the account is a former customer", o.rule),
                ..o
            })
            .collect();
        pulse_storage::insert(&ch, tables::HEALTH_ALERTS, &resolved, 100).await.expect("resolutions");
    }
}

fn ids_of(items: &[Value]) -> Vec<String> {
    strs(items, "account_id")
}

fn f(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key}: {v}"))
}

async fn page_html(api: &Api, path: &str) -> String {
    let r = api.raw(path, Some(&format!("Bearer {}", api.token))).await;
    assert_eq!(r.status().as_u16(), 200, "GET {path}");
    r.text().await.expect("html")
}

#[tokio::test]
async fn former_customers_are_left_out_unless_asked_for() {
    let env = loaded(ACCOUNTS, DAYS).await;
    let api = spawn(&env).await;
    // The demo may hold former customers of its own: everything below is relative.
    let before = api.ok("/api/v1/portfolio").await;
    let before_all = api.ok("/api/v1/portfolio?include_former=true").await;
    let all_before = api.all("/api/v1/accounts").await;
    assert!(all_before.iter().all(|a| a["former"] == false), "the default list has no former customer");
    let flagged_before =
        api.all("/api/v1/accounts?include_former=true").await.iter().filter(|a| a["former"] == true).count();
    let trend_before = api.ok("/api/v1/portfolio/trend?weeks=2").await;
    let renewals_before = api.ok("/api/v1/renewals").await;
    let accuracy_before = api.ok("/api/v1/accuracy").await;
    let grad_before = api.ok("/api/v1/graduation").await;
    // One account with a renewal due, one onboarding, one with an open alert.
    let due = renewals_before["windows"][1]["accounts"][0]["account_id"].as_str().expect("a renewal due").to_owned();
    let onboarding = api.ok("/api/v1/graduation/accounts?page_size=1").await["items"][0]["account_id"]
        .as_str()
        .expect("onboarding")
        .to_owned();
    let alerted =
        api.ok("/api/v1/alerts?page_size=1").await["items"][0]["account_id"].as_str().expect("alert").to_owned();
    let mut former = vec![due.clone(), onboarding.clone(), alerted.clone()];
    former.sort();
    former.dedup();
    let arr_former: f64 = all_before
        .iter()
        .filter(|a| former.contains(&a["account_id"].as_str().unwrap_or("").to_owned()))
        .map(|a| f(a, "arr"))
        .sum();
    make_former(&env, &former).await;
    let n = former.len() as u64;
    let customers = before["accounts"].as_u64().expect("accounts");
    let everyone = before_all["accounts"].as_u64().expect("accounts");

    // Portfolio counts and ARR, now and on the trend's last week; the breakdown adds up.
    let s = api.ok("/api/v1/portfolio").await;
    assert_eq!(s["accounts"].as_u64(), Some(customers - n), "{s}");
    assert!((f(&s, "arr_total") - (f(&before, "arr_total") - arr_former)).abs() < 0.01, "{s}");
    assert_eq!(s["scope"]["include_former"], false);
    let with = api.ok("/api/v1/portfolio?include_former=true").await;
    assert_eq!(with["accounts"], before_all["accounts"]);
    assert_eq!(with["arr_total"], before_all["arr_total"]);
    assert_eq!(with["scope"]["include_former"], true);
    let by_seg = api.ok("/api/v1/portfolio/breakdown?page_size=100").await;
    let sum: u64 = by_seg["items"].as_array().expect("items").iter().map(|i| i["accounts"].as_u64().expect("n")).sum();
    assert_eq!(sum, customers - n);
    let trend = api.ok("/api/v1/portfolio/trend?weeks=2").await;
    let trend_all = api.ok("/api/v1/portfolio/trend?weeks=2&include_former=1").await;
    let last = trend_before["points"][1]["accounts"].as_u64().expect("accounts");
    assert_eq!(trend["points"][1]["accounts"].as_u64(), Some(last - n), "{trend}");
    assert_eq!(trend["points"][0], trend_before["points"][0], "a week ago they were customers");
    assert_eq!(trend_all["points"][1]["accounts"].as_u64(), Some(everyone));
    let movers = api.ok("/api/v1/portfolio/movers?direction=any&page_size=100").await;
    assert!(ids_of(movers["items"].as_array().expect("items")).iter().all(|i| !former.contains(i)), "{movers}");

    // Lists.
    let list = api.all("/api/v1/accounts").await;
    assert_eq!(list.len() as u64, customers - n);
    assert!(ids_of(&list).iter().all(|i| !former.contains(i)));
    let list_all = api.all("/api/v1/accounts?include_former=true").await;
    assert_eq!(list_all.len() as u64, everyone);
    let flagged: Vec<String> = list_all
        .iter()
        .filter(|a| a["former"] == true)
        .map(|a| a["account_id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(flagged.len(), flagged_before + former.len(), "{flagged:?} vs {former:?}");
    assert!(former.iter().all(|i| flagged.contains(i)));
    api.bad("/api/v1/accounts?include_former=maybe", "parameter `include_former`").await;

    // Alerts: the former accounts' alerts resolved with reason churned, listed only on request.
    let feed = api.all("/api/v1/alerts?state=all").await;
    assert!(feed.iter().all(|a| !former.contains(&a["account_id"].as_str().unwrap_or("").to_owned())));
    let feed_all = api.all("/api/v1/alerts?state=all&include_former=true").await;
    let churned: Vec<&Value> =
        feed_all.iter().filter(|a| a["account_id"] == alerted.as_str() && a["reason"] == "churned").collect();
    assert!(!churned.is_empty(), "{feed_all:?}");
    assert!(churned.iter().all(|a| a["state"] == "resolved" && a["resolved_on"] == end().to_string()));
    assert!(feed_all
        .iter()
        .filter(|a| a["reason"] == "churned")
        .all(|a| former.contains(&a["account_id"].as_str().unwrap_or("").to_owned())));
    let summary = api.ok("/api/v1/alerts/summary").await;
    let summary_before_open: u64 =
        api.ok("/api/v1/alerts/summary?include_former=true").await["open"].as_u64().expect("open");
    assert_eq!(summary["open"].as_u64(), Some(summary_before_open), "no former account has an open alert left");

    // Graduation: the onboarding account is out of the counts and the list.
    let g = api.ok("/api/v1/graduation").await;
    assert_eq!(g["onboarding"].as_u64(), grad_before["onboarding"].as_u64().map(|o| o - 1), "{g}");
    let g_all = api.ok("/api/v1/graduation?include_former=true").await;
    assert_eq!(g_all["onboarding"], grad_before["onboarding"]);
    let glist = api.all("/api/v1/graduation/accounts").await;
    assert!(ids_of(&glist).iter().all(|i| *i != onboarding));
    let glist_all = api.all("/api/v1/graduation/accounts?include_former=true").await;
    assert!(ids_of(&glist_all).contains(&onboarding));

    // Forward forecast without them; the calibration and the back-cast unchanged (the past
    // as it was), as is the accuracy page.
    let r = api.ok("/api/v1/renewals").await;
    let due_ids = |w: &Value| ids_of(w["accounts"].as_array().expect("accounts"));
    assert!(!due_ids(&r["windows"][1]).contains(&due), "{}", r["windows"][1]);
    let r_all = api.ok("/api/v1/renewals?include_former=true").await;
    assert_eq!(due_ids(&r_all["windows"][1]), due_ids(&renewals_before["windows"][1]));
    assert_eq!(r["calibration"], renewals_before["calibration"]);
    assert_eq!(r["backcast"], renewals_before["backcast"]);
    let a = api.ok("/api/v1/accuracy").await;
    assert_eq!(a["horizons"], accuracy_before["horizons"]);
    assert_eq!(a["outcomes"], accuracy_before["outcomes"]);
    api.bad("/api/v1/accuracy?include_former=true", "unknown parameter `include_former`").await;

    // The account page and its history still work, and say since when.
    let d = api.ok(&format!("/api/v1/accounts/{}", urlencode(&alerted))).await;
    assert_eq!(d["health"]["former"], true);
    assert_eq!(d["former_since"], end().to_string());
    assert!(d["open_alerts"].as_array().is_some_and(Vec::is_empty), "{}", d["open_alerts"]);
    let hist = api.ok(&format!("/api/v1/accounts/{}/history?days=3", urlencode(&alerted))).await;
    assert_eq!(hist["points"].as_array().map(Vec::len), Some(3));
    let own = api.ok(&format!("/api/v1/accounts/{}/alerts?state=resolved", urlencode(&alerted))).await;
    assert!(own["items"].as_array().expect("items").iter().any(|a| a["reason"] == "churned"), "{own}");
    let html = page_html(&api, &format!("/accounts/{}", urlencode(&alerted))).await;
    assert!(html.contains(&format!("Former customer since {}", end())), "account page");
    assert!(html.contains("(churned)"), "alert history shows the reason");
    let html = page_html(&api, "/accounts?include_former=true").await;
    assert!(html.contains("data-testid=\"former\""), "the list marks former accounts");
    let d = api.ok(&format!("/api/v1/accounts/{}", urlencode(list[0]["account_id"].as_str().expect("id")))).await;
    assert_eq!(d["former_since"], Value::Null);
}

/// Rewrites the newest health result of `id` with `status` and `coverage`, its first
/// measure stale as of `stale_since`.
async fn set_quality(
    env: &pulse_e2e::TestEnv,
    id: &str,
    status: pulse_core::DataStatus,
    coverage: f64,
    stale_since: NaiveDate,
) {
    let ch = env.ch();
    let (mut h, _) = rows_of(&ch, id, end()).await;
    h.data_status = status;
    h.coverage = coverage;
    if let Some(s) = h.measure_states.first_mut() {
        *s = pulse_core::InputState::Stale;
    }
    if let Some(d) = h.measure_as_of.first_mut() {
        *d = Some(stale_since);
    }
    let mut v: Value = serde_json::from_str(&h.result).expect("result");
    v["data_status"] = status.as_str().into();
    v["coverage"] = coverage.into();
    v["measures"][0]["state"] = "stale".into();
    v["measures"][0]["as_of"] = stale_since.to_string().into();
    h.result = v.to_string();
    h.computed_at += Duration::seconds(1);
    pulse_storage::insert(&ch, tables::ACCOUNT_HEALTH, &[h], 10).await.expect("health");
}

#[tokio::test]
async fn data_status_is_counted_filtered_and_shown() {
    let env = loaded(ACCOUNTS, DAYS).await;
    let api = spawn(&env).await;
    // Two accounts whose data is fine; the demo may have insufficient ones of its own.
    let fine = api.all("/api/v1/accounts?sort=name&data_status=ok,partial").await;
    let (stale, thin) = (
        fine[0]["account_id"].as_str().expect("id").to_owned(),
        fine[1]["account_id"].as_str().expect("id").to_owned(),
    );
    let before = api.ok("/api/v1/portfolio").await;
    let stale0 = before["data_status"]["stale"].as_u64().expect("stale");
    let thin0 = before["data_status"]["insufficient"].as_u64().expect("insufficient");
    let accounts = before["accounts"].as_u64().expect("accounts");
    let long_ago = end() - chrono::Days::new(120);
    set_quality(&env, &stale, pulse_core::DataStatus::Stale, 0.75, long_ago).await;
    set_quality(&env, &thin, pulse_core::DataStatus::Insufficient, 0.4, long_ago).await;

    let s = api.ok("/api/v1/portfolio").await;
    let ds = &s["data_status"];
    assert_eq!((ds["stale"].as_u64(), ds["insufficient"].as_u64()), (Some(stale0 + 1), Some(thin0 + 1)), "{s}");
    let by_status: u64 = ["ok", "partial", "stale", "insufficient"].iter().map(|k| ds[k].as_u64().expect("n")).sum();
    assert_eq!(by_status, accounts, "{s}");
    let colors: u64 = ["green", "yellow", "red"].iter().map(|c| s["colors"][c].as_u64().expect("color")).sum();
    assert_eq!(colors, accounts, "still counted in their colors");
    let by = api.ok("/api/v1/portfolio/breakdown?by=csm&page_size=100").await;
    let items = by["items"].as_array().expect("items");
    assert_eq!(items.iter().map(|i| i["stale"].as_u64().expect("stale")).sum::<u64>(), stale0 + 1);
    assert_eq!(items.iter().map(|i| i["insufficient"].as_u64().expect("insufficient")).sum::<u64>(), thin0 + 1);
    assert_eq!(stale0, 0, "no source stalled in the fixture");

    let only = api.ok("/api/v1/accounts?data_status=stale").await;
    assert_eq!(ids_of(only["items"].as_array().expect("items")), vec![stale.clone()]);
    assert_eq!(only["items"][0]["data_status"], "stale");
    assert_eq!(only["items"][0]["coverage"], 0.75);
    let two = api.all("/api/v1/accounts?data_status=stale,insufficient").await;
    assert_eq!(two.len() as u64, thin0 + 2);
    assert!(ids_of(&two).contains(&thin) && two.iter().all(|a| a["data_status"] != "ok"));
    let counted = api.ok("/api/v1/accounts?data_status=stale,insufficient").await;
    let c = &counted["data_status"];
    assert_eq!(
        (c["stale"].as_u64(), c["insufficient"].as_u64(), c["ok"].as_u64()),
        (Some(1), Some(thin0 + 1), Some(0))
    );
    let every = api.ok("/api/v1/accounts?page_size=3").await;
    assert_eq!(every["data_status"]["stale"], 1, "counted over every page: {every}");
    let ok = api.ok("/api/v1/accounts?data_status=ok,partial&page_size=100").await;
    assert_eq!(ok["total"].as_u64(), Some(accounts - thin0 - 2));
    api.bad(
        "/api/v1/accounts?data_status=bogus",
        "parameter `data_status`: `bogus` is not one of ok, partial, stale, insufficient",
    )
    .await;
    let filters = api.ok("/api/v1/filters").await;
    assert_eq!(filters["data_statuses"], serde_json::json!(["ok", "partial", "stale", "insufficient"]));

    // The pages: counts beside the colors, badges in the list, the account's measures.
    let html = page_html(&api, "/").await;
    assert!(html.contains("data-testid=\"stale\">1<"), "portfolio cards");
    assert!(html.contains(&format!("data-testid=\"insufficient\">{}<", thin0 + 1)), "portfolio cards");
    let html = page_html(&api, "/accounts?data_status=insufficient").await;
    assert!(html.contains("class=\"dq insufficient\""), "list badge");
    let html = page_html(&api, &format!("/accounts/{}", urlencode(&stale))).await;
    assert!(html.contains("data-status=\"stale\""), "account badge");
    assert!(html.contains("coverage 75%"));
    assert!(html.contains(&format!("as of {long_ago}")) && html.contains("class=\"dq stale\""), "the stale measure");
    let d = api.ok(&format!("/api/v1/accounts/{}", urlencode(&thin))).await;
    assert_eq!(
        (d["health"]["data_status"].as_str(), d["health"]["coverage"].as_f64()),
        (Some("insufficient"), Some(0.4))
    );
}

fn stall_row(
    source: &str,
    transition: Transition,
    since: chrono::DateTime<Utc>,
    opened_at: chrono::DateTime<Utc>,
    at: chrono::DateTime<Utc>,
) -> SystemAlertRow {
    SystemAlertRow {
        rule: pulse_storage::system_alerts::SOURCE_STALLED.into(),
        source: source.into(),
        opened_at,
        transition,
        at,
        since,
        lag_seconds: (at - since).num_seconds() as f64,
        limit_seconds: 7200.0,
        message: String::new(),
        emitted_at: at,
    }
}

#[tokio::test]
async fn stalled_sources_are_served_and_shown_on_every_page() {
    let env = loaded(15, 3).await;
    let api = spawn(&env).await;
    let none = api.ok("/api/v1/sources").await;
    assert_eq!(none["stalled"], serde_json::json!([]));
    // Whole milliseconds, as DateTime64(3) stores them.
    let now = millis(Utc::now().timestamp_millis());
    let since = now - Duration::hours(6) - Duration::minutes(5);
    let opened = now - Duration::hours(4);
    let rows = [
        stall_row("usage", Transition::Opened, since, opened, opened),
        // A CRM stall that is over.
        stall_row("crm", Transition::Opened, since, opened, opened),
        stall_row("crm", Transition::Resolved, since, opened, now - Duration::hours(1)),
    ];
    pulse_storage::insert(&env.ch(), tables::SYSTEM_ALERTS, &rows, 10).await.expect("system alerts");
    let s = api.ok("/api/v1/sources").await;
    let stalled = s["stalled"].as_array().expect("stalled");
    assert_eq!(stalled.len(), 1, "{s}");
    let u = &stalled[0];
    assert_eq!(u["source"], "usage");
    let message = format!(
        "usage feed 6 h behind since {}",
        since.format(if since.date_naive() == Utc::now().date_naive() { "%H:%M UTC" } else { "%Y-%m-%d %H:%M UTC" })
    );
    assert_eq!(u["message"], message.as_str(), "{u}");
    assert!((f(u, "behind_seconds") - 6.0 * 3600.0 - 300.0).abs() < 60.0, "{u}");
    assert_eq!(u["limit_seconds"], 7200.0);
    let id = api.ok("/api/v1/accounts?page_size=1").await["items"][0]["account_id"].as_str().expect("id").to_owned();
    for page in
        ["/", "/accounts", &format!("/accounts/{}", urlencode(&id)), "/graduation", "/alerts", "/renewals", "/accuracy"]
    {
        let html = page_html(&api, page).await;
        assert!(html.contains("data-testid=\"stalled-source\" data-source=\"usage\""), "{page}: no banner");
        assert!(html.contains(&message), "{page}: {message}");
        assert!(!html.contains("data-source=\"crm\""), "{page}: the CRM stall is over");
    }
    // The source flows again: no banner.
    let flows = [stall_row("usage", Transition::Resolved, since, opened, now)];
    pulse_storage::insert(&env.ch(), tables::SYSTEM_ALERTS, &flows, 10).await.expect("resolved");
    assert_eq!(api.ok("/api/v1/sources").await["stalled"], serde_json::json!([]));
    assert!(!page_html(&api, "/").await.contains("stalled-source"));
}

/// A database migrated to version 7 (before 008), as the previous release left it.
async fn at_version_7() -> pulse_e2e::TestEnv {
    let tag = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let clickhouse = pulse_runtime::clickhouse::ClickHouseConfig {
        url: std::env::var("PULSE_TEST_CLICKHOUSE").unwrap_or_else(|_| "http://127.0.0.1:8123".into()),
        database: format!("pulse_test_{tag}"),
        ..Default::default()
    };
    let now = u32::try_from(Utc::now().timestamp()).unwrap_or(0);
    let to7 = pulse_runtime::migrate::MigrateOptions { up_to: Some(7), ..Default::default() };
    pulse_runtime::migrate::migrate_with(&clickhouse, now, &to7).await.expect("migrate to version 7");
    pulse_e2e::TestEnv {
        topics: pulse_runtime::kafka::TopicsConfig::with_prefix(&format!("test.{tag}")),
        kafka: pulse_runtime::kafka::KafkaConfig::default(),
        tag,
        clickhouse,
    }
}

/// One account's results and an alert of one day, as JSON the previous release stored
/// (without the v3 fields).
fn old_results(day: NaiveDate) -> (pulse_core::Evaluation, String, String) {
    let mut engine = pulse_core::Engine::new(pulse_core::ScoringConfig::default());
    let lines = [
        r#"{"type":"account","event_id":"a1","account_id":"old","timestamp":"2026-10-01T08:00:00Z","name":"Old Co","csm":"Dana","licensed_seats":5,"lifecycle_stage":"adoption","arr":1000,"segment":"smb"}"#,
        r#"{"type":"usage","event_id":"u1","account_id":"old","user_id":"ann","event":"open","timestamp":"2026-11-20T10:00:00Z"}"#,
    ];
    for l in lines {
        engine.apply(&pulse_core::parse_event(l.as_bytes()).expect("valid"));
    }
    let ev = engine.evaluate("old", day).expect("evaluated");
    let strip = |v: &mut Value| {
        for k in ["former", "data_status", "coverage"] {
            v.as_object_mut().map(|o| o.remove(k));
        }
    };
    let mut h = serde_json::to_value(&ev.health).expect("json");
    strip(&mut h);
    for m in h["measures"].as_array_mut().into_iter().flatten() {
        m.as_object_mut().map(|o| {
            o.remove("as_of");
            o.remove("state")
        });
    }
    let mut r = serde_json::to_value(&ev.readiness).expect("json");
    strip(&mut r);
    (ev, h.to_string(), r.to_string())
}

#[tokio::test]
async fn results_stored_before_008_read_as_customers_with_full_data() {
    let env = at_version_7().await;
    let ch = env.ch();
    let day = end();
    let (ev, health, readiness) = old_results(day);
    let names: Vec<String> = ev.health.measures.iter().map(|m| m.name.as_str().to_owned()).collect();
    assert!(names.len() >= 2, "{names:?}");
    // The columns the previous release's writers fill.
    ch.query(
        "INSERT INTO account_health (account_id, as_of, score, color, dau, wau, mau, measure_names, measure_values, \
         measure_scores, measure_weights, name, segment, csm, lifecycle_stage, usage_profile, arr, config_version, \
         result, computed_at) VALUES ('old', ?, ?, 'yellow', 1, 1, 1, ?, ?, ?, ?, 'Old Co', 'smb', 'Dana', 'adoption', \
         'weekly', 1000, 'v0', ?, now())",
    )
    .bind(day.to_string())
    .bind(ev.health.score)
    .bind(&names)
    .bind(ev.health.measures.iter().map(|m| m.value).collect::<Vec<_>>())
    .bind(ev.health.measures.iter().map(|m| m.score).collect::<Vec<_>>())
    .bind(ev.health.measures.iter().map(|m| m.weight).collect::<Vec<_>>())
    .bind(&health)
    .execute()
    .await
    .expect("old health row");
    ch.query(
        "INSERT INTO graduation_readiness (account_id, as_of, total, verdict, lifecycle_stage, config_version, result, \
         computed_at) VALUES ('old', ?, 3.5, 'not_ready', 'adoption', 'v0', ?, now())",
    )
    .bind(day.to_string())
    .bind(&readiness)
    .execute()
    .await
    .expect("old readiness row");
    ch.query(
        "INSERT INTO health_alerts (alert_id, account_id, rule, transition, state, opened_on, as_of, severity, message, \
         details, version, emitted_at) VALUES ('old/low_engagement/2026-11-01', 'old', 'low_engagement', 'opened', \
         'opened', '2026-11-01', '2026-11-01', 'warning', 'm', '{}', 1, now64(3)), \
         ('old/low_engagement/2026-11-01', 'old', 'low_engagement', 'resolved', 'resolved', '2026-11-01', '2026-11-10', \
         'warning', 'm', '{}', 2, now64(3))",
    )
    .execute()
    .await
    .expect("old alert rows");

    let now = u32::try_from(Utc::now().timestamp()).unwrap_or(0);
    let done = pulse_runtime::migrate::migrate(&env.clickhouse, now).await.expect("migrate to the latest");
    assert_eq!(done.first(), Some(&8), "{done:?}");
    // A second run changes nothing (every statement re-runnable).
    pulse_runtime::migrate::migrate(&env.clickhouse, now).await.expect("migrate again");

    // Row types read the old rows with the defaults.
    let (h, r) = rows_of(&ch, "old", day).await;
    assert!(!h.former && !r.former);
    assert_eq!((h.data_status, h.coverage), (pulse_core::DataStatus::Ok, 1.0));
    assert_eq!((r.data_status, r.coverage), (pulse_core::DataStatus::Ok, 1.0));
    assert_eq!(h.measure_as_of, vec![None; names.len()], "parallel to measure_names");
    assert_eq!(h.measure_states, vec![pulse_core::InputState::Ok; names.len()]);
    assert_eq!((r.technical_state, r.technical_as_of), (pulse_core::InputState::Ok, None));
    let reason: String =
        ch.query("SELECT reason FROM alerts_current FINAL WHERE account_id = 'old'").fetch_one().await.expect("reason");
    assert_eq!(reason, "");

    // The API serves them as customers with full data.
    let api = spawn(&env).await;
    let s = api.ok("/api/v1/portfolio").await;
    assert_eq!(s["accounts"], 1, "{s}");
    assert_eq!(s["data_status"]["ok"], 1);
    let d = api.ok("/api/v1/accounts/old").await;
    assert_eq!((d["health"]["former"].as_bool(), d["health"]["data_status"].as_str()), (Some(false), Some("ok")));
    assert_eq!(d["health"]["coverage"], 1.0);
    assert_eq!(d["readiness"]["former"], false);
    assert_eq!(d["former_since"], Value::Null);
    let alerts = api.ok("/api/v1/alerts?state=all").await;
    assert_eq!(alerts["items"][0]["reason"], Value::Null, "{alerts}");

    // New rows carry the new columns into the latest tables and alerts_current (the
    // views were given their new queries).
    let next = day + chrono::Days::new(1);
    let (mut h2, mut r2) = (h.clone(), r.clone());
    h2.as_of = next;
    h2.former = true;
    h2.data_status = pulse_core::DataStatus::Insufficient;
    h2.coverage = 0.5;
    r2.as_of = next;
    r2.former = true;
    r2.coverage = 0.25;
    pulse_storage::insert(&ch, tables::ACCOUNT_HEALTH, &[h2], 10).await.expect("health");
    pulse_storage::insert(&ch, tables::GRADUATION_READINESS, &[r2], 10).await.expect("readiness");
    let latest: (bool, String, f64) = ch
        .query(
            "SELECT former, toString(data_status), coverage FROM account_health_latest FINAL WHERE account_id = 'old'",
        )
        .fetch_one()
        .await
        .expect("latest health");
    assert_eq!(latest, (true, "insufficient".to_owned(), 0.5));
    let latest: (bool, f64) = ch
        .query("SELECT former, coverage FROM graduation_readiness_latest FINAL WHERE account_id = 'old'")
        .fetch_one()
        .await
        .expect("latest readiness");
    assert_eq!(latest, (true, 0.25));
    let opened: AlertRow = ch
        .query("SELECT ?fields FROM health_alerts FINAL WHERE account_id = 'old' AND state = 'opened'")
        .fetch_one()
        .await
        .expect("opened");
    let churned = AlertRow {
        alert_id: "old/low_engagement/2026-11-15".into(),
        opened_on: NaiveDate::from_ymd_opt(2026, 11, 15).expect("date"),
        as_of: next,
        transition: Transition::Resolved,
        state: TransitionState::Resolved,
        reason: Some(TransitionReason::Churned),
        version: 5,
        ..opened
    };
    pulse_storage::insert(&ch, tables::HEALTH_ALERTS, &[churned], 10).await.expect("alert");
    let reason: String = ch
        .query("SELECT reason FROM alerts_current FINAL WHERE alert_id = 'old/low_engagement/2026-11-15'")
        .fetch_one()
        .await
        .expect("reason");
    assert_eq!(reason, "churned");
    env.clickhouse
        .server_client()
        .query(&format!("DROP DATABASE IF EXISTS {}", env.clickhouse.database))
        .execute()
        .await
        .ok();
}
