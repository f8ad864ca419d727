//! `Engine::apply_usage_many` (one account lookup for many usage events, what replay
//! uses after gathering events by account) equals applying the events one by one:
//! the same outcomes in order and the same state, whatever the order, the repeats
//! (same event id, other content) and how the events are cut into calls.

use proptest::prelude::*;
use pulse_core::engine::UsageKey;
use pulse_core::{parse_event, ApplyOutcome, Engine, Event, ScoringConfig};

/// A usage event of account `acme`: id, day (0..70), second of day, user, feature.
fn usage() -> impl Strategy<Value = (u8, u8, u32, u8, Option<u8>)> {
    (0..40u8, 0..70u8, 0..86_400u32, 0..8u8, prop::option::of(0..3u8))
}

fn event((id, day, sec, user, feature): (u8, u8, u32, u8, Option<u8>)) -> Event {
    let ts = chrono::DateTime::from_timestamp(1_767_225_600 + i64::from(day) * 86_400 + i64::from(sec), 0)
        .expect("timestamp")
        .to_rfc3339();
    let feature =
        feature.map_or(String::new(), |f| format!(r#","feature":"{}""#, ["reports", "alerts", "api"][usize::from(f)]));
    let line = format!(
        r#"{{"type":"usage","event_id":"e{id}","account_id":"acme","user_id":"u{user}","event":"x","timestamp":"{ts}"{feature}}}"#
    );
    parse_event(line.as_bytes()).expect("valid usage event")
}

fn config() -> ScoringConfig {
    ScoringConfig::from_toml_str(r#"core_features = ["reports", "alerts", "api"]"#).expect("valid config")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn many_equals_one_by_one(evs in prop::collection::vec(usage(), 1..120), cuts in prop::collection::vec(1..20usize, 1..10)) {
        let config = config();
        let keys: Vec<UsageKey> = evs
            .iter()
            .map(|e| match event(*e) {
                Event::Usage(u) => UsageKey::of(&config, &u),
                _ => unreachable!("usage events only"),
            })
            .collect();

        let mut one = Engine::new(config.clone());
        let expected: Vec<ApplyOutcome> = keys.iter().map(|k| one.apply_usage("acme", *k)).collect();

        let mut many = Engine::new(config.clone());
        let mut got = Vec::new();
        let mut rest = &keys[..];
        for cut in cuts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (now, later) = rest.split_at((*cut).min(rest.len()));
            many.apply_usage_many("acme", now, |o| got.push(o));
            rest = later;
        }
        prop_assert_eq!(got, expected);
        prop_assert!(many == one, "state differs");
    }
}
