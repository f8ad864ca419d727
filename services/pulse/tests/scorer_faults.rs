//! Fault tests of `pulse scorer` as a real process over the real stack. Each ends with
//! results identical to a clean run (= `pulse replay` of the same scenario, which the
//! e2e test shows equals a clean streaming run).

use std::{path::Path, time::Duration};

use pulse_e2e::{
    assert_same_results, feed_in_chunks, replay_expected, scenario, scrape, wait_for_results, ServiceProcess, TestEnv,
};
use rand::Rng;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_pulse"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scorer_killed_with_sigkill_five_times_while_events_flow_ends_identical() {
    let env = TestEnv::new(3).await;
    let (ndjson, events, day) = scenario(20, 11);
    let expected = replay_expected(&ndjson, day);
    let group = format!("faults-{}", env.tag);
    let feeder = feed_in_chunks(&env, events, 100, Duration::from_millis(1500));
    let mut rng = rand::rng();
    for round in 0..5 {
        // Progress = the newest snapshot offsets grew (row counts shrink when merges
        // collapse older snapshots).
        let covered =
            "SELECT toUInt64(sum(m)) FROM (SELECT max(next_offset) AS m FROM scorer_snapshots GROUP BY `partition`)";
        let before = env.scalar(covered).await;
        let scorer = ServiceProcess::spawn(bin(), &env, "scorer", &group);
        // Kill only once this process has made progress (it holds partitions and has
        // snapshotted), at a random point after that.
        let progressed = env
            .wait_scalar(&format!("SELECT toUInt64(ifNull(({covered}) > {before}, 0))"), 1, Duration::from_secs(150))
            .await;
        assert_eq!(progressed, 1, "round {round}: the scorer made progress before the kill");
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..1500))).await;
        scorer.kill9();
    }
    feeder.await.expect("feeder");
    let scorer = ServiceProcess::spawn(bin(), &env, "scorer", &group);
    let stored = wait_for_results(&env, day, &expected, Duration::from_secs(180)).await;
    scorer.terminate();
    assert_same_results(&stored, &expected);
    env.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_scorer_joining_and_the_first_leaving_mid_stream_ends_identical() {
    let env = TestEnv::new(4).await;
    let (ndjson, events, day) = scenario(24, 12);
    let expected = replay_expected(&ndjson, day);
    let group = format!("rebalance-{}", env.tag);
    let feeder = feed_in_chunks(&env, events, 60, Duration::from_millis(500));
    let partitions = |at: std::net::SocketAddr| async move { scrape(at, "pulse_scorer_partitions", &[]).await };
    let first = ServiceProcess::spawn(bin(), &env, "scorer", &group);
    first
        .wait_until(
            "the first scorer holds all 4 partitions and has snapshotted",
            Duration::from_secs(120),
            |at| async move {
                Ok(partitions(at).await? == 4.0 && scrape(at, "pulse_scorer_snapshots_total", &[]).await? >= 1.0)
            },
        )
        .await;
    // Rebalance: the second joins; each ends up holding some of the partitions.
    let second = ServiceProcess::spawn(bin(), &env, "scorer", &group);
    second
        .wait_until(
            "the second scorer is assigned partitions and has snapshotted",
            Duration::from_secs(120),
            |at| async move {
                Ok(partitions(at).await? >= 1.0 && scrape(at, "pulse_scorer_snapshots_total", &[]).await? >= 1.0)
            },
        )
        .await;
    first
        .wait_until("the first scorer gave partitions up", Duration::from_secs(60), |at| async move {
            Ok(partitions(at).await? < 4.0)
        })
        .await;
    assert!(!feeder.is_finished(), "the rebalance happened while events flow");
    // Rebalance: the first leaves; the second takes over every partition.
    first.terminate();
    second
        .wait_until("the second scorer holds all 4 partitions", Duration::from_secs(120), |at| async move {
            Ok(partitions(at).await? == 4.0)
        })
        .await;
    feeder.await.expect("feeder");
    let stored = wait_for_results(&env, day, &expected, Duration::from_secs(180)).await;
    second.terminate();
    assert_same_results(&stored, &expected);
    env.drop_database().await;
}
