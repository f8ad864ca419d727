//! The broker restarted (its storage persists) under a running `pulse scorer`: results
//! end identical to a clean run. Its own test binary: it restarts the shared broker.

use std::{path::Path, time::Duration};

use pulse_e2e::{
    assert_same_results, feed_in_chunks, http_get, replay_expected, scenario, scrape, stack, wait_for_results,
    ServiceProcess, TestEnv,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_under_the_scorer_ends_identical() {
    let env = TestEnv::new(3).await;
    let (ndjson, events, day) = scenario(16, 14);
    let expected = replay_expected(&ndjson, day);
    let scorer =
        ServiceProcess::spawn(Path::new(env!("CARGO_BIN_EXE_pulse")), &env, "scorer", &format!("broker-{}", env.tag));
    let feeder = feed_in_chunks(&env, events, 20, Duration::from_millis(800));
    // The restart strikes once the scorer is up and working (it has stored a snapshot).
    scorer
        .wait_until("the scorer is ready and has stored a snapshot", Duration::from_secs(120), |at| async move {
            Ok(http_get(at, "/readyz").await?.0 == 200 && scrape(at, "pulse_scorer_snapshots_total", &[]).await? >= 1.0)
        })
        .await;
    let errors_before = scorer.metric("pulse_scorer_errors_total", &[]).await.expect("metrics");
    stack(&["restart-broker"]);
    // The scorer must notice the broker going away: a consume, commit or publish error
    // is counted.
    scorer
        .wait_until(
            "the scorer observes the broker restart (an error counted)",
            Duration::from_secs(60),
            |at| async move { Ok(scrape(at, "pulse_scorer_errors_total", &[]).await? > errors_before) },
        )
        .await;
    feeder.await.expect("feeder");
    let stored = wait_for_results(&env, day, &expected, Duration::from_secs(180)).await;
    scorer.terminate();
    assert_same_results(&stored, &expected);
    env.drop_database().await;
}
