use crate::common::*;

#[tokio::test]
async fn summary_counts_colors_as_the_core_does() {
    let env = shared().await;
    let api = spawn(env).await;
    let s = api.ok("/api/v1/portfolio").await;
    let expected = expected(ACCOUNTS, DAYS);
    // Former customers (SPEC v3 §8) are left out of the portfolio.
    let count = |c: &str| {
        expected.iter().filter(|((_, k), v)| k == "health" && v["color"] == c && v["former"] != true).count() as u64
    };
    assert_eq!(s["as_of"], end().to_string());
    assert_eq!(s["accounts"], u64::from(ACCOUNTS));
    for c in ["green", "yellow", "red"] {
        assert_eq!(s["colors"][c].as_u64(), Some(count(c)), "{c}: {s}");
    }
    assert!(count("red") > 0 && count("yellow") + count("red") > 0, "the demo cohorts include at-risk accounts");
    // ARR at risk = ARR of red and yellow accounts, from the account list.
    let accounts = api.all("/api/v1/accounts").await;
    let risk: f64 = accounts.iter().filter(|a| a["color"] != "green").map(|a| a["arr"].as_f64().expect("arr")).sum();
    let total: f64 = accounts.iter().map(|a| a["arr"].as_f64().expect("arr")).sum();
    assert!((s["arr_at_risk"].as_f64().expect("arr_at_risk") - risk).abs() < 0.01, "{s}");
    assert!((s["arr_total"].as_f64().expect("arr_total") - total).abs() < 0.01, "{s}");
    let by = &s["arr_by_color"];
    let sum = by["yellow"].as_f64().expect("yellow") + by["red"].as_f64().expect("red");
    assert!((sum - risk).abs() < 0.01);
}

#[tokio::test]
async fn summary_and_breakdown_by_segment_and_csm_add_up() {
    let env = shared().await;
    let api = spawn(env).await;
    let all = api.ok("/api/v1/portfolio").await;
    for by in ["segment", "csm"] {
        let page = api.ok(&format!("/api/v1/portfolio/breakdown?by={by}&sort=key")).await;
        let items = page["items"].as_array().cloned().expect("items");
        assert!(items.len() >= 2, "{page}");
        let keys = strs(&items, "key");
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "sort=key");
        let sum = |f: &str| items.iter().map(|i| i[f].as_f64().unwrap_or_else(|| panic!("{f}: {i}"))).sum::<f64>();
        assert_eq!(sum("accounts") as u64, all["accounts"].as_u64().expect("accounts"));
        assert_eq!(sum("red") as u64, all["colors"]["red"].as_u64().expect("colors.red"));
        assert!((sum("arr_at_risk") - all["arr_at_risk"].as_f64().expect("arr_at_risk")).abs() < 0.01);
        // Each group equals the scoped summary.
        let key = keys[0].clone();
        let scoped = api.ok(&format!("/api/v1/portfolio?{by}={}", urlencode(&key))).await;
        assert_eq!(scoped["accounts"], items[0]["accounts"], "{by}={key}");
        assert_eq!(scoped["colors"]["green"], items[0]["green"]);
        assert_eq!(scoped["scope"][by], key.as_str());
        // Default sort: ARR at risk, descending; pagination.
        let d = api.ok(&format!("/api/v1/portfolio/breakdown?by={by}")).await;
        assert_eq!(d["sort"], "-arr_at_risk");
        assert!(is_sorted_by(&nums(d["items"].as_array().map_or(&[][..], |v| v), "arr_at_risk"), true));
        let p2 = api.ok(&format!("/api/v1/portfolio/breakdown?by={by}&sort=key&page=2&page_size=1")).await;
        assert_eq!(p2["items"][0]["key"], keys[1].as_str());
        assert_eq!(p2["total"].as_u64(), Some(keys.len() as u64));
    }
}

pub fn urlencode(s: &str) -> String {
    url_escape(s)
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn trend_is_weekly_and_ends_with_today() {
    let env = shared().await;
    let api = spawn(env).await;
    let t = api.ok("/api/v1/portfolio/trend?weeks=5").await;
    let points = t["points"].as_array().cloned().expect("points");
    assert_eq!(points.len(), 5);
    let days: Vec<chrono::NaiveDate> = strs(&points, "week_ending").iter().map(|d| d.parse().expect("date")).collect();
    assert_eq!(*days.last().expect("last"), end());
    assert!(days.windows(2).all(|w| (w[1] - w[0]).num_days() == 7), "{days:?}");
    let now = api.ok("/api/v1/portfolio").await;
    let last = points.last().expect("last");
    for c in ["green", "yellow", "red"] {
        assert_eq!(last[c], now["colors"][c]);
    }
    // Weeks before the data have no accounts; `to` moves the window.
    let early = api.ok("/api/v1/portfolio/trend?weeks=8&to=2026-11-07").await;
    let pts = early["points"].as_array().cloned().expect("points");
    assert_eq!(pts.last().map(|p| p["week_ending"].clone()), Some("2026-11-07".into()));
    assert_eq!(pts[0]["accounts"], 0, "before the fixture's first day");
    assert_eq!(pts.last().map(|p| p["accounts"].as_u64()), Some(Some(u64::from(ACCOUNTS))));
    api.bad("/api/v1/portfolio/trend?weeks=0", "parameter `weeks`").await;
    api.bad("/api/v1/portfolio/trend?weeks=100", "out of range").await;
    api.bad("/api/v1/portfolio/trend?to=yesterday", "parameter `to`").await;
}

#[tokio::test]
async fn movers_over_7_and_30_days() {
    let env = shared().await;
    let api = spawn(env).await;
    for window in [7, 30] {
        let m = api.ok(&format!("/api/v1/portfolio/movers?window={window}")).await;
        let items = m["items"].as_array().cloned().expect("items");
        assert!(!items.is_empty(), "the demo has falling accounts: {m}");
        let changes = nums(&items, "change");
        assert!(changes.iter().all(|c| *c < 0.0), "{changes:?}");
        assert!(is_sorted_by(&changes, false), "biggest drop first: {changes:?}");
        assert_eq!(m["window_days"], window);
        let compared: chrono::NaiveDate = m["compared_to"].as_str().expect("date").parse().expect("date");
        assert_eq!((end() - compared).num_days(), window);
        // The change is the difference of the two days' scores in the history.
        let first = &items[0];
        let id = first["account_id"].as_str().expect("id");
        let h = api.ok(&format!("/api/v1/accounts/{id}/history?from={compared}&to={}", end())).await;
        let pts = h["points"].as_array().cloned().expect("points");
        let (a, b) = (pts[0]["score"].as_f64().expect("s"), pts.last().expect("last")["score"].as_f64().expect("s"));
        assert!((b - a - first["change"].as_f64().expect("c")).abs() < 0.051, "{first} vs {a} -> {b}");
        assert_eq!(first["previous_score"].as_f64(), Some(a));
    }
    let up = api.ok("/api/v1/portfolio/movers?window=30&direction=up").await;
    assert!(nums(up["items"].as_array().map_or(&[][..], |v| v), "change").iter().all(|c| *c > 0.0));
    let any = api.ok("/api/v1/portfolio/movers?window=7&direction=any&page_size=3").await;
    let abs: Vec<f64> =
        nums(any["items"].as_array().map_or(&[][..], |v| v), "change").iter().map(|c| c.abs()).collect();
    assert!(is_sorted_by(&abs, true), "{abs:?}");
    assert_eq!(any["sort"], "-abs_change");
    let by_name = api.ok("/api/v1/portfolio/movers?window=30&sort=name").await;
    let names = strs(by_name["items"].as_array().map_or(&[][..], |v| v), "name");
    assert!(names.windows(2).all(|w| w[0] <= w[1]), "{names:?}");
    api.bad("/api/v1/portfolio/movers?window=0", "parameter `window`").await;
    api.bad("/api/v1/portfolio/movers?direction=sideways", "parameter `direction`").await;
    api.bad("/api/v1/portfolio/movers?sort=-bogus", "parameter `sort`").await;
}

#[tokio::test]
async fn filters_lists_what_the_data_holds() {
    let env = shared().await;
    let api = spawn(env).await;
    let f = api.ok("/api/v1/filters").await;
    assert_eq!(f["segments"], serde_json::json!(["enterprise", "mid_market", "smb"]));
    assert!(f["csms"].as_array().is_some_and(|c| c.len() == 5), "{f}");
    assert_eq!(f["colors"], serde_json::json!(["green", "yellow", "red"]));
    api.bad("/api/v1/filters?x=1", "unknown parameter `x`").await;
}
