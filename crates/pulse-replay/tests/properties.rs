//! Invariants of replay: sharded parallel replay equals single-threaded replay,
//! and the order and repetition of input lines do not change the results.

use chrono::{Days, NaiveDate};
use proptest::prelude::*;
use pulse_core::config::ScoringConfig;
use pulse_replay::{replay, ReplayOptions, Window};

const ACCOUNTS: [&str; 5] = ["acme", "globex", "initech", "umbrella", "hooli"];
const FEATURES: [&str; 4] = ["reports", "dashboards", "alerts", "workflows"];

fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 1).expect("date")
}

/// One input line, generated from a few small numbers.
#[derive(Debug, Clone)]
enum Line {
    Usage { account: usize, user: u8, day: u8, sec: u32, feature: usize, track: bool },
    Seats { account: usize, day: u8, seats: u16, profile: u8 },
    Assessment { account: usize, day: u8, dimension: u8, score: u8 },
    Ticket { account: usize, day: u8, ticket: u8, open: bool },
    Champion { account: usize, day: u8, left: bool },
    Invalid { day: u8 },
}

fn line() -> impl Strategy<Value = Line> {
    prop_oneof![
        8 => (0..5usize, 0..8u8, 0..21u8, 0..86_400u32, 0..4usize, any::<bool>())
            .prop_map(|(account, user, day, sec, feature, track)| Line::Usage { account, user, day, sec, feature, track }),
        1 => (0..5usize, 0..21u8, 0..12u16, 0..3u8).prop_map(|(account, day, seats, profile)| Line::Seats { account, day, seats, profile }),
        1 => (0..5usize, 0..21u8, 0..5u8, 0..=10u8).prop_map(|(account, day, dimension, score)| Line::Assessment { account, day, dimension, score }),
        1 => (0..5usize, 0..21u8, 0..3u8, any::<bool>()).prop_map(|(account, day, ticket, open)| Line::Ticket { account, day, ticket, open }),
        1 => (0..5usize, 0..21u8, any::<bool>()).prop_map(|(account, day, left)| Line::Champion { account, day, left }),
        1 => (0..21u8).prop_map(|day| Line::Invalid { day }),
    ]
}

/// Renders lines; event ids are unique per generated line (index `i`).
fn render(lines: &[Line]) -> Vec<String> {
    let ts = |day: u8, sec: u32| {
        let d = first_day() + Days::new(u64::from(day));
        format!("{d}T{:02}:{:02}:{:02}Z", sec / 3600, sec / 60 % 60, sec % 60)
    };
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| match l {
            Line::Usage { account, user, day, sec, feature, track: false } => format!(
                r#"{{"type":"usage","event_id":"e{i}","account_id":"{}","user_id":"u{user}","event":"x","feature":"{}","timestamp":"{}"}}"#,
                ACCOUNTS[*account], FEATURES[*feature], ts(*day, *sec)
            ),
            Line::Usage { account, user, day, sec, feature, track: true } => format!(
                r#"{{"type":"track","messageId":"e{i}","userId":"u{user}","event":"x","timestamp":"{}","context":{{"groupId":"{}"}},"properties":{{"feature":"{}"}}}}"#,
                ts(*day, *sec), ACCOUNTS[*account], FEATURES[*feature]
            ),
            Line::Seats { account, day, seats, profile } => format!(
                r#"{{"type":"account","event_id":"e{i}","account_id":"{}","timestamp":"{}","licensed_seats":{seats},"usage_profile":"{}","lifecycle_stage":"onboarding","onboarding_started_on":"2026-09-01","target_graduation_on":"2026-10-10"}}"#,
                ACCOUNTS[*account], ts(*day, 3600 * u32::from(*day % 24)), ["daily", "weekly", "periodic"][usize::from(*profile)]
            ),
            Line::Assessment { account, day, dimension, score } => format!(
                r#"{{"type":"assessment","event_id":"e{i}","account_id":"{}","timestamp":"{}","dimension":"{}","score":{score},"author":"csm"}}"#,
                ACCOUNTS[*account], ts(*day, 50_000), ["technical", "knowledge", "value", "stakeholder", "usage"][usize::from(*dimension)]
            ),
            Line::Ticket { account, day, ticket, open } => format!(
                r#"{{"type":"ticket","event_id":"e{i}","account_id":"{}","timestamp":"{}","ticket_id":"T{ticket}","severity":"critical","status":"{}"}}"#,
                ACCOUNTS[*account], ts(*day, 40_000), if *open { "open" } else { "resolved" }
            ),
            Line::Champion { account, day, left } => format!(
                r#"{{"type":"stakeholder","event_id":"e{i}","account_id":"{}","timestamp":"{}","role":"champion","person":"p","status":"{}"}}"#,
                ACCOUNTS[*account], ts(*day, 30_000), if *left { "left" } else { "active" }
            ),
            Line::Invalid { day } => format!(r#"{{"type":"usage","event_id":"bad{i}","timestamp":"{}"}}"#, ts(*day, 0)),
        })
        .collect()
}

fn run(lines: &[String], window: Window, threads: usize, shards: usize, chunk_bytes: usize) -> String {
    run_batched(lines, window, threads, shards, chunk_bytes, 1 << 22)
}

/// `apply_batch`: how many events an as-of replay gathers before applying them.
fn run_batched(
    lines: &[String],
    window: Window,
    threads: usize,
    shards: usize,
    chunk_bytes: usize,
    apply_batch: usize,
) -> String {
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let mut options = ReplayOptions::new(window);
    options.threads = Some(threads);
    options.shards = shards;
    options.chunk_bytes = chunk_bytes;
    options.apply_batch = apply_batch;
    let mut out = Vec::new();
    replay(input.as_bytes(), &ScoringConfig::default(), &options, &mut out, &mut std::io::sink()).expect("replay");
    String::from_utf8(out).expect("utf8")
}

fn window(as_of: u8, series: bool) -> Window {
    let d = first_day() + Days::new(u64::from(as_of));
    if series {
        Window::series(d - Days::new(3), d).expect("window")
    } else {
        Window::as_of(d)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn sharded_parallel_replay_equals_single_threaded(
        lines in prop::collection::vec(line(), 1..150),
        as_of in 10..24u8,
        series in any::<bool>(),
        shards in 1..9usize,
        chunk_bytes in 64..4096usize,
        apply_batch in 1..64usize,
    ) {
        let lines = render(&lines);
        let w = window(as_of, series);
        let single = run(&lines, w, 1, 1, 1 << 20);
        let sharded = run_batched(&lines, w, 2, shards, chunk_bytes, apply_batch);
        prop_assert_eq!(sharded, single);
    }

    #[test]
    fn shuffled_and_duplicated_input_gives_identical_output(
        lines in prop::collection::vec(line(), 1..150),
        seed in any::<u64>(),
        as_of in 10..24u8,
        series in any::<bool>(),
    ) {
        use rand::seq::SliceRandom;
        use rand::{Rng, SeedableRng};
        let lines = render(&lines);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut shuffled = lines.clone();
        for _ in 0..rng.random_range(0..=lines.len()) {
            let i = rng.random_range(0..lines.len());
            shuffled.push(lines[i].clone());
        }
        shuffled.shuffle(&mut rng);
        let w = window(as_of, series);
        prop_assert_eq!(run(&shuffled, w, 2, 0, 512), run(&lines, w, 1, 1, 1 << 20));
    }
}
