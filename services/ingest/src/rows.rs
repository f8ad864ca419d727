//! ClickHouse rows for the raw event tables, in the column order of
//! `schemas/clickhouse/001_raw_events.sql` (row validation is off for ClickHouse 18.16,
//! so order is what maps fields to columns).

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
    /// DateTime('UTC') as seconds since the epoch.
    pub timestamp: u32,
    pub properties: String,
    pub raw: String,
    pub source_topic: String,
    pub source_partition: i32,
    pub source_offset: i64,
    pub ingested_at: u32,
}

#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct CrmRow {
    pub event_id: String,
    pub account_id: String,
    /// Enum8 name, e.g. `account`.
    #[serde(rename = "type")]
    pub kind: CrmType,
    pub timestamp: u32,
    pub payload: String,
    pub raw: String,
    pub source_topic: String,
    pub source_partition: i32,
    pub source_offset: i64,
    pub ingested_at: u32,
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
}

/// A row for one of the two raw tables.
#[derive(Debug, Clone, PartialEq)]
pub enum RawRow {
    Usage(UsageRow),
    Crm(CrmRow),
}

/// The event time as a ClickHouse `DateTime` (u32 seconds). `None` when it does not
/// fit (before 1970 or after 2106): such an event cannot be stored and is dead-lettered.
pub fn storage_time(ev: &Event) -> Option<u32> {
    u32::try_from(ev.timestamp().timestamp()).ok()
}

/// Builds the raw-table row for a validated event.
pub fn raw_row(ev: &Event, raw: &[u8], source: &Source<'_>, ingested_at: u32, timestamp: u32) -> RawRow {
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
        }),
        other => {
            let kind = match other {
                Event::Account(_) => CrmType::Account,
                Event::Assessment(_) => CrmType::Assessment,
                Event::Milestone(_) => CrmType::Milestone,
                Event::Training(_) => CrmType::Training,
                Event::Kpi(_) => CrmType::Kpi,
                Event::Stakeholder(_) => CrmType::Stakeholder,
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
            })
        }
    }
}
