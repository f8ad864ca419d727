//! The raw event tables `usage_events` and `crm_events`
//! (`schemas/clickhouse/006_raw_events_v2.sql`, `copy_rank` widened by
//! `007_copy_rank_u256.sql`), written by ingest (and by the API's fixtures, for renewal
//! outcomes) through [`raw_row`], read by the API's forecast.

use chrono::{DateTime, Utc};
use clickhouse::types::UInt256;
use pulse_core::{event::copy_key, Event};
use serde::{Deserialize, Serialize};

use crate::types::{millis, CrmType};

/// Where a message came from: kept with every row (`source_*` columns) and every
/// dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

/// One row of `usage_events`.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct UsageRow {
    pub event_id: String,
    pub account_id: String,
    pub user_id: String,
    pub event: String,
    pub feature: String,
    /// `DateTime64(3, 'UTC')`: the event time.
    #[serde(with = "clickhouse::serde::chrono::datetime64::millis")]
    pub timestamp: DateTime<Utc>,
    pub properties: String,
    pub raw: String,
    pub source_topic: String,
    pub source_partition: i32,
    pub source_offset: i64,
    #[serde(with = "clickhouse::serde::chrono::datetime")]
    pub ingested_at: DateTime<Utc>,
    /// Which copy of a repeated event id wins: see [`copy_rank`].
    pub copy_rank: UInt256,
}

/// One row of `crm_events`.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct CrmRow {
    pub event_id: String,
    pub account_id: String,
    #[serde(rename = "type")]
    pub kind: CrmType,
    /// `DateTime64(3, 'UTC')`: the event time.
    #[serde(with = "clickhouse::serde::chrono::datetime64::millis")]
    pub timestamp: DateTime<Utc>,
    /// The normalized event (JSON).
    pub payload: String,
    pub raw: String,
    pub source_topic: String,
    pub source_partition: i32,
    pub source_offset: i64,
    #[serde(with = "clickhouse::serde::chrono::datetime")]
    pub ingested_at: DateTime<Utc>,
    /// Which copy of a repeated event id wins: see [`copy_rank`].
    pub copy_rank: UInt256,
}

/// A row for one of the two raw tables.
#[derive(Debug, Clone, PartialEq)]
pub enum RawRow {
    Usage(UsageRow),
    Crm(CrmRow),
}

/// Milliseconds from 1900-01-01 to 1970-01-01.
const MS_1900_TO_EPOCH: i64 = 2_208_988_800_000;
/// First millisecond after 2299-12-31 (2300-01-01T00:00:00Z), since the epoch.
const MS_END_2299: i64 = 10_413_792_000_000;

/// The event time as a ClickHouse `DateTime64(3)` (ms since the epoch). `None` outside
/// the type's range (1900-01-01 .. 2299-12-31): such an event cannot be stored and is
/// dead-lettered with `out_of_range` (the parser refuses such a timestamp first).
pub fn storage_time(ev: &Event) -> Option<i64> {
    let ms = ev.timestamp().timestamp_millis();
    (-MS_1900_TO_EPOCH..MS_END_2299).contains(&ms).then_some(ms)
}

/// The ReplacingMergeTree version of one copy of an event: the copy pulse-core scores
/// wins (SPEC v3 §1: the earliest `timestamp` to the microsecond; ties: usage by user key
/// then feature key, CRM by canonical JSON; "the raw tables keep the copy that was
/// scored"). It is [`pulse_core::event::CopyKey`], the core's own order, inverted because
/// ReplacingMergeTree keeps the largest version: `UInt256::MAX - key`. A usage key's
/// last word is free, so it holds `raw_len`: copies the core treats as equal (another
/// `event` name or `properties`) keep the shorter raw. A CRM key holds 24 bytes of
/// canonical JSON: copies equal in their microsecond and in those bytes keep an
/// arbitrary one of them (the core decides on the whole JSON).
pub fn copy_rank(ev: &Event, raw_len: usize) -> UInt256 {
    let mut key = copy_key(ev);
    if ev.is_usage() {
        key.0[3] = u64::try_from(raw_len).unwrap_or(u64::MAX);
    }
    let mut le = key.to_be_bytes();
    le.reverse();
    UInt256::from_le_bytes(le.map(|b| !b))
}

/// The `crm_events.type` of a CRM event (`None` for usage events).
pub fn crm_type(ev: &Event) -> Option<CrmType> {
    Some(match ev {
        Event::Usage(_) => return None,
        Event::Account(_) => CrmType::Account,
        Event::Assessment(_) => CrmType::Assessment,
        Event::Milestone(_) => CrmType::Milestone,
        Event::Training(_) => CrmType::Training,
        Event::Kpi(_) => CrmType::Kpi,
        Event::Stakeholder(_) => CrmType::Stakeholder,
        Event::Renewal(_) => CrmType::Renewal,
        Event::Ticket(_) => CrmType::Ticket,
    })
}

/// Builds the raw-table row for a validated event; `timestamp` is its
/// [`storage_time`] (ms since the epoch), `ingested_at` seconds since the epoch.
pub fn raw_row(ev: &Event, raw: &[u8], source: &Source<'_>, ingested_at: u32, timestamp: i64) -> RawRow {
    into_raw_row(ev.clone(), raw, source, ingested_at, timestamp)
}

/// [`raw_row`] of an event the caller is done with: its strings move into the row
/// instead of being copied (ingest builds one row per message; the copies were about
/// 2% of its CPU per event).
pub fn into_raw_row(ev: Event, raw: &[u8], source: &Source<'_>, ingested_at: u32, timestamp: i64) -> RawRow {
    let copy_rank = copy_rank(&ev, raw.len());
    // A parsed event's bytes are UTF-8 (JSON), so the lossy scan is only a fallback.
    let raw = match std::str::from_utf8(raw) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(raw).into_owned(),
    };
    let ingested_at = crate::types::seconds(ingested_at);
    let time = millis(timestamp);
    match ev {
        Event::Usage(u) => RawRow::Usage(UsageRow {
            // `to_string` would go through `Display`, a character at a time.
            properties: serde_json::to_string(&u.properties).unwrap_or_default(),
            event_id: u.event_id,
            account_id: u.account_id,
            user_id: u.user_id,
            event: u.event,
            feature: u.feature.unwrap_or_default(),
            timestamp: time,
            raw,
            source_topic: source.topic.to_owned(),
            source_partition: source.partition,
            source_offset: source.offset,
            ingested_at,
            copy_rank,
        }),
        other => {
            let kind = crm_type(&other).unwrap_or(CrmType::Ticket);
            let payload = serde_json::to_string(&other).unwrap_or_default();
            let (event_id, account_id) = crm_ids(other);
            RawRow::Crm(CrmRow {
                event_id,
                account_id,
                kind,
                timestamp: time,
                payload,
                raw,
                source_topic: source.topic.to_owned(),
                source_partition: source.partition,
                source_offset: source.offset,
                ingested_at,
                copy_rank,
            })
        }
    }
}

/// A CRM event's `event_id` and `account_id`, moved out of it.
fn crm_ids(ev: Event) -> (String, String) {
    match ev {
        Event::Usage(e) => (e.event_id, e.account_id),
        Event::Account(e) => (e.event_id, e.account_id),
        Event::Assessment(e) => (e.event_id, e.account_id),
        Event::Milestone(e) => (e.event_id, e.account_id),
        Event::Training(e) => (e.event_id, e.account_id),
        Event::Kpi(e) => (e.event_id, e.account_id),
        Event::Stakeholder(e) => (e.event_id, e.account_id),
        Event::Ticket(e) => (e.event_id, e.account_id),
        Event::Renewal(e) => (e.event_id, e.account_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(line: &str) -> Event {
        pulse_core::parse_event(line.as_bytes()).expect("valid test event")
    }

    fn usage(ts: &str, user: &str, feature: &str) -> Event {
        event(&format!(
            r#"{{"type":"usage","event_id":"e","account_id":"a","user_id":"{user}","event":"x","feature":"{feature}","timestamp":"{ts}"}}"#
        ))
    }

    #[test]
    fn the_rank_is_the_cores_key_inverted() {
        let t = "2026-09-01T10:00:00.000500Z";
        let a = usage(t, "u-1", "reports");
        let rank = copy_rank(&a, 77).to_le_bytes();
        let mut key = copy_key(&a);
        key.0[3] = 77;
        let mut be = key.to_be_bytes();
        be.reverse();
        assert!(rank.iter().zip(be).all(|(r, k)| *r == !k), "MAX - key");
        assert!(copy_rank(&a, 1 << 40) > copy_rank(&usage("2026-09-01T10:00:00.000501Z", "u-1", "reports"), 0));
        assert!(copy_rank(&a, 100) > copy_rank(&a, 101), "copies equal to the core: the shorter raw");
        let crm = event(
            r#"{"type":"account","event_id":"s","account_id":"a","timestamp":"2026-09-01T10:00:00.000500Z","licensed_seats":10}"#,
        );
        assert_eq!(copy_rank(&crm, 5), copy_rank(&crm, 500), "no length in a CRM rank");
    }

    /// Copies the core orders one way are ranked the other way round (the largest rank
    /// is kept), whatever their lengths: the shared key decides, the length only ties.
    #[test]
    fn the_copy_the_core_scores_has_the_largest_rank() {
        let ms = "2026-09-01T10:00:00.000";
        let mut copies = Vec::new();
        for us in ["100", "500", "900"] {
            for user in ["u-a", "u-b", "u-p", "u-q"] {
                for feature in ["", "reports", "alerts"] {
                    copies.push(usage(&format!("{ms}{us}Z"), user, feature));
                }
            }
        }
        for seats in [10, 20, 100] {
            for us in ["100", "500"] {
                copies.push(event(&format!(
                    r#"{{"type":"account","event_id":"e","account_id":"a","timestamp":"{ms}{us}Z","licensed_seats":{seats}}}"#
                )));
            }
        }
        for (i, a) in copies.iter().enumerate() {
            for (j, b) in copies.iter().enumerate() {
                if a.is_usage() != b.is_usage() || copy_key(a) == copy_key(b) {
                    continue;
                }
                let (la, lb) = (1000 + i, 1000 - j);
                assert_eq!(copy_rank(a, la).cmp(&copy_rank(b, lb)), copy_key(b).cmp(&copy_key(a)), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn times_outside_datetime64_are_refused_and_inside_round_trip() {
        let ms = 1_790_000_000_123;
        assert_eq!(millis(ms).timestamp_millis(), ms);
        assert_eq!(millis(-MS_1900_TO_EPOCH).to_rfc3339(), "1900-01-01T00:00:00+00:00");
    }
}
