//! SQL with server-side parameters. The SQL names a typed placeholder (`{name:Type}`,
//! e.g. `{segment:String}`, `{colors:Array(String)}`, `{since:Date}`) and the value
//! travels beside the SQL text (a `param_name` field of the request), where the server
//! parses it as a value of that type. Request data is never spliced into SQL text; the
//! text itself is built only from fixed fragments chosen by validated enums.

use chrono::NaiveDate;

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
