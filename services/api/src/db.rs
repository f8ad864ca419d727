//! ClickHouse access for the read side. Every value from a request reaches ClickHouse as
//! a server-side query parameter: the SQL names a typed placeholder (`{name:Type}`,
//! e.g. `{segment:String}`, `{colors:Array(String)}`, `{since:Date}`) and the value
//! travels beside the SQL text (a `param_name` field of the request), where the server
//! parses it as a value of that type. Request data is never spliced into SQL text; the
//! text itself is built only from fixed fragments chosen by validated enums. Reads run
//! with `readonly = 2` and ClickHouse's own time limit.
//!
//! Reads of `FINAL` tables put conditions on the sort key (`account_id`) in `PREWHERE`,
//! which runs before the merge: correct, since every version of a row has the same key,
//! and the wide columns (`result`) are then read for the matching rows only. Conditions
//! on any other column stay in `WHERE`, so they see the newest version only.
//!
//! Row types here mirror the DDL in `schemas/clickhouse/` exactly (the client validates
//! every fetched column's name and type): `Date` as [`NaiveDate`] through
//! `clickhouse::serde::chrono::date`, `Enum8` columns as `#[repr(i8)]` enums.

use chrono::NaiveDate;
use serde_repr::{Deserialize_repr, Serialize_repr};

/// A value for one `{name:Type}` placeholder of an [`Sql`].
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Str(String),
    Int(i64),
    UInt(u64),
    Date(NaiveDate),
    Strs(Vec<String>),
    Dates(Vec<NaiveDate>),
}

impl From<&str> for Param {
    fn from(v: &str) -> Self {
        Param::Str(v.to_owned())
    }
}
impl From<String> for Param {
    fn from(v: String) -> Self {
        Param::Str(v)
    }
}
impl From<i64> for Param {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}
impl From<u64> for Param {
    fn from(v: u64) -> Self {
        Param::UInt(v)
    }
}
impl From<NaiveDate> for Param {
    fn from(v: NaiveDate) -> Self {
        Param::Date(v)
    }
}
impl From<Vec<String>> for Param {
    fn from(v: Vec<String>) -> Self {
        Param::Strs(v)
    }
}
impl From<Vec<NaiveDate>> for Param {
    fn from(v: Vec<NaiveDate>) -> Self {
        Param::Dates(v)
    }
}

fn ymd(d: &NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// SQL text with `{name:Type}` placeholders and the value of each name.
#[derive(Debug, Clone, Default)]
pub struct Sql {
    text: String,
    params: Vec<(&'static str, Param)>,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        Self { text: text.to_owned(), params: Vec::new() }
    }

    /// Appends fixed SQL text (never request data).
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends `text`, which names the placeholder `{name:Type}`, and sets `name`.
    pub fn arg(&mut self, text: &str, name: &'static str, value: impl Into<Param>) -> &mut Self {
        debug_assert!(text.contains(&format!("{{{name}:")), "`{text}` does not name {{{name}:..}}");
        self.text.push_str(text);
        self.set(name, value)
    }

    /// Sets the value of `name` (a placeholder in text already pushed, or to come). A
    /// name may appear in the text any number of times; it has one value.
    pub fn set(&mut self, name: &'static str, value: impl Into<Param>) -> &mut Self {
        let value = value.into();
        match self.params.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => {
                debug_assert_eq!(*v, value, "parameter `{name}` set twice to different values");
                *v = value;
            }
            None => self.params.push((name, value)),
        }
        self
    }

    /// `prefix inner suffix`, with `inner`'s parameters (a query around a subquery).
    pub fn wrapped(prefix: &str, inner: &Sql, suffix: &str) -> Sql {
        Sql { text: format!("{prefix}{}{suffix}", inner.text), params: inner.params.clone() }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn params(&self) -> &[(&'static str, Param)] {
        &self.params
    }

    /// The query with every parameter attached (sent as `param_<name>`).
    pub fn query(&self, client: &clickhouse::Client) -> clickhouse::query::Query {
        let mut q = client.query(&self.text);
        for (name, p) in &self.params {
            q = match p {
                Param::Str(s) => q.param(name, s.as_str()),
                Param::Int(i) => q.param(name, i),
                Param::UInt(u) => q.param(name, u),
                Param::Date(d) => q.param(name, ymd(d)),
                Param::Strs(v) => q.param(name, v),
                Param::Dates(v) => q.param(name, v.iter().map(ymd).collect::<Vec<_>>()),
            };
        }
        q
    }
}

/// Read and write clients.
#[derive(Clone)]
pub struct Db {
    /// Queries: `readonly = 2`, time-limited.
    pub read: clickhouse::Client,
    /// Acknowledgement inserts.
    pub write: clickhouse::Client,
}

impl Db {
    /// Reads with `api.read_user` when set (a read-only user), else with the
    /// `[clickhouse]` user restricted to `readonly = 2` per query.
    pub fn new(cfg: &pulse_runtime::clickhouse::ClickHouseConfig, api: &crate::ApiConfig) -> Self {
        let write = cfg.client();
        let mut read = match &api.read_user {
            Some(user) => {
                let c = pulse_runtime::clickhouse::ClickHouseConfig {
                    user: user.clone(),
                    password: api.read_password.clone(),
                    ..cfg.clone()
                };
                c.client()
            }
            None => cfg.client().with_setting("readonly", "2"),
        };
        // The queries' outer joins rely on unmatched right-side columns taking their
        // type's default (`''`, `0`, and NULL for the columns they select as Nullable),
        // so the row types never depend on a server profile's `join_use_nulls`.
        read = read
            .with_setting("max_execution_time", api.query_timeout_secs.to_string())
            .with_setting("max_result_rows", "200000")
            .with_setting("result_overflow_mode", "throw")
            .with_setting("join_use_nulls", "0");
        Self { read, write }
    }
}

/// `Enum8('green' = 1, 'yellow' = 2, 'red' = 3)`.
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

/// `Enum8('ready' = 1, 'close' = 2, 'not_ready' = 3)`.
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

/// `health_alerts.state`: `Enum8('opened' = 1, 'resolved' = 2, 'retracted' = 3)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_repr, Deserialize_repr)]
#[repr(i8)]
pub enum TransitionState {
    Opened = 1,
    Resolved = 2,
    /// Withdraws the row's `transition` (late data changed the day it was derived from).
    Retracted = 3,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_follow_placeholders() {
        let mut s = Sql::new("SELECT 1 WHERE 1");
        s.arg(" AND a = {a:String}", "a", "x'; DROP TABLE t --").arg(" AND b = {b:Int64}", "b", 3i64);
        s.push(" OR a = {a:String}").set("a", "x'; DROP TABLE t --");
        assert_eq!(s.text(), "SELECT 1 WHERE 1 AND a = {a:String} AND b = {b:Int64} OR a = {a:String}");
        assert_eq!(s.params().len(), 2);
        let w = Sql::wrapped("SELECT count() FROM (", &s, ")");
        assert_eq!(w.params(), s.params());
    }
}
