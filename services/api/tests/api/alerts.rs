use crate::common::*;

#[tokio::test]
async fn feed_filters_sorts_and_summarizes() {
    let env = shared().await;
    let api = spawn(env).await;
    let open = api.all("/api/v1/alerts").await;
    assert!(!open.is_empty());
    assert!(open.iter().all(|a| a["state"] == "open" && a["resolved_on"].is_null()));
    let ages = nums(&open, "age_days");
    assert!(is_sorted_by(&ages, true), "default: oldest first");
    let s = api.ok("/api/v1/alerts/summary").await;
    assert_eq!(s["open"].as_u64(), Some(open.len() as u64));
    for r in s["by_rule"].as_array().expect("rules") {
        let rule = r["rule"].as_str().expect("rule");
        let of_rule: Vec<&serde_json::Value> = open.iter().filter(|a| a["rule"] == rule).collect();
        assert_eq!(r["open"].as_u64(), Some(of_rule.len() as u64), "{rule}");
        let buckets = r["age_0_7"].as_u64().expect("age_0_7")
            + r["age_8_30"].as_u64().expect("age_8_30")
            + r["age_over_30"].as_u64().expect("age_over_30");
        assert_eq!(buckets, of_rule.len() as u64);
        let oldest = of_rule.iter().filter_map(|a| a["age_days"].as_i64()).max();
        assert_eq!(r["oldest_days"].as_i64(), oldest);
        let filtered = api.ok(&format!("/api/v1/alerts?rule={rule}")).await;
        assert_eq!(filtered["total"], r["open"]);
    }
    let resolved = api.ok("/api/v1/alerts?state=resolved&page_size=100").await;
    assert!(resolved["items"]
        .as_array()
        .expect("items")
        .iter()
        .all(|a| a["state"] == "resolved" && a["resolved_on"].is_string()));
    let all = api.ok("/api/v1/alerts?state=all").await;
    assert_eq!(all["total"].as_u64(), Some(open.len() as u64 + resolved["total"].as_u64().expect("resolved total")));
    let warn = api.ok("/api/v1/alerts?severity=warning,critical").await;
    assert!(warn["items"].as_array().expect("items").iter().all(|a| a["severity"] != "info"));
    let by_opened = api.all("/api/v1/alerts?sort=opened_on").await;
    let opened = strs(&by_opened, "opened_on");
    assert!(opened.windows(2).all(|w| w[0] <= w[1]));
    let by_rule = api.all("/api/v1/alerts?sort=-rule").await;
    let rules = strs(&by_rule, "rule");
    assert!(rules.windows(2).all(|w| w[0] >= w[1]));
    // One account's alerts: all states by default.
    let id = open[0]["account_id"].as_str().expect("id");
    let mine = api.ok(&format!("/api/v1/accounts/{id}/alerts")).await;
    assert!(mine["items"].as_array().expect("items").iter().all(|a| a["account_id"] == id));
    let feed = api.ok(&format!("/api/v1/alerts?account_id={id}&state=all")).await;
    assert_eq!(feed["total"], mine["total"]);
    let d = api.ok(&format!("/api/v1/accounts/{id}")).await;
    let open_mine = open.iter().filter(|a| a["account_id"] == id).count();
    assert_eq!(d["open_alerts"].as_array().map(Vec::len), Some(open_mine));
    api.bad("/api/v1/alerts?state=closed", "parameter `state`").await;
    api.bad("/api/v1/alerts?rule=everything", "parameter `rule`").await;
    api.bad("/api/v1/alerts?acknowledged=yes", "parameter `acknowledged`").await;
}

#[tokio::test]
async fn acknowledge_records_who_when_and_why() {
    let env = loaded(15, 30).await;
    let api = spawn(&env).await;
    let open = api.ok("/api/v1/alerts?acknowledged=false&page_size=2").await;
    let unacked_before = open["total"].as_u64().expect("total");
    let alert_id = open["items"][0]["alert_id"].as_str().expect("id").to_owned();
    let body =
        serde_json::json!({"alert_id": alert_id, "note": "called the champion; plan agreed", "by": "Dana Whitfield"});
    let (s, v) = api.post("/api/v1/alerts/ack", "application/json", &body.to_string()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["acknowledged"]["by"], "Dana Whitfield");
    assert_eq!(v["principal"], TOKEN_NAME);
    let at: chrono::DateTime<chrono::Utc> = v["acknowledged"]["at"].as_str().expect("at").parse().expect("rfc3339");
    assert!((chrono::Utc::now() - at).num_seconds().abs() < 60);
    let acked = api.ok("/api/v1/alerts?acknowledged=true").await;
    assert_eq!(acked["total"], 1);
    let a = &acked["items"][0];
    assert_eq!(a["alert_id"], alert_id.as_str());
    assert_eq!(a["acknowledged"]["note"], "called the champion; plan agreed");
    assert_eq!(a["acknowledged"]["by"], "Dana Whitfield");
    let after = api.ok("/api/v1/alerts?acknowledged=false").await;
    assert_eq!(after["total"].as_u64(), Some(unacked_before - 1));
    let s = api.ok("/api/v1/alerts/summary").await;
    assert_eq!(s["unacknowledged"].as_u64(), Some(s["open"].as_u64().expect("open") - 1));
    // A second acknowledgement replaces the first; `by` defaults to the credential.
    let (s2, v2) = api
        .post("/api/v1/alerts/ack", "application/json", &serde_json::json!({"alert_id": alert_id}).to_string())
        .await;
    assert_eq!(s2, 200, "{v2}");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (s3, _) = api
        .post(
            "/api/v1/alerts/ack",
            "application/json",
            &serde_json::json!({"alert_id": alert_id, "note": "again"}).to_string(),
        )
        .await;
    assert_eq!(s3, 200);
    let acked = api.ok("/api/v1/alerts?acknowledged=true").await;
    assert_eq!(acked["total"], 1);
    assert_eq!(acked["items"][0]["acknowledged"]["by"], TOKEN_NAME);
    assert_eq!(acked["items"][0]["acknowledged"]["note"], "again");
    // Errors.
    let (s, v) = api.post("/api/v1/alerts/ack", "application/json", r#"{"alert_id":"no/such/alert"}"#).await;
    assert_eq!(s, 404, "{v}");
    let (s, _) = api.post("/api/v1/alerts/ack", "application/x-www-form-urlencoded", "alert_id=x").await;
    assert_eq!(s, 415, "forms (CSRF) are refused");
    for (body, want) in [
        ("not json", "body:"),
        (r#"{"alert_id": 5}"#, "body:"),
        (r#"{"alert_id": "a", "extra": 1}"#, "unknown field"),
        (r#"{"alert_id": ""}"#, "parameter `alert_id`"),
        (&*format!(r#"{{"alert_id": "{alert_id}", "note": "{}"}}"#, "x".repeat(1001)), "parameter `note`"),
        (&*format!(r#"{{"alert_id": "{alert_id}", "by": "a\u0000b"}}"#), "parameter `by`"),
    ] {
        let (s, v) = api.post("/api/v1/alerts/ack", "application/json", body).await;
        assert_eq!(s, 400, "{body}: {v}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| m.contains(want)), "{body}: {v}");
    }
    env.drop_database().await;
}

/// The fixture retracted the opening of one alert (late data): `alerts_current` holds it
/// as withdrawn, and neither the feed, the summary, the account's alerts and detail, nor
/// the pages show it; it cannot be acknowledged. The account's history is what
/// `health_alerts FINAL WHERE state != 'retracted'` stores.
#[tokio::test]
async fn withdrawn_alerts_show_nowhere() {
    let env = shared().await;
    let api = spawn(env).await;
    let withdrawn: Vec<String> = env
        .ch()
        .query("SELECT alert_id FROM alerts_current FINAL WHERE status = 'withdrawn'")
        .fetch_all()
        .await
        .expect("withdrawn");
    assert_eq!(withdrawn.len(), 1, "the fixture withdraws one alert");
    let gone = withdrawn[0].clone();
    let retracted = env
        .scalar(&format!(
            "SELECT count() FROM health_alerts FINAL WHERE alert_id = '{gone}' AND state = 'retracted' \
             AND transition = 'opened'"
        ))
        .await;
    assert_eq!(retracted, 1, "{gone}: its opening is retracted in the history");
    let all = api.all("/api/v1/alerts?state=all").await;
    assert!(!all.is_empty());
    assert!(all.iter().all(|a| a["alert_id"] != gone.as_str() && a["state"] != "withdrawn"));
    let stored = env.scalar("SELECT uniqExact(alert_id) FROM health_alerts FINAL WHERE state != 'retracted'").await;
    assert_eq!(all.len() as u64, stored, "the feed (state=all) is the stored history, alert by alert");
    let open = api.all("/api/v1/alerts").await;
    assert!(open.iter().all(|a| a["alert_id"] != gone.as_str()));
    let s = api.ok("/api/v1/alerts/summary").await;
    assert_eq!(s["open"].as_u64(), Some(open.len() as u64), "the summary does not count it");

    let id = gone.split('/').next().expect("account id").to_owned();
    let mine = api.all(&format!("/api/v1/accounts/{}/alerts", crate::portfolio::urlencode(&id))).await;
    assert!(mine.iter().all(|a| a["alert_id"] != gone.as_str()));
    let mine_stored = env
        .scalar(&format!(
            "SELECT uniqExact(alert_id) FROM health_alerts FINAL WHERE state != 'retracted' AND account_id = '{id}'"
        ))
        .await;
    assert_eq!(mine.len() as u64, mine_stored, "{id}: its alerts are its stored history");
    let d = api.ok(&format!("/api/v1/accounts/{}", crate::portfolio::urlencode(&id))).await;
    let open_ids: Vec<&str> =
        d["open_alerts"].as_array().expect("open alerts").iter().filter_map(|a| a["alert_id"].as_str()).collect();
    assert!(!open_ids.contains(&gone.as_str()));

    let auth = format!("Bearer {}", api.token);
    let attr = |alert: &str| format!("data-alert=\"{alert}\"");
    let page = api.raw(&format!("/accounts/{}", crate::portfolio::urlencode(&id)), Some(&auth)).await;
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.expect("html");
    assert!(!html.contains(&gone), "the account page never names it");
    for a in &mine {
        let shown = a["alert_id"].as_str().expect("id");
        assert!(html.contains(&format!("data-history-alert=\"{shown}\"")), "{shown} is in the page's history");
    }
    let path = format!("/alerts?state=all&page_size=100&account_id={}", crate::portfolio::urlencode(&id));
    let html = api.raw(&path, Some(&auth)).await.text().await.expect("html");
    assert!(!html.contains(&attr(&gone)), "{path}");
    for a in &mine {
        let shown = a["alert_id"].as_str().expect("id");
        assert!(html.contains(&attr(shown)), "{path}: {shown} is listed");
    }
    let body = serde_json::json!({"alert_id": gone}).to_string();
    let (s, v) = api.post("/api/v1/alerts/ack", "application/json", &body).await;
    assert_eq!(s, 404, "a withdrawn alert cannot be acknowledged: {v}");
}
