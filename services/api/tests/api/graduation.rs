use crate::common::*;

#[tokio::test]
async fn pipeline_counts_onboarding_verdicts() {
    let env = shared().await;
    let api = spawn(env).await;
    let expected = expected(ACCOUNTS, DAYS);
    let onboarding: Vec<&serde_json::Value> = expected
        .iter()
        .filter(|((_, k), v)| k == "readiness" && v["lifecycle_stage"] == "onboarding" && v["former"] != true)
        .map(|(_, v)| v)
        .collect();
    let p = api.ok("/api/v1/graduation").await;
    assert_eq!(p["onboarding"].as_u64(), Some(onboarding.len() as u64), "{p}");
    for v in ["ready", "close", "not_ready"] {
        let want = onboarding.iter().filter(|r| r["verdict"] == v).count() as u64;
        assert_eq!(p[v].as_u64(), Some(want), "{v}");
    }
    let overdue = onboarding.iter().filter(|r| r["overdue"] == true).count() as u64;
    let recovery = onboarding.iter().filter(|r| r["recovery_plan_needed"] == true).count() as u64;
    assert_eq!(p["overdue"].as_u64(), Some(overdue));
    assert_eq!(p["recovery_plan_needed"].as_u64(), Some(recovery));
    assert!(overdue > 0 && recovery > 0, "the demo has overdue onboarding accounts");
    // Nearest to ready: not ready yet, best total first.
    let nearest = p["nearest_to_ready"].as_array().cloned().expect("nearest_to_ready");
    assert!(!nearest.is_empty());
    assert!(nearest.iter().all(|n| n["verdict"] != "ready"));
    assert!(is_sorted_by(&nums(&nearest, "total"), true));
    let best_not_ready = onboarding
        .iter()
        .filter(|r| r["verdict"] != "ready")
        .map(|r| r["total"].as_f64().expect("total"))
        .fold(0.0, f64::max);
    assert_eq!(nearest[0]["total"].as_f64(), Some(best_not_ready));
}

#[tokio::test]
async fn pipeline_list_filters_and_sorts() {
    let env = shared().await;
    let api = spawn(env).await;
    let all = api.all("/api/v1/graduation/accounts").await;
    let p = api.ok("/api/v1/graduation").await;
    assert_eq!(all.len() as u64, p["onboarding"].as_u64().expect("onboarding"));
    for item in &all {
        for b in item["blockers"].as_array().into_iter().flatten() {
            assert!(b["needed_to_clear"].is_string() && b["reason"].is_string(), "{b}");
        }
        assert!(item["days_in_stage"].is_number(), "{item}");
    }
    let overdue = api.ok("/api/v1/graduation/accounts?overdue=true").await;
    assert_eq!(overdue["total"], p["overdue"]);
    assert!(overdue["items"]
        .as_array()
        .expect("items")
        .iter()
        .all(|i| i["overdue"] == true && i["days_past_target"].as_i64() > Some(0)));
    let rec = api.ok("/api/v1/graduation/accounts?recovery_plan_needed=1").await;
    assert_eq!(rec["total"], p["recovery_plan_needed"]);
    let ready = api.ok("/api/v1/graduation/accounts?verdict=ready").await;
    assert_eq!(ready["total"], p["ready"]);
    assert!(ready["items"]
        .as_array()
        .expect("items")
        .iter()
        .all(|i| i["verdict"] == "ready" && i["blockers"] == serde_json::json!([])));
    let by_total = api.all("/api/v1/graduation/accounts?sort=-total").await;
    assert!(is_sorted_by(&nums(&by_total, "total"), true));
    let by_days = api.all("/api/v1/graduation/accounts?sort=days_in_stage").await;
    assert!(is_sorted_by(&nums(&by_days, "days_in_stage"), false));
    let by_blockers = api.all("/api/v1/graduation/accounts?sort=-blockers").await;
    let counts: Vec<f64> = by_blockers.iter().map(|i| i["blockers"].as_array().map_or(0, Vec::len) as f64).collect();
    assert!(is_sorted_by(&counts, true), "{counts:?}");
    let seg = api.ok("/api/v1/graduation/accounts?segment=smb").await;
    assert!(seg["items"].as_array().expect("items").iter().all(|i| i["segment"] == "smb"));
    api.bad("/api/v1/graduation/accounts?overdue=maybe", "parameter `overdue`").await;
    api.bad("/api/v1/graduation/accounts?verdict=almost", "parameter `verdict`").await;
}
