//! The raw event tables `usage_events` and `crm_events`
//! (`schemas/clickhouse/006_raw_events_v2.sql`), written by ingest (and by the API's
//! fixtures, for renewal outcomes) through [`raw_row`], read by the API's forecast.

use chrono::{DateTime, Utc};
use pulse_core::Event;
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
    pub copy_rank: u64,
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
    pub copy_rank: u64,
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

/// The ReplacingMergeTree version of one copy of an event (SPEC §1: of copies under one
/// event id, the earliest `timestamp` wins, ties go to the smaller serialized copy).
/// ReplacingMergeTree keeps the largest version, so the rank is inverted:
/// `u64::MAX - (ms since 1900 << 20 | min(len, 2^20 - 1))`. 2300 is 1.3e13 ms after 1900,
/// which needs 44 bits: with 20 bits for the length it fits in 64.
pub fn copy_rank(timestamp_ms: i64, raw_len: usize) -> u64 {
    let since_1900 = u64::try_from(timestamp_ms + MS_1900_TO_EPOCH).unwrap_or(0);
    let len = u64::try_from(raw_len.min((1 << 20) - 1)).unwrap_or(0);
    u64::MAX - ((since_1900 << 20) | len)
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
    let copy_rank = copy_rank(timestamp, raw.len());
    // A parsed event's bytes are UTF-8 (JSON), so the lossy scan is only a fallback.
    let raw = match std::str::from_utf8(raw) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(raw).into_owned(),
    };
    let ingested_at = crate::types::seconds(ingested_at);
    let time = millis(timestamp);
    match ev {
        Event::Usage(u) => RawRow::Usage(UsageRow {
            event_id: u.event_id.clone(),
            account_id: u.account_id.clone(),
            user_id: u.user_id.clone(),
            event: u.event.clone(),
            feature: u.feature.clone().unwrap_or_default(),
            timestamp: time,
            // `to_string` would go through `Display`, a character at a time.
            properties: serde_json::to_string(&u.properties).unwrap_or_default(),
            raw,
            source_topic: source.topic.to_owned(),
            source_partition: source.partition,
            source_offset: source.offset,
            ingested_at,
            copy_rank,
        }),
        other => RawRow::Crm(CrmRow {
            event_id: other.event_id().to_owned(),
            account_id: other.account_id().to_owned(),
            kind: crm_type(other).unwrap_or(CrmType::Ticket),
            timestamp: time,
            payload: serde_json::to_string(other).unwrap_or_default(),
            raw,
            source_topic: source.topic.to_owned(),
            source_partition: source.partition,
            source_offset: source.offset,
            ingested_at,
            copy_rank,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earlier_copies_rank_higher_and_ties_go_to_the_smaller_copy() {
        let t = 1_790_000_000_000; // 2026-09
        assert!(copy_rank(t, 100) > copy_rank(t + 1, 100), "earlier timestamp wins");
        assert!(copy_rank(t, 100) > copy_rank(t, 101), "same time: smaller copy wins");
        assert!(copy_rank(t, 1 << 30) > copy_rank(t + 1, 0), "length never outweighs a millisecond");
        assert!(copy_rank(-MS_1900_TO_EPOCH, 0) > copy_rank(MS_END_2299 - 1, (1 << 20) - 1));
        assert!(copy_rank(MS_END_2299 - 1, (1 << 20) - 1) > 0, "the whole range fits");
    }

    #[test]
    fn times_outside_datetime64_are_refused_and_inside_round_trip() {
        let ms = 1_790_000_000_123;
        assert_eq!(millis(ms).timestamp_millis(), ms);
        assert_eq!(millis(-MS_1900_TO_EPOCH).to_rfc3339(), "1900-01-01T00:00:00+00:00");
    }
}
