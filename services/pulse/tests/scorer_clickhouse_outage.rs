//! ClickHouse stopped for 30 s under a running `pulse scorer`: it pauses and retries,
//! and the results end identical to a clean run. Its own test binary: it stops the
//! shared ClickHouse (cargo runs test binaries one at a time).

use std::{
    path::Path,
    time::{Duration, Instant},
};

use pulse_e2e::{
    assert_same_results, feed_in_chunks, http_get, replay_expected, scenario, scrape, stack, wait_for_results,
    ServiceProcess, TestEnv,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_down_for_30s_under_the_scorer_ends_identical() {
    let env = TestEnv::new(3).await;
    let (ndjson, events, day) = scenario(16, 13);
    let expected = replay_expected(&ndjson, day);
    let scorer =
        ServiceProcess::spawn(Path::new(env!("CARGO_BIN_EXE_pulse")), &env, "scorer", &format!("ch-{}", env.tag));
    let feeder = feed_in_chunks(&env, events, 20, Duration::from_millis(800));
    // The outage strikes once the scorer is up and writing (it has stored a snapshot).
    scorer
        .wait_until("the scorer is ready and has stored a snapshot", Duration::from_secs(120), |at| async move {
            Ok(http_get(at, "/readyz").await?.0 == 200 && scrape(at, "pulse_scorer_snapshots_total", &[]).await? >= 1.0)
        })
        .await;
    let write_failed = [r#"error_type="write_failed""#];
    let failures_before = scorer.metric("pulse_scorer_errors_total", &write_failed).await.expect("metrics");
    stack(&["stop-clickhouse"]);
    let down = Instant::now();
    // The scorer must notice while ClickHouse is down: writes fail and are counted,
    // consumption pauses, `/readyz` fails.
    scorer
        .wait_until(
            "the scorer observes the outage (write failures, paused, not ready)",
            Duration::from_secs(28),
            |at| async move {
                let failures = scrape(at, "pulse_scorer_errors_total", &write_failed).await?;
                let paused = scrape(at, "pulse_scorer_paused", &[]).await?;
                Ok(failures > failures_before && paused == 1.0 && http_get(at, "/readyz").await?.0 == 503)
            },
        )
        .await;
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(down.elapsed())).await;
    stack(&["start-clickhouse"]);
    feeder.await.expect("feeder");
    let stored = wait_for_results(&env, day, &expected, Duration::from_secs(180)).await;
    scorer.terminate();
    assert_same_results(&stored, &expected);
    env.drop_database().await;
}
