//! Where replay time goes, single-threaded, per event: split into lines, parse
//! (`pulse_core::parse_event`), apply (`Engine::apply`), drop the parsed events;
//! then replay's own path (the fast recognizer, `Engine::apply_usage`); evaluate. Then the whole parallel replay. Runs on the synthetic bench workload
//! (generated in memory) or on a file:
//!
//! ```text
//! cargo bench -p pulse-replay --bench replay_phases                 # 1M synthetic events
//! cargo bench -p pulse-replay --bench replay_phases -- FILE.ndjson YYYY-MM-DD
//! ```

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use pulse_core::config::ScoringConfig;
use pulse_core::engine::{Engine, UsageKey};
use pulse_core::event::parse_event;
use pulse_gen::{write_synthetic, SyntheticSpec};
use pulse_replay::{replay, ReplayOptions, Window};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let (data, as_of) = match args.as_slice() {
        [file, day, ..] => {
            (std::fs::read(file).expect("read input"), NaiveDate::parse_from_str(day, "%Y-%m-%d").expect("YYYY-MM-DD"))
        }
        _ => {
            let spec = SyntheticSpec { events: 1_000_000, ..SyntheticSpec::default() };
            let mut buf = Vec::new();
            write_synthetic(&spec, &mut buf).expect("generate");
            (buf, spec.end)
        }
    };
    let config = ScoringConfig::default();

    let t = Instant::now();
    let lines = pulse_replay::chunks::split_lines(&data);
    let split = t.elapsed();
    let n = lines.len() as f64;

    let mut rss_accounts = 0;
    // Memory first, on a fresh heap: one event at a time, so almost nothing but
    // the engine's state is live.
    // CRM events first (per-account state), then usage (per-user state).
    let rss_start = rss_bytes();
    let mut engine = Engine::new(config.clone());
    for usage in [false, true] {
        for line in &lines {
            if let Ok(ev) = parse_event(line) {
                if ev.is_usage() == usage {
                    engine.apply(&ev);
                }
            }
        }
        if !usage {
            rss_accounts = rss_bytes();
        }
    }
    let rss_end = rss_bytes();
    let (accounts, tracked) = (engine.accounts_len().max(1) as f64, engine.tracked_users().max(1) as f64);
    let usage_memory = engine.usage_memory();
    drop(engine);

    // Batches of 64k lines, like replay's chunks: parse, apply, drop; timed apart.
    let mut engine = Engine::new(config.clone());
    let (mut parse, mut apply, mut free) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for batch in lines.chunks(65_536) {
        let t = Instant::now();
        let events: Vec<_> = batch.iter().filter_map(|l| parse_event(l).ok()).collect();
        parse += t.elapsed();
        let t = Instant::now();
        for ev in &events {
            engine.apply(ev);
        }
        apply += t.elapsed();
        let t = Instant::now();
        drop(events);
        free += t.elapsed();
    }

    // The replay's path: the fast recognizer (no allocation) with `parse_event` as
    // fallback, events kept as a borrowed account id and a `UsageKey`.
    let mut engine_fast = Engine::new(config.clone());
    let (mut fparse, mut fapply, mut fast_hits) = (Duration::ZERO, Duration::ZERO, 0usize);
    for batch in lines.chunks(65_536) {
        let t = Instant::now();
        let mut usage = Vec::with_capacity(batch.len());
        let mut other = Vec::new();
        for l in batch {
            match pulse_replay::fast::parse_usage(l) {
                Some(u) => {
                    usage.push((u.account_id, UsageKey::new(&config, u.event_id, u.user_id, u.feature, u.ts_us)))
                }
                None => other.extend(parse_event(l).ok()),
            }
        }
        fparse += t.elapsed();
        fast_hits += usage.len();
        let t = Instant::now();
        for ev in &other {
            engine_fast.apply(ev);
        }
        for (account, key) in &usage {
            engine_fast.apply_usage(account, *key);
        }
        fapply += t.elapsed();
    }

    let t = Instant::now();
    let mut evaluated = 0;
    for id in engine.account_ids() {
        evaluated += usize::from(engine.evaluate(id, as_of).is_some());
    }
    let evaluate = t.elapsed();

    let per = |d: std::time::Duration| d.as_secs_f64() * 1e9 / n;
    println!(
        "single thread, {} lines, {} accounts, {} tracked users",
        lines.len(),
        engine.accounts_len(),
        engine.tracked_users()
    );
    println!("  split     {:>7.1} ns/event", per(split));
    println!("  parse     {:>7.1} ns/event  ({:.0} events/s)", per(parse), n / parse.as_secs_f64());
    println!("  apply     {:>7.1} ns/event  ({:.0} events/s)", per(apply), n / apply.as_secs_f64());
    println!("  drop      {:>7.1} ns/event", per(free));
    println!(
        "  fast parse {:>6.1} ns/event  ({:.1}% of lines on the fast path; UsageKey included)",
        per(fparse),
        fast_hits as f64 * 100.0 / n
    );
    println!("  apply_usage {:>5.1} ns/event", per(fapply));
    println!(
        "  evaluate  {:>7.1} us/account ({evaluated} accounts)",
        evaluate.as_secs_f64() * 1e6 / evaluated.max(1) as f64
    );
    let per_account = rss_accounts.saturating_sub(rss_start) as f64 / accounts;
    let per_user = rss_end.saturating_sub(rss_accounts) as f64 / tracked;
    println!(
        "engine state (RSS growth): {:.1} MiB; {per_account:.0} bytes per account (CRM state), {per_user:.0} bytes per tracked (account, user)",
        rss_end.saturating_sub(rss_start) as f64 / (1 << 20) as f64
    );
    let m = usage_memory;
    println!(
        "usage tables (capacities): {} tracked users, {:.1} bytes each (day masks); {} event ids of the horizon, {:.1} bytes each",
        m.tracked_users,
        m.activity_bytes as f64 / m.tracked_users.max(1) as f64,
        m.event_ids,
        m.event_id_bytes as f64 / m.event_ids.max(1) as f64
    );

    for threads in [1, 2] {
        let mut options = ReplayOptions::new(Window::as_of(as_of));
        options.threads = Some(threads);
        let t = Instant::now();
        let summary = replay(&data[..], &config, &options, &mut std::io::sink(), &mut std::io::sink()).expect("replay");
        let secs = t.elapsed().as_secs_f64();
        println!("replay, {threads} thread(s): {secs:.3} s, {:.0} events/s", summary.lines as f64 / secs);
    }
}

/// Resident set size of this process (Linux `/proc/self/statm`), 0 elsewhere.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}
