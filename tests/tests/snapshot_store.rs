//! The scorer's snapshot store against the real ClickHouse: a snapshot is written
//! through the borrowing row (`pulse_storage::SnapshotRef`) and read back through the
//! owned one (`SnapshotRow`), both validated against `scorer_snapshots`; the newest
//! offset of (topic, partition, config version) wins, and other partitions or configs
//! see nothing.

use pulse_core::{parse_event, ScoringConfig};
use pulse_e2e::TestEnv;
use pulse_scorer::{snapshot, snapshot::SnapshotStore, state::PartitionState};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_round_trip_and_the_newest_offset_wins() {
    let env = TestEnv::new(1).await;
    let config = ScoringConfig::default();
    let mut state = PartitionState::new(&config);
    let line = r#"{"type":"usage","event_id":"u1","account_id":"acme","user_id":"ann","event":"open","timestamp":"2026-11-02T10:00:00Z"}"#;
    state.engine.apply(&parse_event(line.as_bytes()).expect("valid"));
    let store = SnapshotStore::new(env.ch(), "pulse.events".into(), config.clone());
    assert!(store.load(0).await.expect("load").state.is_none(), "nothing stored yet");

    state.next_offset = 10;
    let older = snapshot::encode(&state).expect("encode");
    store.save(0, 10, &older, 1_000).await.expect("save");
    state.next_offset = 42;
    let newer = snapshot::encode(&state).expect("encode");
    store.save(0, 42, &newer, 1_001).await.expect("save");

    let back = store.load(0).await.expect("load").state.expect("a snapshot");
    assert_eq!(back.next_offset, 42);
    assert_eq!(back.engine, state.engine);
    assert!(store.load(1).await.expect("load").state.is_none(), "another partition");
    let mut other = config.clone();
    other.horizon_days += 1;
    let other_store = SnapshotStore::new(env.ch(), "pulse.events".into(), other);
    assert!(other_store.load(0).await.expect("load").state.is_none(), "another config version");
}

/// Issue 19: a snapshot that does not decode was retried forever (the scorer stopped
/// for good). Now it is skipped, reported, and the next older snapshot restores; with
/// none that decodes the partition starts empty (rebuilt from the log).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_snapshot_is_skipped_for_an_older_one() {
    let env = TestEnv::new(1).await;
    let config = ScoringConfig::default();
    let mut state = PartitionState::new(&config);
    let line = r#"{"type":"usage","event_id":"u1","account_id":"acme","user_id":"ann","event":"open","timestamp":"2026-11-02T10:00:00Z"}"#;
    state.engine.apply(&parse_event(line.as_bytes()).expect("valid"));
    state.next_offset = 10;
    let store = SnapshotStore::new(env.ch(), "pulse.events".into(), config.clone());
    store.save(0, 10, &snapshot::encode(&state).expect("encode"), 1_000).await.expect("save");
    // Newer, but a release from the future (format version 9) and plain garbage.
    let mut future = snapshot::MAGIC.to_vec();
    future.extend_from_slice(&9u16.to_le_bytes());
    future.extend_from_slice(&[1, 0, 0, 0]);
    store.save(0, 20, &future, 1_001).await.expect("save");
    store.save(0, 30, b"\x00garbage", 1_002).await.expect("save");

    let restored = store.load(0).await.expect("load");
    let back = restored.state.expect("the older snapshot restores");
    assert_eq!(back.next_offset, 10);
    assert_eq!(back.engine, state.engine);
    let skipped: Vec<i64> = restored.undecodable.iter().map(|(o, _)| *o).collect();
    assert_eq!(skipped, [30, 20]);
    assert!(restored.undecodable[1].1.contains("format version 9"), "{:?}", restored.undecodable);

    // Only undecodable ones: start empty, each reported.
    store.save(1, 5, b"nope", 1_000).await.expect("save");
    let restored = store.load(1).await.expect("load");
    assert!(restored.state.is_none());
    assert_eq!(restored.undecodable.len(), 1);
    env.drop_database().await;
}

/// Issue 20 item 4: two snapshots at the same offset (the state changed without
/// consuming: a daily re-evaluation, held notifications released) saved within one second
/// (or under a fixed clock) tie on `created_at`; the restore must take the one saved last,
/// not an arbitrary one, or the alert tracker goes back to before transitions it already
/// wrote, and never retracts them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_snapshots_at_one_offset_the_last_saved_restores() {
    let env = TestEnv::new(1).await;
    let config = ScoringConfig::default();
    let store = SnapshotStore::new(env.ch(), "pulse.events".into(), config.clone());
    let line = |id: &str| {
        format!(
            r#"{{"type":"usage","event_id":"{id}","account_id":"acme","user_id":"{id}","event":"open","timestamp":"2026-11-02T10:00:00Z"}}"#
        )
    };
    let mut state = PartitionState::new(&config);
    state.next_offset = 7;
    for round in 0..4u32 {
        state.engine.apply(&parse_event(line(&format!("u{round}")).as_bytes()).expect("valid"));
        state.saves += 1; // as the scorer does before each save
        store.save(0, 7, &snapshot::encode(&state).expect("encode"), 1_000).await.expect("save");
        let back = store.load(0).await.expect("load").state.expect("a snapshot");
        assert_eq!(back.saves, state.saves, "round {round}");
        assert_eq!(back.engine, state.engine, "round {round}: the last saved state");
    }
}
