//! ClickHouse stopped for 30 s under a running `pulse scorer`: it pauses and retries,
//! and the results end identical to a clean run. Its own test binary: it stops the
//! shared ClickHouse (cargo runs test binaries one at a time).

use std::{path::Path, time::Duration};

use pulse_e2e::{
    assert_same_results, feed_in_chunks, replay_expected, scenario, stack, wait_for_results, ServiceProcess, TestEnv,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_down_for_30s_under_the_scorer_ends_identical() {
    let env = TestEnv::new(3).await;
    let (ndjson, events, day) = scenario(16, 13);
    let expected = replay_expected(&ndjson, day);
    let scorer =
        ServiceProcess::spawn(Path::new(env!("CARGO_BIN_EXE_pulse")), &env, "scorer", &format!("ch-{}", env.tag));
    let feeder = feed_in_chunks(&env, events, 10, Duration::from_millis(800));
    tokio::time::sleep(Duration::from_secs(3)).await;
    stack(&["stop-clickhouse"]);
    tokio::time::sleep(Duration::from_secs(30)).await;
    stack(&["start-clickhouse"]);
    feeder.await.expect("feeder");
    let stored = wait_for_results(&env, day, &expected, Duration::from_secs(180)).await;
    scorer.terminate();
    assert_same_results(&stored, &expected);
    env.drop_database().await;
}
