//! Column types shared by several tables: the `Enum8`s (as `#[repr(i8)]` enums with the
//! DDL's values, so the wire value is the enum's discriminant) and the conversions from
//! and to the core's own enums.

use chrono::{DateTime, Utc};
use pulse_core::alerts::{AlertState, TransitionKind};
use serde_repr::{Deserialize_repr, Serialize_repr};

/// `Enum8('green' = 1, 'yellow' = 2, 'red' = 3)` (`account_health.color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_repr, Deserialize_repr)]
#[repr(i8)]
pub enum Color {
    Green = 1,
    Yellow = 2,
    Red = 3,
}

impl Color {
    pub fn as_str(self) -> &'static str {
        match self {
            Color::Green => "green",
            Color::Yellow => "yellow",
            Color::Red => "red",
        }
    }
}

impl From<pulse_core::Color> for Color {
    fn from(c: pulse_core::Color) -> Self {
        match c {
            pulse_core::Color::Green => Color::Green,
            pulse_core::Color::Yellow => Color::Yellow,
            pulse_core::Color::Red => Color::Red,
        }
    }
}

impl From<Color> for pulse_core::Color {
    fn from(c: Color) -> Self {
        match c {
            Color::Green => pulse_core::Color::Green,
            Color::Yellow => pulse_core::Color::Yellow,
            Color::Red => pulse_core::Color::Red,
        }
    }
}

/// `Enum8('ready' = 1, 'close' = 2, 'not_ready' = 3)` (`graduation_readiness.verdict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_repr, Deserialize_repr)]
#[repr(i8)]
pub enum Verdict {
    Ready = 1,
    Close = 2,
    NotReady = 3,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ready => "ready",
            Verdict::Close => "close",
            Verdict::NotReady => "not_ready",
        }
    }
}

impl From<pulse_core::Verdict> for Verdict {
    fn from(v: pulse_core::Verdict) -> Self {
        match v {
            pulse_core::Verdict::Ready => Verdict::Ready,
            pulse_core::Verdict::Close => Verdict::Close,
            pulse_core::Verdict::NotReady => Verdict::NotReady,
        }
    }
}

impl From<Verdict> for pulse_core::Verdict {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Ready => pulse_core::Verdict::Ready,
            Verdict::Close => pulse_core::Verdict::Close,
            Verdict::NotReady => pulse_core::Verdict::NotReady,
        }
    }
}

/// `alerts_current.status`: `Enum8('open' = 1, 'resolved' = 2, 'withdrawn' = 3)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_repr, Deserialize_repr)]
#[repr(i8)]
pub enum AlertStatus {
    Open = 1,
    Resolved = 2,
    /// Its opening was retracted: it never held, and is never shown.
    Withdrawn = 3,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Open => "open",
            AlertStatus::Resolved => "resolved",
            AlertStatus::Withdrawn => "withdrawn",
        }
    }
}

/// `health_alerts.transition`: `Enum8('opened' = 1, 'resolved' = 2)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_repr, Deserialize_repr)]
#[repr(i8)]
pub enum Transition {
    Opened = 1,
    Resolved = 2,
}

impl From<TransitionKind> for Transition {
    fn from(t: TransitionKind) -> Self {
        match t {
            TransitionKind::Opened => Transition::Opened,
            TransitionKind::Resolved => Transition::Resolved,
        }
    }
}

/// `health_alerts.state`: `Enum8('opened' = 1, 'resolved' = 2, 'retracted' = 3)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_repr, Deserialize_repr)]
#[repr(i8)]
pub enum TransitionState {
    Opened = 1,
    Resolved = 2,
    /// Withdraws the row's `transition` (late data changed the day it was derived from).
    Retracted = 3,
}

impl From<AlertState> for TransitionState {
    fn from(s: AlertState) -> Self {
        match s {
            AlertState::Opened => TransitionState::Opened,
            AlertState::Resolved => TransitionState::Resolved,
            AlertState::Retracted => TransitionState::Retracted,
        }
    }
}

/// The `crm_events.type` Enum8, with the same numeric values as the DDL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_repr, Deserialize_repr)]
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

/// A `DateTime('UTC')` value (whole seconds) from seconds since the epoch.
pub fn seconds(unix: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(i64::from(unix), 0).unwrap_or_default()
}

/// A `DateTime64(3, 'UTC')` value from milliseconds since the epoch.
pub fn millis(unix_ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(unix_ms).unwrap_or_default()
}

/// The snake_case name a core enum serializes to (`"low_engagement"`), empty if it is
/// not a string.
pub(crate) fn name_of<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}
