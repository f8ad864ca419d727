//! Column types shared by several tables: the `Enum8`s (as `#[repr(i8)]` enums with the
//! DDL's values, so the wire value is the enum's discriminant) and the conversions from
//! and to the core's own enums.

use chrono::{DateTime, NaiveDate, Utc};
use pulse_core::alerts::{AlertState, TransitionKind, TransitionReason};
use pulse_core::{DataStatus, InputState};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use serde_repr::{Deserialize_repr, Serialize_repr};

/// `Enum8('green' = 1, 'yellow' = 2, 'red' = 3)` columns (`color`, `previous_color`):
/// the row fields hold the core's [`pulse_core::Color`] (`#[serde(with = ...)]`), and
/// this is the one place its Enum8 value, the wire encoding, is decided.
pub mod color {
    use super::*;
    use pulse_core::Color;

    /// The DDL's value of a color.
    pub fn code(c: Color) -> i8 {
        match c {
            Color::Green => 1,
            Color::Yellow => 2,
            Color::Red => 3,
        }
    }

    pub fn from_code(v: i8) -> Option<Color> {
        [Color::Green, Color::Yellow, Color::Red].into_iter().find(|c| code(*c) == v)
    }

    pub fn serialize<S: Serializer>(c: &Color, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i8(code(*c))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Color, D::Error> {
        let v = i8::deserialize(d)?;
        from_code(v).ok_or_else(|| de::Error::custom(format!("unknown color value {v}")))
    }

    /// `Nullable(Enum8(...))`.
    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(c: &Option<Color>, s: S) -> Result<S::Ok, S::Error> {
            match c {
                Some(c) => s.serialize_some(&code(*c)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Color>, D::Error> {
            match Option::<i8>::deserialize(d)? {
                Some(v) => from_code(v).map(Some).ok_or_else(|| de::Error::custom(format!("unknown color value {v}"))),
                None => Ok(None),
            }
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

// The core's quality enums in `LowCardinality(String)` columns, by their snake_case
// names (`#[serde(with = ...)]` on the row fields): the names are the core's own
// (`as_str`), so the column, the topics and the API say the same word.

/// A `data_status` column: `ok` | `partial` | `stale` | `insufficient`.
pub mod data_status {
    use super::*;

    pub fn serialize<S: Serializer>(v: &DataStatus, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DataStatus, D::Error> {
        let v = String::deserialize(d)?;
        DataStatus::parse(&v).ok_or_else(|| de::Error::custom(format!("unknown data_status `{v}`")))
    }
}

/// The [`InputState`] named `v`.
pub fn input_state(v: &str) -> Option<InputState> {
    [InputState::Ok, InputState::Missing, InputState::Stale].into_iter().find(|s| s.as_str() == v)
}

/// A measure's or dimension's `*_state` column: `ok` | `missing` | `stale`.
pub mod state {
    use super::*;

    pub fn serialize<S: Serializer>(v: &InputState, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<InputState, D::Error> {
        let v = String::deserialize(d)?;
        input_state(&v).ok_or_else(|| de::Error::custom(format!("unknown state `{v}`")))
    }
}

/// `measure_states`: `Array(LowCardinality(String))` of [`state`]s.
pub mod states {
    use super::*;

    #[derive(Serialize, Deserialize)]
    struct One(#[serde(with = "super::state")] InputState);

    pub fn serialize<S: Serializer>(v: &[InputState], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|x| One(*x)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<InputState>, D::Error> {
        Ok(Vec::<One>::deserialize(d)?.into_iter().map(|o| o.0).collect())
    }
}

/// `measure_as_of`: `Array(Nullable(Date))`.
pub mod dates {
    use super::*;

    #[derive(Serialize, Deserialize)]
    struct One(#[serde(with = "clickhouse::serde::chrono::date::option")] Option<NaiveDate>);

    pub fn serialize<S: Serializer>(v: &[Option<NaiveDate>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|x| One(*x)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Option<NaiveDate>>, D::Error> {
        Ok(Vec::<One>::deserialize(d)?.into_iter().map(|o| o.0).collect())
    }
}

/// An alert's `reason` column: the core's reason name, `''` for none.
pub mod reason {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<TransitionReason>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.as_ref().map_or("", TransitionReason::as_str))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TransitionReason>, D::Error> {
        let v = String::deserialize(d)?;
        if v.is_empty() {
            return Ok(None);
        }
        let known = [TransitionReason::Churned];
        known
            .into_iter()
            .find(|r| r.as_str() == v)
            .map(Some)
            .ok_or_else(|| de::Error::custom(format!("unknown alert reason `{v}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colors_have_the_ddl_values() {
        use pulse_core::Color;
        assert_eq!([Color::Green, Color::Yellow, Color::Red].map(color::code), [1, 2, 3]);
        for c in [Color::Green, Color::Yellow, Color::Red] {
            assert_eq!(color::from_code(color::code(c)), Some(c));
        }
        assert_eq!(color::from_code(0), None);
    }
}
