//! The outputs of one batch: ClickHouse rows and Kafka messages for health, readiness and
//! alert transitions. Written all-or-nothing from the caller's view (retried until every
//! insert and every delivery is acknowledged); duplicates are harmless downstream.
//!
//! ClickHouse failures are classified like ingest's (`pulse_runtime::clickhouse::classify`):
//! transient ones fail the write (the caller retries it with the partitions paused); rows
//! the server refuses for their *content* are isolated by inserting halves of the refused
//! range until single rows remain, each refused row is dead-lettered (reason
//! `storage_rejected`, the server's message, the result's JSON as the original, the table
//! as `source_topic`) and the rest is stored, so one bad row never stops the scorer.

use std::time::{Duration, Instant};

use clickhouse::{RowOwned, RowWrite};
use futures::future::join_all;
use pulse_core::{AlertTransition, Evaluation};
use pulse_runtime::{
    clickhouse::{classify, Failure},
    dlq::{DeadLetter, Origin, Reason, DEFAULT_MAX_ORIGINAL_BYTES},
};
use pulse_storage::{tables, types};
use rdkafka::{error::KafkaError, producer::FutureProducer, producer::FutureRecord};

pub use crate::rows::tagged;
use crate::rows::{alert_id, lifecycle_str, next_version, AlertRow, Attributes, HealthRow, ReadinessRow};

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("clickhouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
}

#[derive(Default)]
pub struct Outputs {
    pub health: Vec<HealthRow>,
    pub readiness: Vec<ReadinessRow>,
    pub alerts: Vec<AlertRow>,
    /// (topic kind, key, payload); kind is `health`, `readiness` or `alert`.
    pub messages: Vec<(Kind, String, Vec<u8>)>,
    /// Each with the partition whose state derived it (notifications are gated per
    /// partition, see `notify`).
    pub transitions: Vec<(i32, AlertTransition)>,
    /// System alerts (`source_stalled`), for `system_alerts` (their messages are in
    /// `messages` as [`Kind::System`]).
    pub system: Vec<pulse_storage::SystemAlertRow>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Health,
    Readiness,
    Alert,
    /// A system alert, published on the alerts topic (never notified by the webhook:
    /// `"notify": false`; operators alert on `pulse_source_lag_seconds`).
    System,
}

impl Outputs {
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Adds both results of one evaluation (already serialized by the caller, which
    /// needs the JSON to detect unchanged results).
    pub fn push_evaluation(
        &mut self,
        ev: &Evaluation,
        health_json: String,
        readiness_json: String,
        attrs: &Attributes,
        now: u32,
    ) {
        let lifecycle = lifecycle_str(&ev.readiness);
        let now = types::seconds(now);
        self.health.push(HealthRow::new(&ev.health, &lifecycle, attrs, health_json.clone(), now));
        self.readiness.push(ReadinessRow::new(&ev.readiness, readiness_json.clone(), now));
        let key = ev.health.account_id.clone();
        self.messages.push((Kind::Health, key.clone(), health_json.into_bytes()));
        self.messages.push((Kind::Readiness, key, readiness_json.into_bytes()));
    }

    /// Adds one alert transition (opened, resolved or retracted) of `partition` at
    /// `now_us` (microseconds since the epoch; the row version derives from it).
    pub fn push_transition(&mut self, partition: i32, t: AlertTransition, now_us: i64) {
        self.alerts.push(AlertRow::new(&t, next_version(now_us), types::millis(now_us.div_euclid(1000))));
        let mut v = serde_json::to_value(&t).unwrap_or(serde_json::Value::Null);
        if let serde_json::Value::Object(map) = &mut v {
            map.insert("alert_id".into(), alert_id(&t).into());
        }
        self.messages.push((Kind::Alert, t.account_id.clone(), v.to_string().into_bytes()));
        self.transitions.push((partition, t));
    }
}

impl Outputs {
    /// Adds one transition of a `source_stalled` system alert (SPEC v3 §10) at `now_ms`:
    /// a `system_alerts` row and a message on the alerts topic with `account_id` null.
    pub fn push_system_alert(
        &mut self,
        stall: &crate::sources::Stall,
        opened: bool,
        message: &str,
        now_ms: i64,
        newest_ms: Option<i64>,
    ) {
        use crate::sources::millis_to_datetime as at;
        let source = stall.source.as_str();
        let opened_at = at(stall.opened_at_ms());
        let when = if opened { opened_at } else { at(now_ms) };
        let lag = (now_ms.saturating_sub(newest_ms.unwrap_or(stall.since_ms)) as f64 / 1000.0).max(0.0);
        let rule = pulse_storage::system_alerts::SOURCE_STALLED;
        self.system.push(pulse_storage::SystemAlertRow {
            rule: rule.to_owned(),
            source: source.to_owned(),
            opened_at,
            transition: if opened { types::Transition::Opened } else { types::Transition::Resolved },
            at: when,
            since: at(stall.since_ms),
            lag_seconds: lag,
            limit_seconds: stall.limit_secs as f64,
            message: message.to_owned(),
            emitted_at: at(now_ms),
        });
        let v = serde_json::json!({
            "alert_id": format!("system/{rule}/{source}/{}", opened_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            "account_id": null,
            "rule": rule,
            "source": source,
            "state": if opened { "opened" } else { "resolved" },
            "as_of": when.date_naive(),
            "opened_on": opened_at.date_naive(),
            "opened_at": opened_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "since": at(stall.since_ms).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "lag_seconds": lag,
            "limit_seconds": stall.limit_secs,
            "severity": "critical",
            "message": message,
            "notify": false,
        });
        self.messages.push((Kind::System, format!("{rule}/{source}"), v.to_string().into_bytes()));
    }
}

/// Topic names for the three kinds, and the dead-letter topic for refused rows.
#[derive(Clone)]
pub struct OutputTopics {
    pub health: String,
    pub readiness: String,
    pub alerts: String,
    pub dlq: String,
}

/// A row the scorer writes, as a dead letter names it when ClickHouse refuses it.
pub(crate) trait ResultRow: RowOwned + RowWrite + Sync {
    fn account_id(&self) -> &str;
    /// The JSON the row stores (the dead letter's original).
    fn json(&self) -> &str;
}

impl ResultRow for HealthRow {
    fn account_id(&self) -> &str {
        &self.account_id
    }
    fn json(&self) -> &str {
        &self.result
    }
}

impl ResultRow for ReadinessRow {
    fn account_id(&self) -> &str {
        &self.account_id
    }
    fn json(&self) -> &str {
        &self.result
    }
}

impl ResultRow for AlertRow {
    fn account_id(&self) -> &str {
        &self.account_id
    }
    fn json(&self) -> &str {
        &self.details
    }
}

/// Inserts `rows`; rows refused for their content are isolated (see the module doc) and
/// returned as dead letters (key, envelope). Transient and setup errors are errors.
async fn insert_isolating<R: ResultRow>(
    ch: &clickhouse::Client,
    table: &str,
    rows: &[R],
) -> Result<Vec<(String, Vec<u8>)>, clickhouse::error::Error> {
    let mut letters = Vec::new();
    let mut todo: Vec<std::ops::Range<usize>> = Vec::with_capacity(8);
    todo.push(0..rows.len());
    while let Some(range) = todo.pop() {
        let chunk = &rows[range.clone()];
        if chunk.is_empty() {
            continue;
        }
        let Err(e) = insert(ch, table, chunk).await else { continue };
        if classify(&e) != Failure::Data {
            return Err(e);
        }
        if let [row] = chunk {
            tracing::warn!(table, error = %e, "result row refused by ClickHouse: dead-lettered");
            let letter = DeadLetter::new(
                Reason::StorageRejected,
                format!("ClickHouse refused the {table} row of account {}: {e}", row.account_id()),
                Origin { topic: table, partition: 0, offset: 0 },
                Some(row.account_id().as_bytes()),
                row.json().as_bytes(),
                chrono::Utc::now(),
                DEFAULT_MAX_ORIGINAL_BYTES,
            );
            letters.push((row.account_id().to_owned(), letter.to_json()));
        } else {
            let mid = range.start + chunk.len() / 2;
            todo.push(mid..range.end);
            todo.push(range.start..mid);
        }
    }
    Ok(letters)
}

/// What a successful [`write`] did, and when.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    /// Result rows ClickHouse refused for their content (dead-lettered).
    pub refused: usize,
    /// When every health and readiness message was acknowledged by the broker: the
    /// results are on their topics.
    pub published_at: Instant,
    /// When every ClickHouse insert was acknowledged: the results are in the tables.
    pub stored_at: Instant,
}

/// Writes `out`: the ClickHouse inserts (each table's rows in one insert, the tables
/// concurrently) and, beside them, the health and readiness messages, so results reach
/// their topics without waiting for ClickHouse (the freshness a consumer of
/// `pulse.health` sees). Alert and system-alert messages go out only once the rows are
/// stored, so a write retried after a failed insert never publishes a transition the
/// notifier could send twice; dead letters of refused rows likewise. The caller commits
/// offsets only after this returns, so every insert still precedes the commit; a retried
/// write may publish health and readiness messages again (idempotent downstream: the
/// same result under the same key).
pub async fn write<'a>(
    ch: &clickhouse::Client,
    producer: &'a FutureProducer,
    topics: &'a OutputTopics,
    out: &'a Outputs,
) -> Result<Written, WriteError> {
    let topic_of = |kind: &Kind| match kind {
        Kind::Health => &topics.health,
        Kind::Readiness => &topics.readiness,
        Kind::Alert | Kind::System => &topics.alerts,
    };
    let send = |topic: &'a str, key: &'a str, payload: &'a [u8]| {
        producer.send(FutureRecord::to(topic).key(key.as_bytes()).payload(payload), Duration::from_secs(30))
    };
    let is_result = |kind: &Kind| matches!(kind, Kind::Health | Kind::Readiness);
    let publish = async {
        let sends = out.messages.iter().filter(|(k, _, _)| is_result(k)).map(|(k, key, p)| send(topic_of(k), key, p));
        for r in join_all(sends).await {
            r.map_err(|(e, _)| e)?;
        }
        Ok::<Instant, KafkaError>(Instant::now())
    };
    let store = async {
        let (mut letters, readiness, alerts) = futures::try_join!(
            insert_isolating(ch, tables::ACCOUNT_HEALTH, &out.health),
            insert_isolating(ch, tables::GRADUATION_READINESS, &out.readiness),
            insert_isolating(ch, tables::HEALTH_ALERTS, &out.alerts),
        )?;
        letters.extend(readiness);
        letters.extend(alerts);
        insert(ch, tables::SYSTEM_ALERTS, &out.system).await?;
        Ok::<_, clickhouse::error::Error>((letters, Instant::now()))
    };
    let (published, stored) = futures::join!(publish, store);
    let (letters, stored_at) = stored?;
    let published_at = published?;
    let after = out.messages.iter().filter(|(k, _, _)| !is_result(k)).map(|(k, key, p)| send(topic_of(k), key, p));
    let letter_sends = letters.iter().map(|(key, payload)| {
        producer.send(FutureRecord::to(&topics.dlq).key(key.as_bytes()).payload(payload), Duration::from_secs(30))
    });
    let (after, letter_sends) = futures::join!(join_all(after), join_all(letter_sends));
    for r in after.into_iter().chain(letter_sends) {
        r.map_err(|(e, _)| e)?;
    }
    Ok(Written { refused: letters.len(), published_at, stored_at })
}

/// Inserts `rows` into `table` in one insert (nothing for no rows).
pub(crate) async fn insert<R: RowOwned + RowWrite>(
    ch: &clickhouse::Client,
    table: &str,
    rows: &[R],
) -> Result<(), clickhouse::error::Error> {
    pulse_storage::insert(ch, table, rows, rows.len()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::{Source, Stall};

    /// The message on the alerts topic has exactly the fields
    /// `schemas/events/system-alert.schema.json` lists (its examples are validated by the
    /// schema tests), with `account_id` null and `notify` false.
    #[test]
    fn a_system_alert_message_has_the_documented_fields() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/events/system-alert.schema.json");
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("schema file")).expect("schema JSON");
        let documented: std::collections::BTreeSet<&str> =
            schema["properties"].as_object().expect("properties").keys().map(String::as_str).collect();
        let required: std::collections::BTreeSet<&str> =
            schema["required"].as_array().expect("required").iter().filter_map(|v| v.as_str()).collect();
        let stall = Stall { source: Source::Usage, since_ms: 1_765_000_000_000, limit_secs: 7200 };
        for opened in [true, false] {
            let mut out = Outputs::default();
            out.push_system_alert(&stall, opened, "usage feed 2 h behind", 1_765_007_300_000, Some(1_765_000_000_000));
            let (kind, key, payload) = &out.messages[0];
            assert_eq!((*kind, key.as_str()), (Kind::System, "source_stalled/usage"));
            let v: serde_json::Value = serde_json::from_slice(payload).expect("JSON");
            let fields: std::collections::BTreeSet<&str> =
                v.as_object().expect("object").keys().map(String::as_str).collect();
            assert_eq!(fields, documented, "fields of the message");
            assert!(required.is_subset(&fields));
            assert!(v["account_id"].is_null() && v["notify"] == false);
            assert_eq!(v["state"], if opened { "opened" } else { "resolved" });
            assert_eq!(v["limit_seconds"], 7200);
            assert_eq!(out.system.len(), 1);
            assert_eq!(out.system[0].opened_at.timestamp_millis(), stall.opened_at_ms());
        }
    }
}
