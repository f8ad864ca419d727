//! Which copy of a repeated event counts (SPEC v3 §1), as one 256-bit number: the
//! [`CopyKey`]. The one definition of the order, used by the core (usage repeats in
//! `activity`, CRM repeats in `crm`) and by the raw tables' `copy_rank`
//! (`pulse_storage::raw::copy_rank`), so what ClickHouse keeps cannot drift from what
//! the scores count.
//!
//! The key is four `u64` words, most significant first; the smaller key wins:
//! - word 0, both kinds: the timestamp in microseconds since 1900-01-01T00:00:00Z (every
//!   storable timestamp lies after it, SPEC v3 §1);
//! - usage: word 1 the *user key*, word 2 the *feature key* ([`user_key`],
//!   [`feature_key`]), word 3 zero: left to the storage, which puts the raw length there
//!   to break ties between copies that the core treats as equal;
//! - CRM: words 1..=3 the first 24 bytes of the copy's [`copy_json`], big-endian,
//!   zero-padded (JSON text holds no NUL byte, so a shorter prefix sorts first, as
//!   bytewise comparison wants).
//!
//! For usage copies the key is exact. For CRM copies it is exact up to 24 bytes of
//! canonical JSON: two copies equal in their microsecond and those bytes have equal keys,
//! and the core then compares the whole [`copy_json`] (see [`crm_order`]), while a
//! ReplacingMergeTree keeps an arbitrary one of them. Copies that differ within the
//! first fields (the common case: another `licensed_seats`, `dimension`, `status`) are
//! ordered exactly.

use super::{canonical_json_without, Event};
use crate::hash::hash_str;

/// Microseconds from 1900-01-01T00:00:00Z to the Unix epoch.
pub const US_1900_TO_EPOCH: i64 = 2_208_988_800_000_000;

/// The members every copy of one event shares, left out of [`copy_json`].
const SHARED_MEMBERS: [&str; 2] = ["account_id", "event_id"];

/// The order of copies of one event id: smaller wins. See the module doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct CopyKey(pub [u64; 4]);

impl CopyKey {
    /// A usage copy's key from its timestamp (µs since the epoch), [`user_key`] and
    /// [`feature_key`]. A timestamp before 1900 (never a parsed one) counts as 1900.
    pub fn usage(ts_us: i64, user_key: u64, feature_key: u64) -> Self {
        CopyKey([since_1900(ts_us), user_key, feature_key, 0])
    }

    /// A CRM copy's key from its timestamp (µs since the epoch) and [`copy_json`].
    pub fn crm(ts_us: i64, copy_json: &str) -> Self {
        let mut bytes = [0u8; 24];
        let prefix = &copy_json.as_bytes()[..copy_json.len().min(24)];
        bytes[..prefix.len()].copy_from_slice(prefix);
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
            u64::from_be_bytes(w)
        };
        CopyKey([since_1900(ts_us), word(0), word(1), word(2)])
    }

    /// The key as a big-endian 256-bit number.
    pub fn to_be_bytes(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, w) in self.0.iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&w.to_be_bytes());
        }
        out
    }
}

fn since_1900(ts_us: i64) -> u64 {
    u64::try_from(ts_us.saturating_add(US_1900_TO_EPOCH)).unwrap_or(0)
}

/// The *user key* of SPEC v3 §1: FNV-1a 64 of the `user_id`'s UTF-8 bytes finished with
/// murmur3's fmix64. The engine counts users by this key too.
pub fn user_key(user_id: &str) -> u64 {
    hash_str(user_id)
}

/// The *feature key* of SPEC v3 §1: as [`user_key`], of the feature; 0 without one (the
/// parser reads an empty feature as none).
pub fn feature_key(feature: Option<&str>) -> u64 {
    feature.map_or(0, hash_str)
}

/// The canonical JSON of a CRM copy (SPEC v3 §1, [`super::canonical_json`]) less its
/// `account_id` and `event_id` members. Every copy of one event id has the same two
/// (repeats are found per account), and removing members that are equal in both strings
/// keeps their bytewise order (the members are sorted by key and the keys are plain
/// identifiers, so where a member is missing the next key decides the same way), so
/// comparing these is comparing canonical JSON, with the room in the [`CopyKey`] spent
/// on the fields that differ.
pub fn copy_json(ev: &Event) -> String {
    canonical_json_without(ev, &SHARED_MEMBERS)
}

/// The key of any copy: usage by (µs, user key, feature key), CRM by (µs, [`copy_json`]).
pub fn copy_key(ev: &Event) -> CopyKey {
    let ts_us = ev.timestamp().timestamp_micros();
    match ev {
        Event::Usage(u) => CopyKey::usage(ts_us, user_key(&u.user_id), feature_key(u.feature.as_deref())),
        other => CopyKey::crm(ts_us, &copy_json(other)),
    }
}

/// The complete order of CRM copies (SPEC v3 §1: the earlier timestamp to the
/// microsecond, then the smaller canonical JSON): the [`CopyKey`], then the whole
/// [`copy_json`] where the key's 24 bytes tie.
pub(crate) fn crm_order(ev: &Event) -> (CopyKey, String) {
    let json = copy_json(ev);
    (CopyKey::crm(ev.timestamp().timestamp_micros(), &json), json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::canonical_json;
    use crate::parse_event;
    use proptest::prelude::*;
    use serde_json::json;

    fn ev(line: &str) -> Event {
        parse_event(line.as_bytes()).expect("valid test event")
    }

    #[test]
    fn usage_keys_order_by_time_then_user_then_feature() {
        let t = 1_790_000_000_000_000;
        assert!(CopyKey::usage(t, u64::MAX, u64::MAX) < CopyKey::usage(t + 1, 0, 0), "a microsecond first");
        assert!(CopyKey::usage(t, 1, u64::MAX) < CopyKey::usage(t, 2, 0), "then the user key");
        assert!(CopyKey::usage(t, 1, 1) < CopyKey::usage(t, 1, 2), "then the feature key");
        assert_eq!(CopyKey::usage(-US_1900_TO_EPOCH, 0, 0), CopyKey::default(), "1900 is zero");
        let a = ev(
            r#"{"type":"usage","event_id":"e","account_id":"a","user_id":"u-1","event":"x","feature":"f","timestamp":"2026-01-01T00:00:00.000001Z"}"#,
        );
        let k = copy_key(&a);
        assert_eq!(k.0[1], hash_str("u-1"));
        assert_eq!(k.0[2], hash_str("f"));
        assert_eq!(k.0[0], u64::try_from(a.timestamp().timestamp_micros() + US_1900_TO_EPOCH).unwrap_or(0));
    }

    #[test]
    fn crm_keys_hold_the_microsecond_and_24_bytes_of_the_copy_json() {
        let a = ev(
            r#"{"type":"account","event_id":"s","account_id":"acme","timestamp":"2026-01-01T08:00:00.000500Z","licensed_seats":10}"#,
        );
        assert_eq!(copy_json(&a), r#"{"licensed_seats":10,"type":"account"}"#);
        let k = copy_key(&a);
        assert_eq!(&k.to_be_bytes()[8..], br#"{"licensed_seats":10,"ty"#);
        let short = CopyKey::crm(0, "{}");
        assert_eq!(&short.to_be_bytes()[8..], b"{}\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
        assert!(CopyKey::crm(0, "{}") < CopyKey::crm(0, "{}x"), "a prefix sorts first");
        assert!(CopyKey::crm(0, "{\"z\"") < CopyKey::crm(1, "{"), "a microsecond first");
    }

    /// Two copies of one event id compared by the SPEC's definition (µs, then the whole
    /// canonical JSON) and by the key: the key never contradicts the SPEC, and where the
    /// copy JSONs differ within 24 bytes it decides alone.
    fn check_crm(a: &Event, b: &Event) {
        let spec = |e: &Event| (e.timestamp().timestamp_micros(), canonical_json(e));
        assert_eq!(crm_order(a).cmp(&crm_order(b)), spec(a).cmp(&spec(b)), "{a:?} vs {b:?}");
        let (ka, kb) = (copy_key(a), copy_key(b));
        if ka != kb {
            assert_eq!(ka.cmp(&kb), spec(a).cmp(&spec(b)), "{a:?} vs {b:?}");
        }
    }

    /// A random CRM copy of event `s` of `account`: a type and a random subset of fields
    /// with random values (short strings, so that many ties reach past the key's bytes).
    fn arb_copy(account: String) -> impl Strategy<Value = Event> {
        let text = proptest::sample::select(vec!["", "a", "b", "ab", "\"q\"", "é", "a long value past the key"]);
        (
            0u32..3,
            proptest::option::of(0u64..200),
            proptest::option::of(proptest::sample::select(vec![0.0, 5.0, 5.5, 1e15])),
            proptest::option::of(text.clone()),
            proptest::option::of(text.clone()),
            0usize..3,
            text,
        )
            .prop_map(move |(us, seats, arr, csm, name, kind, t)| {
                let ts = format!("2026-01-01T08:00:00.{us:06}Z");
                let head = format!(r#""event_id":"s","account_id":{},"timestamp":"{ts}""#, json!(account));
                let line = match kind {
                    0 => {
                        let mut f = String::new();
                        for (k, v) in [
                            ("licensed_seats", seats.map(|x| json!(x))),
                            ("arr", arr.map(|x| json!(x))),
                            ("csm", csm.map(|x| json!(x))),
                            ("name", name.map(|x| json!(x))),
                        ] {
                            if let Some(v) = v {
                                f.push_str(&format!(r#","{k}":{v}"#));
                            }
                        }
                        format!(r#"{{"type":"account",{head}{f}}}"#)
                    }
                    1 => format!(
                        r#"{{"type":"ticket",{head},"ticket_id":{},"severity":"low","status":"open"}}"#,
                        json!(format!("t{t}"))
                    ),
                    _ => format!(
                        r#"{{"type":"milestone",{head},"item":{},"status":"done"}}"#,
                        json!(format!("i{}", csm.unwrap_or("")))
                    ),
                };
                ev(&line)
            })
    }

    proptest! {
        #[test]
        fn random_crm_copies_order_as_the_spec_says(
            (a, b) in proptest::sample::select(vec!["acme", "a", "zz\"quoted\"", "\u{1F600}"])
                .prop_flat_map(|acct| (arb_copy(acct.to_owned()), arb_copy(acct.to_owned())))
        ) {
            check_crm(&a, &b);
        }
    }

    #[test]
    fn the_crm_key_orders_copies_as_the_canonical_json_does() {
        let at = |us: u32, fields: &str| {
            ev(&format!(
                r#"{{"type":"account","event_id":"s","account_id":"acme","timestamp":"2026-01-01T08:00:00.{us:06}Z"{fields}}}"#
            ))
        };
        let copies = [
            at(500, r#","licensed_seats":10"#),
            at(500, r#","licensed_seats":20"#),
            at(500, r#","licensed_seats":100"#),
            at(500, r#","arr":5"#),
            at(500, r#","arr":5,"licensed_seats":10"#),
            at(500, r#","csm":"b","licensed_seats":10"#),
            at(500, r#","name":"A very long account name beyond 24 bytes","segment":"x""#),
            at(500, r#","name":"A very long account name beyond 24 bytes","segment":"y""#),
            at(500, ""),
            at(100, r#","licensed_seats":20"#),
            ev(
                r#"{"type":"assessment","event_id":"s","account_id":"acme","timestamp":"2026-01-01T08:00:00.000500Z","dimension":"value","score":7,"author":"c"}"#,
            ),
            ev(
                r#"{"type":"ticket","event_id":"s","account_id":"acme","timestamp":"2026-01-01T08:00:00.000500Z","ticket_id":"t","severity":"low","status":"open"}"#,
            ),
        ];
        for a in &copies {
            for b in &copies {
                check_crm(a, b);
            }
        }
    }
}
