//! Snapshot size and time at 10k accounts / 200k users (issue 12): the state of one
//! scorer holding every partition of the synthetic bench workload (3M events over
//! 35 days, `pulse gen synthetic`), encoded as the JSON of earlier releases and as
//! the binary format (`snapshot::encode`), and decoded back.
//!
//! `cargo bench -p pulse-scorer --bench snapshot` (prints the sizes first).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use pulse_core::{parse_event, AlertTracker, ScoringConfig};
use pulse_gen::{write_synthetic, SyntheticSpec};
use pulse_scorer::snapshot;
use pulse_scorer::state::PartitionState;

fn state() -> PartitionState {
    let config = ScoringConfig::default();
    let spec = SyntheticSpec::default();
    let mut input = Vec::new();
    write_synthetic(&spec, &mut input).expect("generate");
    let mut st = PartitionState::new(&config);
    for line in input.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        if let Ok(ev) = parse_event(line) {
            st.engine.apply(&ev);
        }
    }
    // Alert state of the last week, as a running scorer holds it.
    let mut alerts = AlertTracker::new(&config);
    for back in (0..7).rev() {
        let day = spec.end - chrono::Days::new(back);
        alerts.update_many(&st.engine.evaluate_all(day));
    }
    st.alerts = alerts;
    st.next_offset = 3_000_000;
    st
}

fn bench(c: &mut Criterion) {
    let st = state();
    let json = serde_json::to_vec(&st).expect("json");
    let binary = snapshot::encode(&st).expect("encode");
    println!(
        "snapshot of {} accounts, {} tracked (account, user) pairs: JSON {} bytes, binary {} bytes ({:.1}x smaller)",
        st.engine.accounts_len(),
        st.engine.tracked_users(),
        json.len(),
        binary.len(),
        json.len() as f64 / binary.len() as f64
    );
    let mut g = c.benchmark_group("snapshot_10k_accounts");
    g.sample_size(10);
    g.bench_function("encode_json", |b| b.iter(|| serde_json::to_vec(black_box(&st)).expect("json")));
    g.bench_function("encode_binary", |b| b.iter(|| snapshot::encode(black_box(&st)).expect("encode")));
    g.bench_function("decode_json", |b| {
        b.iter(|| serde_json::from_slice::<PartitionState>(black_box(&json)).expect("json"))
    });
    g.bench_function("decode_binary", |b| b.iter(|| snapshot::decode(black_box(&binary)).expect("decode")));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
