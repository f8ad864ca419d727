//! Per-event cost of the hot path: parsing a usage event and applying it.
//! Run: `cargo bench -p pulse-core --bench apply`. Numbers: see benches/README.md.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use pulse_core::{parse_event, Engine, Event, ScoringConfig};

const ACCOUNTS: usize = 1_000;
const USERS_PER_ACCOUNT: usize = 50;
const BATCH: usize = 10_000;

fn line(i: usize, day: usize) -> String {
    let acct = i % ACCOUNTS;
    let user = (i / ACCOUNTS) % USERS_PER_ACCOUNT;
    format!(
        r#"{{"type":"usage","event_id":"evt-{i:08}","account_id":"account-{acct:05}","user_id":"user-{acct:05}-{user:03}","event":"report.viewed","feature":"reports","timestamp":"2026-11-{:02}T10:15:{:02}Z","properties":{{"path":"/r/1"}}}}"#,
        1 + day % 28,
        i % 60
    )
}

fn segment_line(i: usize) -> String {
    format!(
        r#"{{"type":"track","messageId":"m-{i}","userId":"user-{}","event":"Report Viewed","timestamp":"2026-11-02T10:15:00Z","context":{{"groupId":"account-{}","library":{{"name":"analytics.js","version":"4.1.0"}}}},"properties":{{"feature":"reports","n":1}}}}"#,
        i % 5000,
        i % ACCOUNTS
    )
}

fn lines(n: usize) -> Vec<String> {
    (0..n).map(|i| line(i, i / (ACCOUNTS * USERS_PER_ACCOUNT))).collect()
}

fn parsed(lines: &[String]) -> Vec<Event> {
    lines.iter().map(|l| parse_event(l.as_bytes()).expect("valid")).collect()
}

fn warm_engine(events: &[Event]) -> Engine {
    let cfg = ScoringConfig { core_features: vec!["reports".into(), "dashboards".into()], ..ScoringConfig::default() };
    let mut e = Engine::new(cfg);
    for ev in events {
        e.apply(ev);
    }
    e
}

fn bench(c: &mut Criterion) {
    let native = lines(BATCH);
    let segment: Vec<String> = (0..BATCH).map(segment_line).collect();
    let events = parsed(&native);

    let mut g = c.benchmark_group("per_event");
    g.throughput(Throughput::Elements(BATCH as u64));

    g.bench_function("parse_native", |b| {
        b.iter(|| {
            for l in &native {
                black_box(parse_event(black_box(l.as_bytes())).ok());
            }
        })
    });
    g.bench_function("parse_segment_track", |b| {
        b.iter(|| {
            for l in &segment {
                black_box(parse_event(black_box(l.as_bytes())).ok());
            }
        })
    });

    // Known accounts and users (the steady state): no allocation per event.
    let mut engine = warm_engine(&events);
    g.bench_function("apply_known_user", |b| {
        b.iter(|| {
            for ev in &events {
                black_box(engine.apply(black_box(ev)));
            }
        })
    });

    // Cold: every account and user new (includes map growth).
    g.bench_function("apply_cold", |b| {
        b.iter_batched(
            || Engine::new(ScoringConfig::default()),
            |mut e| {
                for ev in &events {
                    black_box(e.apply(ev));
                }
                e
            },
            BatchSize::LargeInput,
        )
    });

    let mut engine = warm_engine(&events);
    g.bench_function("parse_and_apply", |b| {
        b.iter(|| {
            for l in &native {
                if let Ok(ev) = parse_event(l.as_bytes()) {
                    black_box(engine.apply(&ev));
                }
            }
        })
    });
    g.finish();

    // Evaluating one account (50 users, 28 days of activity), both days of the window.
    let month: Vec<Event> = parsed(&lines(ACCOUNTS * USERS_PER_ACCOUNT * 28));
    let engine = warm_engine(&month);
    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 11, 28).expect("valid");
    c.bench_function("evaluate_account_50_users", |b| {
        b.iter(|| black_box(engine.evaluate(black_box("account-00007"), as_of)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
