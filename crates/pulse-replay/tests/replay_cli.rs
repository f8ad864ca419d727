//! `pulse replay` behaviour (SPEC §7), through the library the CLI wraps.

use std::path::PathBuf;

use chrono::NaiveDate;
use pulse_core::config::ScoringConfig;
use pulse_gen::{write_synthetic, SyntheticSpec};
use pulse_replay::{replay, replay_file, ReplayError, ReplayOptions, ReplaySummary, Window};
use serde_json::Value;

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/replay").join(name)
}

fn basic() -> Vec<u8> {
    std::fs::read(fixture("basic.ndjson")).expect("fixture")
}

struct Run {
    /// The result lines (health, readiness).
    out: String,
    /// The alert lines of a series (SPEC v2: they follow each day's results).
    alerts: String,
    diag: String,
    summary: ReplaySummary,
}

fn run_with(input: &[u8], options: &ReplayOptions) -> Result<Run, ReplayError> {
    let mut out = Vec::new();
    let mut diag = Vec::new();
    let summary = replay(input, &ScoringConfig::default(), options, &mut out, &mut diag)?;
    let (results, alerts) = split(&String::from_utf8(out).expect("utf8"));
    Ok(Run { out: results, alerts, diag: String::from_utf8(diag).expect("utf8"), summary })
}

/// (result lines, alert lines) of an output.
fn split(all: &str) -> (String, String) {
    let (mut results, mut alerts) = (String::new(), String::new());
    for l in all.lines() {
        let to = if l.starts_with(r#"{"kind":"alert""#) { &mut alerts } else { &mut results };
        to.push_str(l);
        to.push('\n');
    }
    (results, alerts)
}

fn run(input: &[u8], as_of: &str) -> Run {
    run_with(input, &ReplayOptions::new(Window::as_of(day(as_of)))).expect("replay")
}

fn json_lines(out: &str) -> Vec<Value> {
    out.lines().map(|l| serde_json::from_str(l).expect("json line")).collect()
}

#[test]
fn prints_health_then_readiness_per_account_sorted_by_id() {
    let r = run(&basic(), "2026-11-02");
    let lines = json_lines(&r.out);
    let keys: Vec<(String, String)> = lines
        .iter()
        .map(|v| (v["account_id"].as_str().unwrap_or("").into(), v["kind"].as_str().unwrap_or("").into()))
        .collect();
    let expect: Vec<(String, String)> =
        [("acme", "health"), ("acme", "readiness"), ("globex", "health"), ("globex", "readiness")]
            .iter()
            .map(|(a, k)| (a.to_string(), k.to_string()))
            .collect();
    assert_eq!(keys, expect);
    for line in r.out.lines() {
        assert!(line.starts_with(r#"{"kind":""#), "kind comes first: {line}");
    }
    for v in &lines {
        assert_eq!(v["as_of"], "2026-11-02");
    }
    let health = &lines[0];
    for field in ["score", "color", "metrics", "measures", "reasons", "red_flags"] {
        assert!(!health[field].is_null(), "health has {field}");
    }
    for metric in ["seats", "dau", "wau", "mau", "dau_pct", "wau_pct", "mau_pct", "wau_change_pct"] {
        assert!(health["metrics"].get(metric).is_some(), "metrics has {metric}");
    }
    let readiness = &lines[1];
    for field in ["total", "verdict", "dimensions", "blockers"] {
        assert!(!readiness[field].is_null(), "readiness has {field}");
    }
    for dim in ["technical", "knowledge", "usage", "value", "stakeholder"] {
        assert!(readiness["dimensions"][dim].get("score").is_some(), "{dim} has a score");
        assert!(readiness["dimensions"][dim]["source"].is_string(), "{dim} has a source");
    }
    // acme: 3 users on 4 seats, all three active in the last week; the Segment
    // `track` user counts like the native ones.
    assert_eq!(health["metrics"]["seats"], 4);
    assert_eq!(health["metrics"]["wau"], 3);
    // globex: an open critical ticket is a red flag.
    let flags = lines[2]["red_flags"].as_array().expect("flags");
    assert!(flags.iter().any(|f| f == "critical_tickets_open"), "{flags:?}");
}

#[test]
fn invalid_lines_are_reported_with_line_numbers_and_skipped() {
    let r = run(&basic(), "2026-11-02");
    let diag: Vec<&str> = r.diag.lines().collect();
    assert_eq!(diag.len(), 2, "{}", r.diag);
    assert!(diag[0].starts_with("line 26: not_json: "), "{}", diag[0]);
    assert!(diag[1].starts_with("line 48: missing_field: "), "{}", diag[1]);
    assert!(diag[1].contains("account_id"), "the detail names the field: {}", diag[1]);
    assert_eq!(r.summary.invalid, 2);
    // 65 lines, one blank.
    assert_eq!(r.summary.lines, 64);
    assert_eq!(r.summary.accounts, 2);
}

#[test]
fn strict_mode_stops_at_the_first_invalid_line() {
    let mut options = ReplayOptions::new(Window::as_of(day("2026-11-02")));
    options.strict = true;
    let mut out = Vec::new();
    let mut diag = Vec::new();
    let err = replay(&basic()[..], &ScoringConfig::default(), &options, &mut out, &mut diag).expect_err("strict");
    match &err {
        ReplayError::Invalid { line, error } => {
            assert_eq!(*line, 26);
            assert_eq!(error.reason.as_str(), "not_json");
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(err.to_string().starts_with("line 26: not_json: "), "{err}");
    assert!(out.is_empty(), "no results on a strict failure");
    // Without invalid lines strict mode changes nothing.
    let valid: Vec<u8> = String::from_utf8(basic())
        .expect("utf8")
        .lines()
        .enumerate()
        .filter(|(i, _)| ![25, 47].contains(i))
        .map(|(_, l)| format!("{l}\n"))
        .collect::<String>()
        .into_bytes();
    let strict = run_with(&valid, &options).expect("valid input passes strict");
    assert_eq!(strict.out, run(&basic(), "2026-11-02").out);
}

#[test]
fn events_after_the_as_of_day_are_ignored() {
    let all = basic();
    let r = run(&all, "2026-11-02");
    assert_eq!(r.summary.after_cutoff, 2);
    assert!(!r.out.contains("initech"), "an account that only exists later is absent");
    // Same as if the later lines were not there at all.
    let text = String::from_utf8(all.clone()).expect("utf8");
    let trimmed: String = text.lines().take(63).map(|l| format!("{l}\n")).collect();
    assert_eq!(run(trimmed.as_bytes(), "2026-11-02").out, r.out);
    // An earlier as-of day ignores more: acme's last days are gone.
    let earlier = json_lines(&run(&all, "2026-10-29").out);
    assert!(earlier.iter().all(|v| v["as_of"] == "2026-10-29"));
}

#[test]
fn blank_lines_and_crlf_are_fine() {
    let text = String::from_utf8(basic()).expect("utf8");
    let crlf = text.replace('\n', "\r\n\r\n  \r\n");
    let a = run(text.as_bytes(), "2026-11-02");
    let b = run(crlf.as_bytes(), "2026-11-02");
    assert_eq!(a.out, b.out);
    assert_eq!(a.summary.lines, b.summary.lines);
    assert_eq!(b.diag.lines().next().map(|l| l.starts_with("line 76: ")), Some(true), "{}", b.diag);
}

#[test]
fn output_is_deterministic_across_threads_shards_and_chunk_sizes() {
    let spec = SyntheticSpec { accounts: 40, users: 400, days: 20, events: 20_000, ..SyntheticSpec::default() };
    let mut data = Vec::new();
    write_synthetic(&spec, &mut data).expect("generate");
    let base = run_with(&data, &{
        let mut o = ReplayOptions::new(Window::as_of(spec.end));
        o.threads = Some(1);
        o.shards = 1;
        o
    })
    .expect("replay");
    assert_eq!(base.summary.accounts, 40);
    for (threads, shards, chunk) in [(2, 0, 1 << 20), (2, 7, 4096), (1, 3, 333), (3, 16, 100_000)] {
        let mut o = ReplayOptions::new(Window::as_of(spec.end));
        o.threads = Some(threads);
        o.shards = shards;
        o.chunk_bytes = chunk;
        let r = run_with(&data, &o).expect("replay");
        assert_eq!(r.out, base.out, "threads={threads} shards={shards} chunk={chunk}");
        assert_eq!(r.summary, base.summary);
    }
    assert_eq!(run_with(&data, &ReplayOptions::new(Window::as_of(spec.end))).expect("again").out, base.out);
}

#[test]
fn a_series_has_one_health_and_one_readiness_line_per_account_per_day() {
    let window = Window::series(day("2026-10-28"), day("2026-11-02")).expect("window");
    let r = run_with(&basic(), &ReplayOptions::new(window)).expect("replay");
    let lines = json_lines(&r.out);
    assert_eq!(lines.len(), 6 * 2 * 2);
    assert_eq!(r.summary.output_lines as usize, 24 + r.alerts.lines().count());
    // Day by day, accounts sorted, health before readiness.
    let mut expect_day = day("2026-10-28");
    for chunk in lines.chunks(4) {
        let kinds: Vec<_> =
            chunk.iter().map(|v| (v["account_id"].clone(), v["kind"].clone(), v["as_of"].clone())).collect();
        let d = expect_day.to_string();
        assert_eq!(
            kinds,
            vec![
                ("acme".into(), "health".into(), d.clone().into()),
                ("acme".into(), "readiness".into(), d.clone().into()),
                ("globex".into(), "health".into(), d.clone().into()),
                ("globex".into(), "readiness".into(), d.into()),
            ]
        );
        expect_day = expect_day.succ_opt().expect("next day");
    }
    // Each day of the series equals a replay as of that day.
    for (i, d) in ["2026-10-28", "2026-10-31", "2026-11-02"].iter().enumerate() {
        let single = run(&basic(), d).out;
        let idx = [0, 3, 5][i] * 4;
        let from_series: String = r.out.lines().skip(idx).take(4).map(|l| format!("{l}\n")).collect();
        assert_eq!(from_series, single, "day {d}");
    }
    // An account appears from its first day: before 2026-10-20 there is nothing.
    let early = Window::series(day("2026-10-18"), day("2026-10-20")).expect("window");
    let r = run_with(&basic(), &ReplayOptions::new(early)).expect("replay");
    assert_eq!(json_lines(&r.out).len(), 4, "only 2026-10-20 has accounts");
}

#[test]
fn a_series_longer_than_the_horizon_is_exact_for_every_day() {
    // 80 days of data, a 70-day series: several passes (horizon 60 keeps 60 exact days;
    // a series starts at the accounts' first day, for the alerts).
    let spec = SyntheticSpec { accounts: 12, users: 60, days: 80, events: 12_000, ..SyntheticSpec::default() };
    let mut data = Vec::new();
    write_synthetic(&spec, &mut data).expect("generate");
    let from = spec.end - chrono::Duration::days(69);
    let window = Window::series(from, spec.end).expect("window");
    let whole = Window::series(spec.end - chrono::Duration::days(79), spec.end).expect("window");
    assert!(pulse_replay::replay::passes(&whole, &ScoringConfig::default()).len() >= 2);
    let r = run_with(&data, &ReplayOptions::new(window)).expect("series");
    let per_day = 12 * 2;
    assert_eq!(r.out.lines().count(), 70 * per_day);
    for offset in [0usize, 20, 33, 45, 69] {
        let d = from + chrono::Duration::days(offset as i64);
        let single = run(&data, &d.to_string()).out;
        let slice: String = r.out.lines().skip(offset * per_day).take(per_day).map(|l| format!("{l}\n")).collect();
        assert_eq!(slice, single, "day {d}");
    }
}

#[test]
fn replay_file_rereads_the_file_for_long_series() {
    let spec = SyntheticSpec { accounts: 5, users: 20, days: 50, events: 3_000, ..SyntheticSpec::default() };
    let mut data = Vec::new();
    write_synthetic(&spec, &mut data).expect("generate");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.ndjson");
    std::fs::write(&path, &data).expect("write");
    let window = Window::series(spec.end - chrono::Duration::days(45), spec.end).expect("window");
    let options = ReplayOptions::new(window);
    let mut from_file = Vec::new();
    replay_file(&path, &ScoringConfig::default(), &options, &mut from_file, &mut std::io::sink()).expect("file");
    let from_reader = run_with(&data, &options).expect("reader");
    let (results, alerts) = split(&String::from_utf8(from_file).expect("utf8"));
    assert_eq!(results, from_reader.out);
    assert_eq!(alerts, from_reader.alerts);
}

#[test]
fn bad_windows_are_refused() {
    assert!(Window::series(day("2026-11-02"), day("2026-11-01")).is_err());
}

#[test]
fn a_config_changes_the_scores_and_its_version_is_reported() {
    let config =
        pulse_core::ScoringConfig::from_toml_str("[health.bands]\ngreen = 99.9\nyellow = 99.0\n").expect("config");
    let mut out = Vec::new();
    replay(
        &basic()[..],
        &config,
        &ReplayOptions::new(Window::as_of(day("2026-11-02"))),
        &mut out,
        &mut std::io::sink(),
    )
    .expect("replay");
    let lines = json_lines(&String::from_utf8(out).expect("utf8"));
    assert_eq!(lines[0]["config_version"], config.version());
    assert_ne!(config.version(), ScoringConfig::default().version());
    let default = json_lines(&run(&basic(), "2026-11-02").out);
    assert_eq!(default[0]["config_version"], ScoringConfig::default().version());
}

/// One account: 10 users a day, then from `drop_on` only 5 (weekly active users -50%),
/// seats 10. Usage events as NDJSON.
fn declining(first: NaiveDate, days: i64, drop_on: i64) -> Vec<u8> {
    let mut out = String::new();
    out.push_str(&format!(
        "{{\"type\":\"account\",\"event_id\":\"a-1\",\"account_id\":\"acme\",\"timestamp\":\"{first}T00:00:00Z\",\"licensed_seats\":10}}\n"
    ));
    for k in 0..days {
        let d = first + chrono::Duration::days(k);
        let users = if k >= drop_on { 5 } else { 10 };
        for u in 0..users {
            out.push_str(&format!(
                "{{\"type\":\"usage\",\"event_id\":\"u-{k}-{u}\",\"account_id\":\"acme\",\"user_id\":\"u{u}\",\"event\":\"x\",\"timestamp\":\"{d}T10:00:00Z\"}}\n"
            ));
        }
    }
    out.into_bytes()
}

#[test]
fn a_series_prints_each_days_alert_transitions_after_its_results() {
    let first = day("2026-09-01");
    let data = declining(first, 40, 20);
    // the drop starts on day 20 (09-21); the WAU (7 days) falls on day 26: -50%
    let window =
        Window::series(first + chrono::Duration::days(18), first + chrono::Duration::days(30)).expect("window");
    let mut raw = Vec::new();
    replay(&data[..], &ScoringConfig::default(), &ReplayOptions::new(window), &mut raw, &mut std::io::sink())
        .expect("replay");
    let lines = json_lines(&String::from_utf8(raw).expect("utf8"));
    let alerts: Vec<&Value> = lines.iter().filter(|v| v["kind"] == "alert").collect();
    let opened: Vec<(&str, &str)> = alerts
        .iter()
        .filter(|v| v["state"] == "opened")
        .map(|v| (v["rule"].as_str().unwrap_or(""), v["as_of"].as_str().unwrap_or("")))
        .collect();
    assert!(opened.contains(&("usage_declining", "2026-09-27")), "{alerts:#?}");
    for a in &alerts {
        let keys: Vec<&str> = a.as_object().expect("object").keys().map(String::as_str).collect();
        for k in ["kind", "account_id", "as_of", "rule", "state", "opened_on", "severity", "message"] {
            assert!(keys.contains(&k), "{a}");
        }
        assert!(a["state"] == "opened" || a["state"] == "resolved", "{a}");
    }
    // each alert line comes after that day's results and before the next day's
    for (i, v) in lines.iter().enumerate() {
        if v["kind"] == "alert" {
            let prev = &lines[i - 1];
            assert_eq!(prev["as_of"], v["as_of"], "line {i}");
            if let Some(next) = lines.get(i + 1) {
                assert!(next["kind"] == "alert" || next["as_of"].as_str() > v["as_of"].as_str());
            }
        }
    }
    // evaluated from the first day of the account's data: the lines of a sub-range
    // are exactly that range's lines of a longer series
    let full = Window::series(first, first + chrono::Duration::days(39)).expect("window");
    let long = run_with(&data, &ReplayOptions::new(full)).expect("long");
    let short = run_with(&data, &ReplayOptions::new(window)).expect("short");
    let in_window: String = long
        .alerts
        .lines()
        .filter(|l| {
            let v: Value = serde_json::from_str(l).expect("json");
            let d = day(v["as_of"].as_str().unwrap_or(""));
            d >= window.from && d <= window.to
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(short.alerts, in_window);
    // a single day (--as-of) prints no alert lines
    assert!(run(&data, "2026-09-25").alerts.is_empty());
}

/// SPEC v3 §2 (issue 21): `--as-of D` and the day-D lines of every `--from/--to` range
/// containing D agree, on a history whose repeated event ids have copies days to months
/// apart (across the 55-day window, the horizon and the retention), with other users,
/// features and equal timestamps. Before v3's per-day rule, a later copy counted or not
/// depending on where the range started.
#[test]
fn as_of_equals_the_day_of_every_range_containing_it_with_repeats_far_apart() {
    let mut lines = String::new();
    let start = day("2026-01-01");
    let mut s: u64 = 42;
    let mut next = |n: u64| {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (s >> 33) % n
    };
    for a in 0..5 {
        lines.push_str(&format!(
            "{{\"type\":\"account\",\"event_id\":\"acc-{a}\",\"account_id\":\"a{a}\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"licensed_seats\":8}}\n"
        ));
    }
    for i in 0..400 {
        let a = next(5);
        let copies = 1 + next(3);
        let base = next(200) as i64;
        for c in 0..copies {
            let d = (base + if c == 0 { 0 } else { next(130) as i64 - 40 }).clamp(0, 199);
            let when = start + chrono::Duration::days(d);
            let sec = if next(2) == 0 { "00" } else { "30" };
            let feature = ["reports", "dashboards", ""][next(3) as usize];
            lines.push_str(&format!(
                "{{\"type\":\"usage\",\"event_id\":\"e{i}\",\"account_id\":\"a{a}\",\"user_id\":\"u{}\",\"event\":\"x\",\"feature\":\"{feature}\",\"timestamp\":\"{when}T10:00:{sec}Z\"}}\n",
                next(6)
            ));
        }
    }
    let input = lines.into_bytes();
    let day_lines = |out: &str, d: NaiveDate| -> Vec<String> {
        out.lines().filter(|l| l.contains(&format!("\"as_of\":\"{d}\""))).map(str::to_owned).collect()
    };
    for d_off in [70i64, 120, 175] {
        let d = start + chrono::Duration::days(d_off);
        let at_once = run(&input, &d.to_string()).out;
        assert!(!at_once.is_empty());
        for back in [0i64, 1, 30, 61, 70] {
            let from = d - chrono::Duration::days(back);
            let series = run_with(&input, &ReplayOptions::new(Window { from, to: d })).expect("replay").out;
            assert_eq!(day_lines(&series, d), day_lines(&at_once, d), "--from {from} --to {d}");
        }
    }
}
