//! ClickHouse access for the read side. Every value from a request reaches SQL through
//! [`Sql::bind`] (the client escapes it as a literal); the SQL text itself is built only
//! from fixed fragments chosen by validated enums. Reads run with `readonly = 2` and
//! ClickHouse's own time limit.

use chrono::NaiveDate;

/// A value bound to the next `?` of an [`Sql`].
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Str(String),
    Int(i64),
    UInt(u64),
    Strs(Vec<String>),
}

impl From<&str> for Bind {
    fn from(v: &str) -> Self {
        Bind::Str(v.to_owned())
    }
}
impl From<String> for Bind {
    fn from(v: String) -> Self {
        Bind::Str(v)
    }
}
impl From<i64> for Bind {
    fn from(v: i64) -> Self {
        Bind::Int(v)
    }
}
impl From<u64> for Bind {
    fn from(v: u64) -> Self {
        Bind::UInt(v)
    }
}
impl From<NaiveDate> for Bind {
    fn from(v: NaiveDate) -> Self {
        Bind::Str(v.format("%Y-%m-%d").to_string())
    }
}
impl From<Vec<String>> for Bind {
    fn from(v: Vec<String>) -> Self {
        Bind::Strs(v)
    }
}

/// SQL text with `?` placeholders and their values, in order.
#[derive(Debug, Clone, Default)]
pub struct Sql {
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        Self { text: text.to_owned(), binds: Vec::new() }
    }

    /// Appends fixed SQL text (never request data).
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends `text`, which holds exactly one `?`, bound to `value`.
    pub fn bind(&mut self, text: &str, value: impl Into<Bind>) -> &mut Self {
        debug_assert_eq!(text.matches('?').count(), 1, "{text}");
        self.text.push_str(text);
        self.binds.push(value.into());
        self
    }

    /// `prefix(?, ?, ...)suffix` with one bound value per item (18.16 takes no array
    /// literal after IN). `items` must not be empty.
    pub fn bind_list(&mut self, prefix: &str, items: &[String], suffix: &str) -> &mut Self {
        self.text.push_str(prefix);
        self.text.push('(');
        for (i, item) in items.iter().enumerate() {
            self.text.push_str(if i == 0 { "?" } else { ", ?" });
            self.binds.push(Bind::Str(item.clone()));
        }
        self.text.push(')');
        self.text.push_str(suffix);
        self
    }

    /// `prefix inner suffix`, with `inner`'s bound values (a query around a subquery).
    pub fn wrapped(prefix: &str, inner: &Sql, suffix: &str) -> Sql {
        Sql { text: format!("{prefix}{}{suffix}", inner.text), binds: inner.binds.clone() }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn binds(&self) -> &[Bind] {
        &self.binds
    }

    pub fn query(&self, client: &clickhouse::Client) -> clickhouse::query::Query {
        let mut q = client.query(&self.text);
        for b in &self.binds {
            q = match b {
                Bind::Str(s) => q.bind(s.as_str()),
                Bind::Int(i) => q.bind(*i),
                Bind::UInt(u) => q.bind(*u),
                Bind::Strs(v) => q.bind(v.as_slice()),
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
        read = read
            .with_setting("max_execution_time", api.query_timeout_secs.to_string())
            .with_setting("max_result_rows", "200000")
            .with_setting("result_overflow_mode", "throw");
        Self { read, write }
    }
}

/// ClickHouse `Date` (days since 1970-01-01) to a date.
pub fn date(days: u16) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default() + chrono::Days::new(u64::from(days))
}

/// The `Enum8('green' = 1, 'yellow' = 2, 'red' = 3)` value as its name.
pub fn color_name(v: i8) -> &'static str {
    match v {
        1 => "green",
        2 => "yellow",
        3 => "red",
        _ => "unknown",
    }
}

pub fn verdict_name(v: i8) -> &'static str {
    match v {
        1 => "ready",
        2 => "close",
        3 => "not_ready",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_follow_placeholders() {
        let mut s = Sql::new("SELECT 1 WHERE 1");
        s.bind(" AND a = ?", "x'; DROP TABLE t --").bind(" AND b = ?", 3i64);
        assert_eq!(s.text(), "SELECT 1 WHERE 1 AND a = ? AND b = ?");
        assert_eq!(s.binds().len(), 2);
        assert_eq!(date(20_779), NaiveDate::from_ymd_opt(2026, 11, 22).expect("date"));
    }
}
