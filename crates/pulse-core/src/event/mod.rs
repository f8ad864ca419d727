//! Input events: the typed form of SPEC §1, its validation, and the normalized JSON
//! that ingest forwards on `pulse.events`.
//!
//! [`parse_event`] accepts both wire formats (native `{"type":"usage",..}` and the
//! Segment `track` call) and returns an [`Event`] whose serde JSON *is* the
//! normalized form: a Segment `track` comes out as a native `usage` event, so every
//! consumer downstream of ingest handles one format only. Everything that can be
//! checked without state or a clock is checked here; the one check that needs a
//! clock, clock skew, is the separate [`check_skew`] so that the core never reads
//! time itself.
//!
//! # Rules common to every event
//!
//! - The input must be one JSON object (`not_json`, `not_object`).
//! - `type`, `event_id`, `account_id`, `timestamp` are required (`missing_field`);
//!   `type` must be one of the nine below or `track` (`unknown_type`).
//! - A field present with value `null` is treated exactly like an absent field: a
//!   required one is `missing_field`, an optional one keeps its default (for the
//!   `account` upsert: unchanged). This keeps producers that serialize `None` as
//!   `null` working.
//! - A field of the wrong JSON type is `wrong_type` (e.g. `"licensed_seats":"50"`).
//! - `timestamp` is RFC 3339 with an offset (`Z` or `+hh:mm`); anything else,
//!   including a date without time, is `bad_timestamp`. Stored in UTC.
//! - A repeated JSON key is `invalid_value` (which copy is meant is ambiguous).
//! - Unknown extra fields are ignored here (ingest keeps the raw bytes).
//!
//! # String limits
//!
//! Lengths are counted in Unicode scalar values (chars), not bytes. Over the maximum
//! is `oversize_field`; an empty required string is `invalid_value`. Limits are
//! generous for real data and small enough to bound per-account memory.
//!
//! | field | max chars |
//! |---|---|
//! | `event_id`, `account_id`, `user_id` (SPEC) | 128 |
//! | usage `event` name | 256 |
//! | usage `feature` (empty string = absent) | 128 |
//! | account `name`, `csm`; assessment `author`; stakeholder `person` | 256 |
//! | account `segment` | 64 |
//! | `note` (assessment, milestone) | 4096 |
//! | milestone `item`, training `module`, kpi `kpi`, ticket `ticket_id` | 128 |
//! | kpi `unit` | 32 |
//!
//! Usage `properties` must be an object when present (default `{}`); its content is
//! not limited here: the message-size limit of the transport bounds it.
//!
//! # Numeric and enum limits
//!
//! - `licensed_seats`: integer >= 0 (`invalid_value` below; a number with a fractional
//!   part is `invalid_value`, a string is `wrong_type`) and at most 4,294,967,295
//!   (`out_of_range`: the column is a `UInt32`).
//! - `arr`, `arr_before`, `arr_after`: finite, >= 0 (`invalid_value` below) and at most
//!   1e15 (`out_of_range`). `score` (assessment): 0..=10. `score_pct`: 0..=100.
//! - KPI `baseline`, `target`, `value`: finite and at most 1e15 in absolute value
//!   (`out_of_range`); `target` must differ from `baseline`.
//!
//! # Storable range (SPEC v3 §1)
//!
//! Values Pulse cannot store are invalid input, not a storage error, so that one hostile
//! event can never stop a writer downstream: every date (`renewal_on`,
//! `onboarding_started_on`, `target_graduation_on`, `expires_on`) and the UTC date of
//! every `timestamp` must lie in [`MIN_DATE`]..=[`MAX_DATE`] (ClickHouse's `Date`), else
//! `out_of_range`. `pulse replay`, ingest and the JSON Schemas agree on this.
//! - Enumerations (`usage_profile`, `lifecycle_stage`, `dimension`, `status`, ...)
//!   outside their listed values are `invalid_value`; dates are `YYYY-MM-DD`
//!   (`invalid_value` otherwise).
//!
//! # Segment `track`
//!
//! `messageId` -> `event_id`, `userId` (else `anonymousId`) -> `user_id`, `event`,
//! `timestamp`, account from `context.groupId` else `properties.account_id`, feature
//! from `properties.feature` (else a top-level `feature`), `properties` kept. Other
//! Segment call types (`identify`, `page`, `group`, ...) are `unknown_type`: they
//! carry no product usage.
//!
//! # Evidence events (CRM topic)
//!
//! Designed here (SPEC §1 leaves their fields open); each is keyed so that the latest
//! version in event-time order (ties: `event_id`) is the current one, see
//! `schemas/events/` for the JSON Schemas:
//!
//! - `milestone`: technical checklist item. `item` (id, e.g. `sso_configured`),
//!   `status` `done` | `pending` | `blocked`, optional `note`. Key: `item`.
//! - `training`: a training completion. `user_id` (trainee), `module`, optional
//!   `score_pct` (0..100 knowledge-check result; absent = attendance only, which is
//!   not a pass). Key: (`user_id`, `module`), best score wins (retakes allowed).
//! - `kpi`: a KPI measurement. `kpi` (name), `baseline`, `target`, `value`, optional
//!   `confirmed` (bool, the customer confirmed the value; default false), `unit`.
//!   Key: `kpi`.
//! - `stakeholder`: champion / executive-sponsor status. `role` `champion` |
//!   `executive_sponsor`, `person`, `status` `active` | `left`, optional `sentiment`
//!   `positive` | `neutral` | `negative`. Key: (`role`, `person`).
//! - `ticket`: a support ticket. `ticket_id`, `severity` `critical` | `high` |
//!   `normal` | `low`, `status` `open` | `resolved`. Key: `ticket_id`.
//!
//! # Outcome events (CRM topic, SPEC §8)
//!
//! - `renewal`: how a contract renewal was decided. `outcome` `renewed` | `churned` |
//!   `contracted` | `expanded`, `renewal_on` (the contract date decided,
//!   `YYYY-MM-DD`, required), `arr_before`, `arr_after` (finite numbers >= 0,
//!   required), optional `reason` (free text, max 4096 chars). Key: `renewal_on`: a
//!   later event (event time, ties: `event_id`) for the same contract date corrects
//!   the earlier one. Outcomes never change a score; they are what the backtest and
//!   the renewal forecast measure the score against.

pub(crate) mod copy;
mod parse;
mod rfc3339;
mod wire;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub use copy::{copy_json, copy_key, feature_key, user_key, CopyKey};
pub use parse::{check_skew, parse_event};

/// Maximum length (chars) of `event_id`, `account_id` and `user_id` (SPEC §1).
pub const MAX_ID_CHARS: usize = 128;
/// Maximum length of a usage `event` name.
pub const MAX_EVENT_NAME_CHARS: usize = 256;
/// Maximum length of a usage `feature`.
pub const MAX_FEATURE_CHARS: usize = 128;
/// Maximum length of names: account `name`, `csm`, assessment `author`, `person`.
pub const MAX_NAME_CHARS: usize = 256;
/// Maximum length of an account `segment`.
pub const MAX_SEGMENT_CHARS: usize = 64;
/// Maximum length of a free-text `note`.
pub const MAX_NOTE_CHARS: usize = 4096;
/// Maximum length of evidence keys: milestone `item`, training `module`, `kpi`,
/// `ticket_id`.
pub const MAX_KEY_CHARS: usize = 128;
/// Maximum length of a KPI `unit`.
pub const MAX_UNIT_CHARS: usize = 32;
/// Largest accepted `licensed_seats` (the `UInt32` column's maximum, SPEC v3 §1).
pub const MAX_SEATS: u64 = u32::MAX as u64;
/// Largest absolute value of money (`arr`, `arr_before`, `arr_after`) and KPI numbers.
pub const MAX_ABS_AMOUNT: f64 = 1e15;
/// First storable day (ClickHouse `Date`'s first day).
pub const MIN_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};
/// Last storable day (ClickHouse `Date`'s last day).
pub const MAX_DATE: NaiveDate = match NaiveDate::from_ymd_opt(2149, 6, 6) {
    Some(d) => d,
    None => NaiveDate::MAX,
};

/// The canonical JSON of an event (SPEC v3 §1), which breaks ties between differing
/// copies of a CRM event: `type`, `event_id`, `account_id` and the fields SPEC §1 defines
/// for its type (the [`Event`]'s own), `timestamp` excluded, null fields left out, keys
/// sorted bytewise, no whitespace, integral numbers without a fraction, other numbers in
/// their shortest round-trip form. Written by hand rather than through `serde_json::Map`,
/// whose key order depends on a cargo feature another crate may turn on.
pub fn canonical_json(ev: &Event) -> String {
    canonical_json_without(ev, &[])
}

/// [`canonical_json`] less the top-level members named in `skip`.
pub(crate) fn canonical_json_without(ev: &Event, skip: &[&str]) -> String {
    fn write(v: &serde_json::Value, top: Option<&[&str]>, out: &mut String) {
        use serde_json::Value as V;
        match v {
            V::Object(map) => {
                let mut keys: Vec<&String> = map
                    .iter()
                    .filter(|(k, v)| match top {
                        Some(skip) => !(k.as_str() == "timestamp" || v.is_null() || skip.contains(&k.as_str())),
                        None => true,
                    })
                    .map(|(k, _)| k)
                    .collect();
                keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&V::String(k.clone()).to_string());
                    out.push(':');
                    if let Some(v) = map.get(k) {
                        write(v, None, out);
                    }
                }
                out.push('}');
            }
            V::Array(items) => {
                out.push('[');
                for (i, x) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(x, None, out);
                }
                out.push(']');
            }
            V::Number(n) => match n.as_f64() {
                Some(x) if n.is_f64() && x.fract() == 0.0 && x.abs() < 9.007_199_254_740_992e15 => {
                    out.push_str(&(x as i64).to_string());
                }
                _ => out.push_str(&n.to_string()),
            },
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    if let Ok(v) = serde_json::to_value(ev) {
        write(&v, Some(skip), &mut out);
    }
    out
}

/// Whether `day` can be stored (SPEC v3 §1: 1970-01-01..=2149-06-06).
pub fn date_in_range(day: NaiveDate) -> bool {
    (MIN_DATE..=MAX_DATE).contains(&day)
}

/// Whether a timestamp can be stored: its UTC date is within [`date_in_range`].
pub fn timestamp_in_range(ts: DateTime<Utc>) -> bool {
    date_in_range(ts.date_naive())
}

/// Why an input was rejected: a machine-readable reason (used as a metric label and
/// in the dead-letter record) and a human detail naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct InvalidEvent {
    pub reason: InvalidReason,
    pub detail: String,
}

impl InvalidEvent {
    pub fn new(reason: InvalidReason, detail: impl Into<String>) -> Self {
        Self { reason, detail: detail.into() }
    }
}

/// The bounded set of rejection reasons (safe as a metric label).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvalidReason {
    NotJson,
    NotObject,
    MissingField,
    WrongType,
    UnknownType,
    BadTimestamp,
    OversizeField,
    InvalidValue,
    FutureTimestamp,
    /// A value Pulse cannot store (SPEC v3 §1): a date or timestamp outside
    /// 1970-01-01..=2149-06-06, seats over `UInt32`, money or a KPI over 1e15.
    OutOfRange,
}

impl InvalidReason {
    pub const ALL: &'static [InvalidReason] = &[
        InvalidReason::NotJson,
        InvalidReason::NotObject,
        InvalidReason::MissingField,
        InvalidReason::WrongType,
        InvalidReason::UnknownType,
        InvalidReason::BadTimestamp,
        InvalidReason::OversizeField,
        InvalidReason::InvalidValue,
        InvalidReason::FutureTimestamp,
        InvalidReason::OutOfRange,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            InvalidReason::NotJson => "not_json",
            InvalidReason::NotObject => "not_object",
            InvalidReason::MissingField => "missing_field",
            InvalidReason::WrongType => "wrong_type",
            InvalidReason::UnknownType => "unknown_type",
            InvalidReason::BadTimestamp => "bad_timestamp",
            InvalidReason::OversizeField => "oversize_field",
            InvalidReason::InvalidValue => "invalid_value",
            InvalidReason::FutureTimestamp => "future_timestamp",
            InvalidReason::OutOfRange => "out_of_range",
        }
    }
}

impl std::fmt::Display for InvalidReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated input event. Its serde JSON (`{"type":"usage",...}`) is the
/// normalized form forwarded by ingest; deserializing it back is lossless for
/// scoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Usage(UsageEvent),
    Account(AccountEvent),
    Assessment(AssessmentEvent),
    Milestone(MilestoneEvent),
    Training(TrainingEvent),
    Kpi(KpiEvent),
    Stakeholder(StakeholderEvent),
    Ticket(TicketEvent),
    Renewal(RenewalEvent),
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// Product usage by one user (SPEC §1 `usage`, or a converted Segment `track`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageEvent {
    pub event_id: String,
    pub account_id: String,
    pub user_id: String,
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature: Option<String>,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub timestamp: DateTime<Utc>,
    #[serde(default = "empty_object")]
    pub properties: serde_json::Value,
}

/// How often the product is meant to be used; selects the usage thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UsageProfile {
    Daily,
    #[default]
    Weekly,
    Periodic,
}

impl UsageProfile {
    pub const ALL: [UsageProfile; 3] = [UsageProfile::Daily, UsageProfile::Weekly, UsageProfile::Periodic];
    pub fn as_str(&self) -> &'static str {
        match self {
            UsageProfile::Daily => "daily",
            UsageProfile::Weekly => "weekly",
            UsageProfile::Periodic => "periodic",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleStage {
    Onboarding,
    Adoption,
    Expansion,
    Renewal,
    /// A former customer (SPEC v3 §8): from the day an account event sets it, until a
    /// later one sets another stage.
    Churned,
}

/// Partial upsert of account attributes: `None` leaves the attribute unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountEvent {
    pub event_id: String,
    pub account_id: String,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub timestamp: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licensed_seats: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_profile: Option<UsageProfile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arr: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_stage: Option<LifecycleStage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onboarding_started_on: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_graduation_on: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_on: Option<NaiveDate>,
}

/// The five graduation dimensions (SPEC §3), in scorecard order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Technical,
    Knowledge,
    Usage,
    Value,
    Stakeholder,
}

impl Dimension {
    pub const ALL: [Dimension; 5] =
        [Dimension::Technical, Dimension::Knowledge, Dimension::Usage, Dimension::Value, Dimension::Stakeholder];
    pub fn as_str(&self) -> &'static str {
        match self {
            Dimension::Technical => "technical",
            Dimension::Knowledge => "knowledge",
            Dimension::Usage => "usage",
            Dimension::Value => "value",
            Dimension::Stakeholder => "stakeholder",
        }
    }
    pub fn index(&self) -> usize {
        *self as usize
    }
}

impl std::fmt::Display for Dimension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A CSM's scorecard entry for one dimension. Valid while `as_of < expires_on`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssessmentEvent {
    pub event_id: String,
    pub account_id: String,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub timestamp: DateTime<Utc>,
    pub dimension: Dimension,
    pub score: f64,
    pub author: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MilestoneStatus {
    Done,
    Pending,
    Blocked,
}

/// Technical checklist item status (evidence for the `technical` dimension).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MilestoneEvent {
    pub event_id: String,
    pub account_id: String,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub timestamp: DateTime<Utc>,
    pub item: String,
    pub status: MilestoneStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A training completion with an optional knowledge-check score (evidence for the
/// `knowledge` dimension).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingEvent {
    pub event_id: String,
    pub account_id: String,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub timestamp: DateTime<Utc>,
    pub user_id: String,
    pub module: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_pct: Option<f64>,
}

/// A KPI measurement against baseline and target (evidence for `value`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiEvent {
    pub event_id: String,
    pub account_id: String,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub timestamp: DateTime<Utc>,
    pub kpi: String,
    pub baseline: f64,
    pub target: f64,
    pub value: f64,
    #[serde(default)]
    pub confirmed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StakeholderRole {
    Champion,
    ExecutiveSponsor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StakeholderStatus {
    Active,
    Left,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sentiment {
    Positive,
    Neutral,
    Negative,
}

/// Champion / executive-sponsor status (evidence for `stakeholder`, and the
/// `champion_left` red flag).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StakeholderEvent {
    pub event_id: String,
    pub account_id: String,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub timestamp: DateTime<Utc>,
    pub role: StakeholderRole,
    pub person: String,
    pub status: StakeholderStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentiment: Option<Sentiment>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketSeverity {
    Critical,
    High,
    Normal,
    Low,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    Open,
    Resolved,
}

/// A support ticket's state (open critical tickets are a red flag).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketEvent {
    pub event_id: String,
    pub account_id: String,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub timestamp: DateTime<Utc>,
    pub ticket_id: String,
    pub severity: TicketSeverity,
    pub status: TicketStatus,
}

/// How a renewal was decided (SPEC §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RenewalOutcome {
    Renewed,
    Churned,
    Contracted,
    Expanded,
}

impl RenewalOutcome {
    pub const ALL: [RenewalOutcome; 4] =
        [RenewalOutcome::Renewed, RenewalOutcome::Churned, RenewalOutcome::Contracted, RenewalOutcome::Expanded];

    pub fn as_str(&self) -> &'static str {
        match self {
            RenewalOutcome::Renewed => "renewed",
            RenewalOutcome::Churned => "churned",
            RenewalOutcome::Contracted => "contracted",
            RenewalOutcome::Expanded => "expanded",
        }
    }

    /// SPEC §8: an outcome is *lost* when it is `churned` or `contracted`.
    pub fn is_lost(&self) -> bool {
        matches!(self, RenewalOutcome::Churned | RenewalOutcome::Contracted)
    }
}

/// A renewal outcome from the CRM (SPEC §8): what the backtest scores the health
/// score against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenewalEvent {
    pub event_id: String,
    pub account_id: String,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub timestamp: DateTime<Utc>,
    pub outcome: RenewalOutcome,
    pub renewal_on: NaiveDate,
    pub arr_before: f64,
    pub arr_after: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

macro_rules! each_variant {
    ($self:expr, $e:ident => $body:expr) => {
        match $self {
            Event::Usage($e) => $body,
            Event::Account($e) => $body,
            Event::Assessment($e) => $body,
            Event::Milestone($e) => $body,
            Event::Training($e) => $body,
            Event::Kpi($e) => $body,
            Event::Stakeholder($e) => $body,
            Event::Ticket($e) => $body,
            Event::Renewal($e) => $body,
        }
    };
}

impl Event {
    pub fn event_id(&self) -> &str {
        each_variant!(self, e => &e.event_id)
    }
    pub fn account_id(&self) -> &str {
        each_variant!(self, e => &e.account_id)
    }
    pub fn timestamp(&self) -> DateTime<Utc> {
        each_variant!(self, e => e.timestamp)
    }
    /// The normalized `type` (a Segment `track` reports `usage`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::Usage(_) => "usage",
            Event::Account(_) => "account",
            Event::Assessment(_) => "assessment",
            Event::Milestone(_) => "milestone",
            Event::Training(_) => "training",
            Event::Kpi(_) => "kpi",
            Event::Stakeholder(_) => "stakeholder",
            Event::Ticket(_) => "ticket",
            Event::Renewal(_) => "renewal",
        }
    }
    /// Usage events go to `pulse.usage`; all others are CRM events.
    pub fn is_usage(&self) -> bool {
        matches!(self, Event::Usage(_))
    }
}
