use serde_json::Value;

use crate::{common::*, portfolio::urlencode};

#[tokio::test]
async fn list_filters_each_dimension() {
    let env = shared().await;
    let api = spawn(env).await;
    let all = api.all("/api/v1/accounts").await;
    assert_eq!(all.len() as u32, ACCOUNTS);
    let count = |pred: &dyn Fn(&Value) -> bool| all.iter().filter(|a| pred(a)).count() as u64;
    type Pred = Box<dyn Fn(&Value) -> bool>;
    let cases: Vec<(String, Pred)> = vec![
        ("color=red".into(), Box::new(|a| a["color"] == "red")),
        ("color=red,yellow".into(), Box::new(|a| a["color"] != "green")),
        ("segment=smb".into(), Box::new(|a| a["segment"] == "smb")),
        (format!("csm={}", urlencode("Marco Ruiz")), Box::new(|a| a["csm"] == "Marco Ruiz")),
        ("stage=onboarding".into(), Box::new(|a| a["lifecycle_stage"] == "onboarding")),
        ("verdict=ready".into(), Box::new(|a| a["verdict"] == "ready")),
        ("verdict=close,not_ready".into(), Box::new(|a| a["verdict"] == "close" || a["verdict"] == "not_ready")),
        (
            "red_flag=usage_declining".into(),
            Box::new(|a| a["red_flags"].as_array().is_some_and(|f| f.contains(&"usage_declining".into()))),
        ),
        (
            "red_flag=seats_unknown".into(),
            Box::new(|a| a["red_flags"].as_array().is_some_and(|f| f.contains(&"seats_unknown".into()))),
        ),
        ("color=green&segment=enterprise".into(), Box::new(|a| a["color"] == "green" && a["segment"] == "enterprise")),
    ];
    for (q, pred) in &cases {
        let v = api.ok(&format!("/api/v1/accounts?{q}&page_size=100")).await;
        let items = v["items"].as_array().cloned().expect("items");
        let want = count(pred.as_ref());
        assert!(want > 0, "{q}: the fixture should have matches");
        assert_eq!(v["total"].as_u64(), Some(want), "{q}");
        assert!(items.iter().all(pred), "{q}: {items:?}");
    }
    // Text search: case-insensitive, in name and id.
    let first_name = all[0]["name"].as_str().expect("name").to_owned();
    let word = first_name.split(' ').next().expect("word").to_lowercase();
    let v = api.ok(&format!("/api/v1/accounts?q={}", urlencode(&word))).await;
    let want = all.iter().filter(|a| a["name"].as_str().is_some_and(|n| n.to_lowercase().contains(&word))).count();
    assert_eq!(v["total"].as_u64(), Some(want as u64), "q={word}");
    let none = api.ok("/api/v1/accounts?q=zzzz-no-such").await;
    assert_eq!(none["total"], 0);
    assert_eq!(none["items"], serde_json::json!([]));
}

#[tokio::test]
async fn list_sorts_and_pages() {
    let env = shared().await;
    let api = spawn(env).await;
    for (sort, key, desc) in [
        ("score", "score", false),
        ("-score", "score", true),
        ("-arr", "arr", true),
        ("arr", "arr", false),
        ("change", "change", false),
        ("-change", "change", true),
    ] {
        let v = api.all(&format!("/api/v1/accounts?sort={sort}")).await;
        let vals: Vec<f64> = v.iter().filter_map(|a| a[key].as_f64()).collect();
        assert!(is_sorted_by(&vals, desc), "sort={sort}: {vals:?}");
        // Nulls go last either way.
        let first_null = v.iter().position(|a| a[key].is_null()).unwrap_or(v.len());
        assert!(v[first_null..].iter().all(|a| a[key].is_null()), "sort={sort}: nulls last");
    }
    let by_renewal = api.all("/api/v1/accounts?sort=renewal").await;
    let dates = strs(&by_renewal, "renewal_on");
    let known: Vec<&String> = dates.iter().filter(|d| !d.is_empty()).collect();
    assert!(known.windows(2).all(|w| w[0] <= w[1]), "{dates:?}");
    let by_name = api.all("/api/v1/accounts?sort=-name").await;
    let names: Vec<String> = strs(&by_name, "name").iter().map(|n| n.to_lowercase()).collect();
    assert!(names.windows(2).all(|w| w[0] >= w[1]), "{names:?}");
    // Pages are disjoint and ordered; past the end is empty, not an error.
    let p1 = api.ok("/api/v1/accounts?sort=-score&page_size=5").await;
    let p2 = api.ok("/api/v1/accounts?sort=-score&page_size=5&page=2").await;
    assert_eq!(p1["total"], p2["total"]);
    assert_eq!(p2["page"], 2);
    let (i1, i2) = (
        strs(p1["items"].as_array().expect("a"), "account_id"),
        strs(p2["items"].as_array().expect("a"), "account_id"),
    );
    assert!(i1.iter().all(|i| !i2.contains(i)));
    assert!(p1["items"][4]["score"].as_f64() >= p2["items"][0]["score"].as_f64());
    let past = api.ok("/api/v1/accounts?page=99").await;
    assert_eq!(past["items"], serde_json::json!([]));
    assert_eq!(past["total"].as_u64(), Some(u64::from(ACCOUNTS)));
    // change_days moves the comparison.
    let c30 = api.ok("/api/v1/accounts?change_days=30&sort=change&page_size=1").await;
    let c7 = api.ok("/api/v1/accounts?sort=change&page_size=1").await;
    assert!(c30["items"][0]["change"].as_f64().is_some() && c7["items"][0]["change"].as_f64().is_some());
}

#[tokio::test]
async fn detail_is_the_core_result() {
    let env = shared().await;
    let api = spawn(env).await;
    let expected = expected(ACCOUNTS, DAYS);
    let ids: Vec<String> = expected.keys().filter(|(_, k)| k == "health").map(|(a, _)| a.clone()).collect();
    for id in ids.iter().take(6) {
        let d = api.ok(&format!("/api/v1/accounts/{}", urlencode(id))).await;
        let mut h = expected[&(id.clone(), "health".into())].clone();
        let mut r = expected[&(id.clone(), "readiness".into())].clone();
        h.as_object_mut().map(|o| o.remove("kind"));
        r.as_object_mut().map(|o| o.remove("kind"));
        assert_eq!(d["health"], h, "{id}: health");
        assert_eq!(d["readiness"], r, "{id}: readiness");
        assert_eq!(d["as_of"], end().to_string());
        assert!(d["attributes"]["name"].as_str().is_some_and(|n| !n.is_empty()));
        assert!(d["health"]["measures"].as_array().is_some_and(|m| !m.is_empty()));
        let past = d["past_scores"].as_array().cloned().expect("past_scores");
        assert_eq!(past.iter().map(|p| p["days_ago"].as_u64().expect("days_ago")).collect::<Vec<_>>(), vec![7, 30]);
    }
    let (s, v) = api.get("/api/v1/accounts/no-such-account").await;
    assert_eq!(s, 404, "{v}");
    assert_eq!(v["error"]["code"], "not_found");
}

#[tokio::test]
async fn history_is_daily_with_thresholds() {
    let env = shared().await;
    let api = spawn(env).await;
    let list = api.ok("/api/v1/accounts?red_flag=usage_declining&page_size=1").await;
    let id = list["items"][0]["account_id"].as_str().expect("id").to_owned();
    let h = api.ok(&format!("/api/v1/accounts/{id}/history")).await;
    let pts = h["points"].as_array().cloned().expect("points");
    assert_eq!(pts.len() as u32, DAYS, "90-day default, capped by the data");
    let days: Vec<chrono::NaiveDate> = strs(&pts, "as_of").iter().map(|d| d.parse().expect("date")).collect();
    assert!(days.windows(2).all(|w| (w[1] - w[0]).num_days() == 1));
    assert_eq!(*days.last().expect("d"), end());
    let d = api.ok(&format!("/api/v1/accounts/{id}")).await;
    let last = pts.last().expect("last");
    assert_eq!(last["score"], d["health"]["score"]);
    for k in ["dau_pct", "wau_pct", "mau_pct", "wau_change_pct"] {
        assert_eq!(last[k], d["health"]["metrics"][k], "{k}");
    }
    assert_eq!(h["thresholds"]["green"], 70.0);
    assert_eq!(h["thresholds"]["yellow"], 40.0);
    assert!(h["thresholds"]["usage"].as_array().is_some_and(|u| !u.is_empty()));
    let ten = api.ok(&format!("/api/v1/accounts/{id}/history?days=10")).await;
    assert_eq!(ten["points"].as_array().map(Vec::len), Some(10));
    let range = api.ok(&format!("/api/v1/accounts/{id}/history?from=2026-11-01&to=2026-11-03")).await;
    assert_eq!(strs(range["points"].as_array().expect("p"), "as_of"), ["2026-11-01", "2026-11-02", "2026-11-03"]);
    api.bad(&format!("/api/v1/accounts/{id}/history?days=500"), "parameter `days`").await;
    api.bad(&format!("/api/v1/accounts/{id}/history?from=2025-01-01&to=2026-11-01"), "longer than 120 days").await;
    api.bad(&format!("/api/v1/accounts/{id}/history?from=2026-11-05&to=2026-11-01"), "after").await;
    api.bad(&format!("/api/v1/accounts/{id}/history?days=5&from=2026-11-01"), "exclude each other").await;
    let (s, _) = api.get("/api/v1/accounts/nope/history").await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn readiness_shows_sources_and_blockers() {
    let env = shared().await;
    let api = spawn(env).await;
    let expected = expected(ACCOUNTS, DAYS);
    let mut seen_assessment = false;
    let mut seen_computed = false;
    let mut seen_blocker = false;
    for ((id, kind), want) in &expected {
        if kind != "readiness" {
            continue;
        }
        let r = api.ok(&format!("/api/v1/accounts/{}/readiness", urlencode(id))).await;
        assert_eq!(r["total"], want["total"], "{id}");
        assert_eq!(r["verdict"], want["verdict"], "{id}");
        for dim in ["technical", "knowledge", "usage", "value", "stakeholder"] {
            let d = &r["dimensions"][dim];
            assert!(d["source"].is_string(), "{id} {dim}");
            if d["source"] == "assessment" {
                seen_assessment = true;
                assert!(d["author"].is_string(), "{id} {dim}: an assessment names its author");
            }
            seen_computed |= d["source"] == "computed";
        }
        for b in r["blockers"].as_array().into_iter().flatten() {
            seen_blocker = true;
            assert!(b["needed_to_clear"].as_str().is_some_and(|n| !n.is_empty()), "{b}");
        }
    }
    assert!(seen_assessment && seen_computed && seen_blocker);
}

/// Issue 20 item 2: the days the scoring config changed are marked. One account of a
/// small fixture gets its results from 2026-11-15 on rewritten under another config
/// version (newer rows, as the scorer writes after a config change); the history
/// carries each day's version and names the change day, also when that day opens the
/// requested range, and the account page marks it on the score chart and in a line.
#[tokio::test]
async fn history_marks_the_day_the_scorecard_changed() {
    const NEW: &str = "0123456789ab";
    let env = loaded(2, 12).await;
    let api = spawn(&env).await;
    let ids = strs(api.ok("/api/v1/accounts?sort=name").await["items"].as_array().expect("items"), "account_id");
    let (id, other) = (&ids[0], &ids[1]);
    env.ch()
        .query(
            "INSERT INTO account_health SELECT * REPLACE ({v:String} AS config_version, computed_at + 1 AS computed_at) \
             FROM account_health FINAL WHERE account_id = {id:String} AND as_of >= '2026-11-15'",
        )
        .param("v", NEW)
        .param("id", id)
        .execute()
        .await
        .expect("rewrite under a new config version");
    let old = pulse_core::ScoringConfig::default().version();
    let changed = |h: &Value| -> Vec<(String, Value)> {
        let pts = h["points"].as_array().cloned().expect("points");
        pts.iter()
            .filter(|p| !p["scorecard_changed_from"].is_null())
            .map(|p| (p["as_of"].as_str().expect("as_of").to_owned(), p["scorecard_changed_from"].clone()))
            .collect()
    };
    let h = api.ok(&format!("/api/v1/accounts/{id}/history")).await;
    assert_eq!(changed(&h), [("2026-11-15".to_owned(), Value::from(old.clone()))], "{h}");
    for p in h["points"].as_array().expect("points") {
        let want = if p["as_of"].as_str() >= Some("2026-11-15") { NEW } else { old.as_str() };
        assert_eq!(p["config_version"], want, "{p}");
    }
    let from_change = api.ok(&format!("/api/v1/accounts/{id}/history?from=2026-11-15&to=2026-11-17")).await;
    assert_eq!(changed(&from_change), [("2026-11-15".to_owned(), Value::from(old.clone()))], "range opens on it");
    let after = api.ok(&format!("/api/v1/accounts/{id}/history?from=2026-11-16")).await;
    assert_eq!(changed(&after), [], "no change after the day");
    let unchanged = api.ok(&format!("/api/v1/accounts/{other}/history")).await;
    assert_eq!(changed(&unchanged), [], "the other account kept its version");

    let page = |path: String| {
        let api = &api;
        async move {
            let r = api.raw(&path, Some(&format!("Bearer {}", api.token))).await;
            assert_eq!(r.status().as_u16(), 200, "GET {path}");
            r.text().await.expect("html")
        }
    };
    let html = page(format!("/accounts/{id}")).await;
    assert_eq!(html.matches("data-marker=").count(), 1, "one marker on the score chart");
    assert!(html.contains(r#"data-marker="2026-11-15""#), "the marker sits on the change day");
    assert!(
        html.contains(&format!(
            r#"<li data-day="2026-11-15"><span class="date">2026-11-15</span>: scorecard changed: <code>{old}</code> → <code>{NEW}</code></li>"#
        )),
        "the history line: {html}"
    );
    let html = page(format!("/accounts/{other}")).await;
    assert!(!html.contains("data-marker=") && !html.contains("scorecard changed:"), "no marker without a change");
}
