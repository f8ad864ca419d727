//! Fault test of `pulse ingest` as real processes over the real stack: a standby process
//! in the same consumer group (one partition: it holds none), then the active one
//! SIGKILLed while events flow. The development broker's coordinator drops the killed
//! member without a rebalance, so the standby could hold no partition forever; the shared
//! consumer loop's watchdog (`ingest.rejoin_when_idle_secs`, 5 s here) rejoins the group
//! and it takes over. Every event still lands exactly once. (In practice the broker often
//! rebalances on its own after the kill, and the group may hand the partition to the
//! standby at its join; the test asserts the outcome, not which of these happened.)

use std::{path::Path, time::Duration};

use pulse_e2e::{usage, ServiceProcess, TestEnv};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_pulse"))
}

fn events(from: u64, to: u64) -> Vec<(Option<String>, Vec<u8>)> {
    (from..to)
        .map(|i| {
            let acct = format!("acct-{}", i % 40);
            (Some(acct.clone()), usage(&format!("ev-{i}"), &acct, &format!("u-{}", i % 300), (i % 500) as i64))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_killed_with_sigkill_its_standby_takes_over_and_every_event_is_stored_once() {
    let env = TestEnv::new(1).await;
    let group = format!("ingest-faults-{}", env.tag);
    let n = 6_000u64;
    env.produce(&env.topics.usage, &events(0, n / 2)).await;
    let first = ServiceProcess::spawn_with(bin(), &env, "ingest", &group, &[("PULSE__INGEST__BATCH_MAX_ROWS", "500")]);
    let progressed =
        env.wait_scalar("SELECT toUInt64(count() > 0) FROM usage_events", 1, Duration::from_secs(120)).await;
    assert_eq!(progressed, 1, "the first ingest stored something before the kill");
    let second = ServiceProcess::spawn_with(bin(), &env, "ingest", &group, &[("PULSE__INGEST__BATCH_MAX_ROWS", "500")]);
    // The standby has joined (its metrics answer) and the group has settled.
    second
        .wait_until("the standby serves its metrics", Duration::from_secs(60), |at| async move {
            Ok(pulse_e2e::scrape(at, "pulse_ingest_paused", &[]).await.is_ok())
        })
        .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    first.kill9();
    env.produce(&env.topics.usage, &events(n / 2, n)).await;
    let stored = env.wait_scalar("SELECT uniqExact(event_id) FROM usage_events", n, Duration::from_secs(120)).await;
    let rejoins = second.metric("pulse_ingest_group_rejoins_total", &[]).await.unwrap_or(-1.0);
    second.terminate();
    assert_eq!(stored, n, "every event stored by the standby (its rejoins: {rejoins})");
    assert_eq!(env.scalar("SELECT count() FROM usage_events FINAL").await, n, "each exactly once as read back");
    eprintln!("the standby rejoined the group {rejoins} time(s)");
    env.drop_database().await;
}
