//! Query parameters. Each route's parameters are one struct deserialized by serde; its
//! field types validate their own values ([`Text`], [`One`], [`List`], [`Int`],
//! [`Count`], [`Day`], [`Flag`], [`SortParam`]) with messages that name the parameter
//! (the failing field's name, from `serde_path_to_error`). Before serde runs, the raw
//! query is checked against the struct's own field names: unknown and repeated
//! parameters are rejected, and empty values count as absent (HTML forms submit
//! unselected fields empty). Values only ever reach SQL as bound parameters (see `db`);
//! sort keys map to fixed SQL fragments.

use std::marker::PhantomData;

use axum::{extract::FromRequestParts, http::request::Parts};
use chrono::NaiveDate;
use serde::{
    de::{self, value::MapDeserializer, DeserializeOwned, IntoDeserializer, Visitor},
    Deserialize, Deserializer,
};

use crate::error::{ApiError, ApiResult};

/// Longest free-text filter value (segment, CSM, search).
pub const MAX_TEXT: usize = 128;

/// A raw query string checked for unknown and repeated parameters, empty values
/// dropped; [`Params::decode`] turns it into a typed request. The dashboard pages keep
/// one to read the raw values back into their forms and to derive sub-queries.
#[derive(Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses a raw query string, allowing only `allowed` keys, each at most once.
    /// Empty values count as absent (HTML forms submit unselected fields empty).
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> ApiResult<Params> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            if !allowed.contains(&k.as_ref()) {
                let shown: String = k.chars().take(40).filter(|c| !c.is_control()).collect();
                return Err(ApiError::BadRequest(format!(
                    "unknown parameter `{shown}`; allowed: {}",
                    allowed.join(", ")
                )));
            }
            if pairs.iter().any(|(x, _)| x == k.as_ref()) {
                return Err(ApiError::bad(&k, "given more than once (use a comma-separated list)"));
            }
            if !v.is_empty() {
                pairs.push((k.into_owned(), v.into_owned()));
            }
        }
        Ok(Params { pairs })
    }

    /// A copy with `set` applied (for pages that run several queries of one scope).
    pub fn with(&self, set: &[(&str, &str)]) -> Params {
        let mut pairs: Vec<(String, String)> =
            self.pairs.iter().filter(|(k, _)| !set.iter().any(|(s, _)| s == k)).cloned().collect();
        pairs.extend(set.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        Params { pairs }
    }

    pub fn raw(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The parameters as `T` (fields `T` does not have are ignored: a page may hold
    /// the parameters of several queries). A value `T` rejects is a 400 naming it.
    pub fn decode<T: DeserializeOwned>(&self) -> ApiResult<T> {
        let pairs = self.pairs.iter().map(|(k, v)| (k.as_str(), Raw(v.as_str())));
        let de: MapDeserializer<'_, _, de::value::Error> = MapDeserializer::new(pairs);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            ApiError::bad(&key, e.into_inner())
        })
    }
}

/// The query of a request as `T`: only `T`'s fields, each at most once.
pub fn query<T: DeserializeOwned>(raw: Option<&str>) -> ApiResult<T> {
    Params::parse(raw, fields::<T>())?.decode()
}

/// axum extractor of a query string as `T`, by [`query`]; rejections are API errors.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        query(parts.uri.query()).map(Query)
    }
}

/// No query parameters at all.
#[derive(Debug, Deserialize)]
pub struct NoParams {}

/// The field names serde gives `T` (the parameters a request struct accepts), read
/// from what its derived `Deserialize` asks for. Empty for anything but a struct.
pub fn fields<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut probe = FieldsProbe(&[]);
    let _ = T::deserialize(&mut probe);
    probe.0
}

struct FieldsProbe(&'static [&'static str]);

impl<'de> Deserializer<'de> for &mut FieldsProbe {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.0 = fields;
        Err(de::Error::custom("probed"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// One raw value: a string, present (absent values are not in the map at all).
struct Raw<'a>(&'a str);

impl<'de, 'a> Deserializer<'de> for Raw<'a> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_str(self.0)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_some(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de, 'a> IntoDeserializer<'de, de::value::Error> for Raw<'a> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

/// A string from a value deserializer, as an owned `String`.
fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    String::deserialize(d)
}

/// Free text: at most [`MAX_TEXT`] characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = string(d)?;
        text_problem(&v, MAX_TEXT).map_or(Ok(Text(v)), |m| Err(de::Error::custom(m)))
    }
}

/// A set of named values a parameter takes (`green`, `yellow`, `red`).
pub trait Choices: 'static {
    type Value: Copy + PartialEq + 'static;
    const ALL: &'static [(&'static str, Self::Value)];

    fn lookup(v: &str) -> Result<Self::Value, String> {
        Self::ALL.iter().find(|(n, _)| *n == v).map(|(_, t)| *t).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|(n, _)| *n).collect();
            format!("`{}` is not one of {}", shorten(v), names.join(", "))
        })
    }

    fn name(value: Self::Value) -> &'static str {
        Self::ALL.iter().find(|(_, t)| *t == value).map_or("", |(n, _)| n)
    }
}

/// Declares a [`Choices`] set: `choices!(Name: Type = [("name", value), ...]);`.
macro_rules! choices {
    ($(#[$m:meta])* $name:ident : $t:ty = [$(($n:literal, $v:expr)),+ $(,)?]) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name;
        impl $crate::params::Choices for $name {
            type Value = $t;
            const ALL: &'static [(&'static str, $t)] = &[$(($n, $v)),+];
        }
    };
}
pub(crate) use choices;

choices!(
    /// `true` or `false` (`1`, `0`).
    Bools: bool = [("true", true), ("false", false), ("1", true), ("0", false)]
);

/// One of a [`Choices`] set.
#[derive(Debug)]
pub struct One<C: Choices>(pub C::Value, PhantomData<C>);

impl<'de, C: Choices> Deserialize<'de> for One<C> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        C::lookup(&string(d)?).map(|v| One(v, PhantomData)).map_err(de::Error::custom)
    }
}

/// `true`/`false`/`1`/`0`.
pub type Flag = One<Bools>;

/// A comma-separated list of a [`Choices`] set (`color=red,yellow`): blanks around
/// items and empty items ignored, repeats dropped.
#[derive(Debug)]
pub struct List<C: Choices>(pub Vec<C::Value>, PhantomData<C>);

impl<'de, C: Choices> Deserialize<'de> for List<C> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = string(d)?;
        let mut out = Vec::new();
        for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let c = C::lookup(part).map_err(de::Error::custom)?;
            if !out.contains(&c) {
                out.push(c);
            }
        }
        Ok(List(out, PhantomData))
    }
}

/// `v` of an optional list; empty when absent.
pub fn list<C: Choices>(v: Option<List<C>>) -> Vec<C::Value> {
    v.map(|l| l.0).unwrap_or_default()
}

/// `v` of an optional choice.
pub fn one<C: Choices>(v: Option<One<C>>) -> Option<C::Value> {
    v.map(|o| o.0)
}

fn integer(v: &str) -> Result<i64, String> {
    v.parse().map_err(|_| format!("`{}` is not an integer", shorten(v)))
}

/// An integer in `MIN..=MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Int<const MIN: i64, const MAX: i64>(pub i64);

impl<'de, const MIN: i64, const MAX: i64> Deserialize<'de> for Int<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = integer(&string(d)?).map_err(de::Error::custom)?;
        if !(MIN..=MAX).contains(&n) {
            return Err(de::Error::custom(format!("{n} is out of range {MIN}..={MAX}")));
        }
        Ok(Int(n))
    }
}

/// An integer whose upper bound is configured (`page_size`, `days`, ...): checked by
/// [`Count::within`] against the bound from the config, which the document states too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count(pub i64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        integer(&string(d)?).map(Count).map_err(de::Error::custom)
    }
}

impl Count {
    /// `v` within `1..=max` (`key` names it in the error), `default` when absent.
    pub fn within(v: Option<Count>, key: &str, max: i64, default: i64) -> ApiResult<i64> {
        match v {
            None => Ok(default),
            Some(Count(n)) if (1..=max).contains(&n) => Ok(n),
            Some(Count(n)) => Err(ApiError::bad(key, format!("{n} is out of range 1..={max}"))),
        }
    }
}

/// A day: exactly `YYYY-MM-DD` (chrono alone would take `2026-1-5` or `+2026-01-05`),
/// within ClickHouse's `Date` (1970-01-02..=2149-06-01).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day(pub NaiveDate);

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = string(d)?;
        let shape = v.len() == 10
            && v.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
        let day = NaiveDate::parse_from_str(&v, "%Y-%m-%d")
            .ok()
            .filter(|_| shape)
            .ok_or_else(|| de::Error::custom(format!("`{}` is not a date YYYY-MM-DD", shorten(&v))))?;
        if day < NaiveDate::from_ymd_opt(1970, 1, 2).unwrap_or_default()
            || day > NaiveDate::from_ymd_opt(2149, 6, 1).unwrap_or_default()
        {
            return Err(de::Error::custom(format!("{day} is outside 1970-01-02..=2149-06-01")));
        }
        Ok(Day(day))
    }
}

/// Page numbers accepted: 1..=100000.
pub type PageNumber = Int<1, 100_000>;

/// `page` (1-based) and `page_size` (1..=max, default 50).
pub fn page(page: Option<PageNumber>, page_size: Option<Count>, max_page_size: u32) -> ApiResult<PageReq> {
    let max = i64::from(max_page_size);
    let size = Count::within(page_size, "page_size", max, 50.min(max))?;
    Ok(PageReq { page: page.map_or(1, |p| p.0) as u64, page_size: size as u64 })
}

/// Pagination of a list request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageReq {
    pub page: u64,
    pub page_size: u64,
}

impl PageReq {
    pub fn offset(&self) -> u64 {
        (self.page - 1) * self.page_size
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort<T> {
    pub key: T,
    pub desc: bool,
}

impl<T> Sort<T> {
    pub fn dir(&self) -> &'static str {
        if self.desc {
            "DESC"
        } else {
            "ASC"
        }
    }
}

/// `sort=key` (ascending) or `sort=-key` (descending), keys of a [`Choices`] set.
#[derive(Debug)]
pub struct SortParam<C: Choices>(pub Sort<C::Value>, PhantomData<C>);

impl<'de, C: Choices> Deserialize<'de> for SortParam<C> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = string(d)?;
        let (desc, name) = match v.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, v.as_str()),
        };
        let key = C::lookup(name).map_err(de::Error::custom)?;
        Ok(SortParam(Sort { key, desc }, PhantomData))
    }
}

impl<C: Choices> SortParam<C> {
    /// The sort asked for, or `default`.
    pub fn or(v: Option<Self>, default: (C::Value, bool)) -> Sort<C::Value> {
        v.map_or(Sort { key: default.0, desc: default.1 }, |s| s.0)
    }

    /// `sort` as echoed in a page: `key` or `-key`.
    pub fn label(sort: &Sort<C::Value>) -> String {
        let name = C::name(sort.key);
        if sort.desc {
            format!("-{name}")
        } else {
            name.to_owned()
        }
    }
}

/// What is wrong with free text `v` (at most `max` characters, no control characters).
fn text_problem(v: &str, max: usize) -> Option<String> {
    if v.chars().count() > max {
        return Some(format!("longer than {max} characters"));
    }
    if v.chars().any(char::is_control) {
        return Some("contains control characters".into());
    }
    None
}

pub fn check_text(key: &str, v: &str, max: usize) -> ApiResult<()> {
    text_problem(v, max).map_or(Ok(()), |m| Err(ApiError::bad(key, m)))
}

/// A value as shown in an error: at most 40 characters, control characters removed.
fn shorten(v: &str) -> String {
    let s: String = v.chars().filter(|c| !c.is_control()).take(40).collect();
    if v.chars().count() > 40 {
        format!("{s}...")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    choices!(Xy: i32 = [("x", 1), ("y", 2)]);

    #[derive(Debug, Deserialize)]
    struct T {
        a: Option<Int<1, 10>>,
        d: Option<Day>,
        t: Option<Text>,
        l: Option<List<Xy>>,
        sort: Option<SortParam<Xy>>,
        page: Option<PageNumber>,
        page_size: Option<Count>,
    }

    fn q(s: &str) -> ApiResult<T> {
        query::<T>(Some(s))
    }

    fn err(s: &str) -> String {
        q(s).expect_err(s).to_string()
    }

    #[test]
    fn the_fields_are_the_parameters() {
        assert_eq!(fields::<T>(), ["a", "d", "t", "l", "sort", "page", "page_size"]);
        assert!(fields::<NoParams>().is_empty());
    }

    #[test]
    fn rejects_unknown_and_repeated_keys() {
        let e = err("zz=1");
        assert!(e.contains("unknown parameter `zz`; allowed: a, d, t, l, sort, page, page_size"), "{e}");
        let e = err("a=1&a=2");
        assert!(e.contains("parameter `a`") && e.contains("more than once"), "{e}");
    }

    #[test]
    fn validates_values_and_names_the_parameter() {
        assert_eq!(q("a=5").expect("ok").a, Some(Int(5)));
        assert_eq!(err("a=50"), "parameter `a`: 50 is out of range 1..=10");
        assert!(err("a=x'").contains("parameter `a`: `x'` is not an integer"));
        assert!(err("d=2026-13-01").contains("parameter `d`"));
        for d in ["2026-1-05", "%2B2026-01-05", "2026-01-5", "%202026-01-05"] {
            let e = err(&format!("d={d}"));
            assert!(e.contains("not a date YYYY-MM-DD"), "{e}");
        }
        assert!(err("d=2150-01-01").contains("outside"));
        assert_eq!(q("d=2026-01-05").expect("date").d, NaiveDate::from_ymd_opt(2026, 1, 5).map(Day));
        assert!(err("t=%00x").contains("parameter `t`: contains control"));
        assert!(err(&format!("t={}", "x".repeat(129))).contains("longer than 128"));
        let t = q("page_size=100000").expect("parsed");
        let e = page(t.page, t.page_size, 200).expect_err("size").to_string();
        assert_eq!(e, "parameter `page_size`: 100000 is out of range 1..=200");
        let t = q("").expect("empty");
        assert_eq!(page(t.page, t.page_size, 200).expect("default"), PageReq { page: 1, page_size: 50 });
        assert!(err("page=0").contains("parameter `page`"));
    }

    #[test]
    fn empty_values_are_absent() {
        let t = q("a=&d=&t=&l=&sort=").expect("empty");
        assert!(t.a.is_none() && t.d.is_none() && t.t.is_none() && t.l.is_none() && t.sort.is_none());
    }

    #[test]
    fn sorts_and_lists() {
        let s = SortParam::<Xy>::or(q("sort=-x").expect("sort").sort, (2, false));
        assert_eq!((s.key, s.desc), (1, true));
        assert_eq!(SortParam::<Xy>::label(&s), "-x");
        let e = err("sort=x;DROP");
        assert!(e.contains("parameter `sort`") && e.contains("not one of x, y"), "{e}");
        assert_eq!(list(q("l=x,+y+,,x").expect("list").l), vec![1, 2]);
        assert_eq!(err("l=x,z"), "parameter `l`: `z` is not one of x, y");
    }
}
