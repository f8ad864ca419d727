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
    assert!(store.load(0).await.expect("load").is_none(), "nothing stored yet");

    state.next_offset = 10;
    let older = snapshot::encode(&state).expect("encode");
    store.save(0, 10, &older, 1_000).await.expect("save");
    state.next_offset = 42;
    let newer = snapshot::encode(&state).expect("encode");
    store.save(0, 42, &newer, 1_001).await.expect("save");

    let back = store.load(0).await.expect("load").expect("a snapshot");
    assert_eq!(back.next_offset, 42);
    assert_eq!(back.engine, state.engine);
    assert!(store.load(1).await.expect("load").is_none(), "another partition");
    let mut other = config.clone();
    other.horizon_days += 1;
    let other_store = SnapshotStore::new(env.ch(), "pulse.events".into(), other);
    assert!(other_store.load(0).await.expect("load").is_none(), "another config version");
}
