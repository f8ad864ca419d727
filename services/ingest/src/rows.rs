//! ClickHouse rows for the raw event tables (`schemas/clickhouse/006_raw_events_v2.sql`).
//! The client validates each row against the table's column names and types
//! (`RowBinaryWithNamesAndTypes`), so a drift between these structs and the DDL fails
//! the first insert with a clear error instead of writing garbage.

use pulse_core::Event;
use serde::{Deserialize, Serialize};

/// Where a message came from: kept with every row and every dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct UsageRow {
    pub event_id: String,
    pub account_id: String,
    pub user_id: String,
    pub event: String,
    pub feature: String,
    /// DateTime64(3, 'UTC'): milliseconds since the epoch.
    pub timestamp: i64,
    pub properties: String,
    pub raw: String,
    pub source_topic: String,
    pub source_partition: i32,
    pub source_offset: i64,
    pub ingested_at: u32,
    /// Which copy of a repeated event id wins: see [`copy_rank`].
    pub copy_rank: u64,
}

#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct CrmRow {
    pub event_id: String,
    pub account_id: String,
    /// Enum8 name, e.g. `account`.
    #[serde(rename = "type")]
    pub kind: CrmType,
    /// DateTime64(3, 'UTC'): milliseconds since the epoch.
    pub timestamp: i64,
    pub payload: String,
    pub raw: String,
    pub source_topic: String,
    pub source_partition: i32,
    pub source_offset: i64,
    pub ingested_at: u32,
    pub copy_rank: u64,
}

/// The `crm_events.type` Enum8, with the same numeric values as the DDL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde_repr::Serialize_repr, serde_repr::Deserialize_repr)]
#[repr(i8)]
pub enum CrmType {
    Account = 1,
    Assessment = 2,
    Milestone = 3,
    Training = 4,
    Kpi = 5,
    Stakeholder = 6,
    Ticket = 7,
    Renewal = 8,
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
/// dead-lettered with `timestamp_out_of_range`.
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

/// Builds the raw-table row for a validated event.
pub fn raw_row(ev: &Event, raw: &[u8], source: &Source<'_>, ingested_at: u32, timestamp: i64) -> RawRow {
    let copy_rank = copy_rank(timestamp, raw.len());
    let raw = String::from_utf8_lossy(raw).into_owned();
    match ev {
        Event::Usage(u) => RawRow::Usage(UsageRow {
            event_id: u.event_id.clone(),
            account_id: u.account_id.clone(),
            user_id: u.user_id.clone(),
            event: u.event.clone(),
            feature: u.feature.clone().unwrap_or_default(),
            timestamp,
            properties: u.properties.to_string(),
            raw,
            source_topic: source.topic.to_owned(),
            source_partition: source.partition,
            source_offset: source.offset,
            ingested_at,
            copy_rank,
        }),
        other => {
            let kind = match other {
                Event::Account(_) => CrmType::Account,
                Event::Assessment(_) => CrmType::Assessment,
                Event::Milestone(_) => CrmType::Milestone,
                Event::Training(_) => CrmType::Training,
                Event::Kpi(_) => CrmType::Kpi,
                Event::Stakeholder(_) => CrmType::Stakeholder,
                Event::Renewal(_) => CrmType::Renewal,
                Event::Ticket(_) | Event::Usage(_) => CrmType::Ticket,
            };
            RawRow::Crm(CrmRow {
                event_id: other.event_id().to_owned(),
                account_id: other.account_id().to_owned(),
                kind,
                timestamp,
                payload: serde_json::to_string(other).unwrap_or_default(),
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
}
