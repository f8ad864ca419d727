//! Rebuilding a partition's state from the raw events stored in ClickHouse, after a
//! scoring-config change.
//!
//! Why not from the log: a snapshot taken under other rules is never restored (feature
//! bits and horizons differ), and `pulse.events` keeps days (7 by default), while CRM
//! history (seats, stages, renewal dates) goes back years. Replaying the log from its
//! start would forget every CRM event older than its retention: accounts turn
//! `seats_unknown` at once and alerts open in bulk. ClickHouse keeps every raw event
//! (the migrations set no TTL), so the partition is rebuilt from there: every CRM event
//! of its accounts, and their usage events within the activity retention, then the log
//! continues at the offset the old snapshot covered. Events present in both (anything
//! after that offset that ingest also stored) are applied twice, which changes nothing.
//!
//! Which accounts the partition holds comes from the newest snapshot under the old
//! config: the events topic is keyed by account, and that snapshot's engine holds
//! exactly the accounts of its partition.

use std::collections::HashMap;

use chrono::NaiveDate;
use pulse_core::{parse_event, ApplyOutcome};

use crate::state::PartitionState;

/// Usage days read back per account, before its newest usage event: at least the
/// activity retention (horizon + 56 days, at most 127 by the masks' width).
pub const USAGE_DAYS: u32 = 128;

/// What a rebuild read and applied.
#[derive(Debug, Default)]
pub struct Rebuilt {
    pub crm_events: u64,
    pub usage_events: u64,
    /// Stored rows the parser refuses (stored by an older release): skipped.
    pub unparsable: u64,
    /// Per account, the earliest day an applied event changed.
    pub touched: HashMap<String, NaiveDate>,
}

#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct Raw {
    raw: String,
}

/// Applies the stored raw events of `accounts` to `state` (a fresh state under the new
/// config). Every stored copy is read (no `FINAL`): the engine decides which copy of a
/// repeated event counts on which day, as it does from the log.
pub async fn from_raw(
    ch: &clickhouse::Client,
    accounts: &[String],
    state: &mut PartitionState,
) -> Result<Rebuilt, clickhouse::error::Error> {
    let mut out = Rebuilt::default();
    if accounts.is_empty() {
        return Ok(out);
    }
    let crm = "SELECT raw FROM crm_events WHERE account_id IN {accounts:Array(String)}";
    let usage = "SELECT u.raw AS raw FROM usage_events AS u \
         INNER JOIN (SELECT account_id, max(timestamp) AS newest FROM usage_events \
                     WHERE account_id IN {accounts:Array(String)} GROUP BY account_id) AS n \
         ON u.account_id = n.account_id \
         WHERE u.account_id IN {accounts:Array(String)} AND u.timestamp >= n.newest - toIntervalDay({days:UInt32})";
    for (sql, is_crm) in [(crm, true), (usage, false)] {
        let mut cursor = ch.query(sql).param("accounts", accounts).param("days", USAGE_DAYS).fetch::<Raw>()?;
        while let Some(row) = cursor.next().await? {
            let ev = match parse_event(row.raw.as_bytes()) {
                Ok(ev) => ev,
                Err(_) => {
                    out.unparsable += 1;
                    continue;
                }
            };
            if is_crm {
                out.crm_events += 1;
            } else {
                out.usage_events += 1;
            }
            if state.engine.apply(&ev) == ApplyOutcome::Applied {
                let day = ev.timestamp().date_naive();
                let slot = out.touched.entry(ev.account_id().to_owned()).or_insert(day);
                *slot = (*slot).min(day);
            }
        }
    }
    Ok(out)
}
