//! `GET /api/v1/reconcile` and the Accuracy page's reconcile line: nothing before the
//! first `pulse reconcile` run, then the latest run's summary.

use chrono::{DateTime, NaiveDate, Utc};
use pulse_reconcile::{store_run, ByMeasure, Summary};
use serde_json::json;

use crate::common::{fresh, spawn};

fn summary(run_at: &str, accounts: u64, days: u64, differences: u64) -> Summary {
    let day = |s: &str| s.parse::<NaiveDate>().expect("date");
    Summary {
        kind: "summary".into(),
        run_at: run_at.parse::<DateTime<Utc>>().expect("time"),
        from: day("2025-08-04"),
        to: day("2026-12-06"),
        accounts,
        days,
        rows_compared: accounts * days,
        differences,
        missing_rows: 0,
        by_measure: ByMeasure { seats: 0, dau: differences, wau: 0, mau: 0 },
        elapsed_ms: 2480,
    }
}

#[tokio::test]
async fn the_latest_reconcile_run_is_served_and_shown_on_the_accuracy_page() {
    let env = fresh().await;
    let api = spawn(&env).await;
    let auth = format!("Bearer {}", api.token);
    let page = || async { api.raw("/accuracy", Some(&auth)).await.text().await.expect("html") };
    // Before any run (no reconcile_runs table yet).
    assert_eq!(api.ok("/api/v1/reconcile").await, json!({"last_run": null}));
    assert!(page().await.contains("Stored results not yet checked against the raw events"));
    api.bad("/api/v1/reconcile?from=2026-01-01", "from").await;

    // A run with differences, then a later one without: the later is served.
    store_run(&env.ch(), &summary("2026-12-06T09:00:00.250Z", 60, 490, 3)).await.expect("store");
    let v = api.ok("/api/v1/reconcile").await;
    assert_eq!(
        (v["last_run"]["differences"].as_u64(), v["last_run"]["by_measure"]["dau"].as_u64()),
        (Some(3), Some(3))
    );
    assert!(page().await.contains(
        "Stored results differ from the raw events: <b data-testid=\"reconcile-differences\">3</b> differences"
    ));
    store_run(&env.ch(), &summary("2026-12-06T10:00:00.500Z", 60, 490, 0)).await.expect("store");
    let v = api.ok("/api/v1/reconcile").await;
    assert_eq!(
        v["last_run"],
        json!({"kind": "summary", "run_at": "2026-12-06T10:00:00.500Z", "from": "2025-08-04", "to": "2026-12-06", "accounts": 60,
               "days": 490, "rows_compared": 29400, "differences": 0, "missing_rows": 0,
               "by_measure": {"seats": 0, "dau": 0, "wau": 0, "mau": 0}, "elapsed_ms": 2480})
    );
    let html = page().await;
    assert!(
        html.contains("Stored results match the raw events: <b data-testid=\"reconcile-accounts\">60</b> accounts × <b data-testid=\"reconcile-days\">490</b> days"),
        "{}",
        html.lines().find(|l| l.contains("reconcile")).unwrap_or_default()
    );
    env.drop_database().await;
}
