//! Query-string parsing with validation that names the parameter: unknown and repeated
//! parameters are rejected, every value is checked against its type, range or list of
//! choices, and free text is bounded and free of control characters. Values only ever
//! reach SQL as bound parameters (see `db`); sort keys map to fixed SQL fragments.

use chrono::NaiveDate;

use crate::error::{ApiError, ApiResult};

/// Longest free-text filter value (segment, CSM, search).
pub const MAX_TEXT: usize = 128;

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

    /// Free text: at most `max` characters, no control characters.
    pub fn text(&self, key: &str, max: usize) -> ApiResult<Option<String>> {
        let Some(v) = self.raw(key) else { return Ok(None) };
        check_text(key, v, max)?;
        Ok(Some(v.to_owned()))
    }

    /// One of `choices` (by name).
    pub fn choice<T: Copy>(&self, key: &str, choices: &[(&str, T)]) -> ApiResult<Option<T>> {
        let Some(v) = self.raw(key) else { return Ok(None) };
        lookup(key, v, choices).map(Some)
    }

    /// A comma-separated list of choices (`color=red,yellow`); empty when absent.
    pub fn choices<T: Copy + PartialEq>(&self, key: &str, choices: &[(&str, T)]) -> ApiResult<Vec<T>> {
        let Some(v) = self.raw(key) else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let c = lookup(key, part, choices)?;
            if !out.contains(&c) {
                out.push(c);
            }
        }
        Ok(out)
    }

    pub fn int(&self, key: &str, min: i64, max: i64) -> ApiResult<Option<i64>> {
        let Some(v) = self.raw(key) else { return Ok(None) };
        let n: i64 = v.parse().map_err(|_| ApiError::bad(key, format!("`{}` is not an integer", shorten(v))))?;
        if !(min..=max).contains(&n) {
            return Err(ApiError::bad(key, format!("{n} is out of range {min}..={max}")));
        }
        Ok(Some(n))
    }

    pub fn bool(&self, key: &str) -> ApiResult<Option<bool>> {
        self.choice(key, &[("true", true), ("false", false), ("1", true), ("0", false)])
    }

    pub fn date(&self, key: &str) -> ApiResult<Option<NaiveDate>> {
        let Some(v) = self.raw(key) else { return Ok(None) };
        // Exactly YYYY-MM-DD (chrono alone would take `2026-1-5` or `+2026-01-05`).
        let shape = v.len() == 10
            && v.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
        let d = NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .ok()
            .filter(|_| shape)
            .ok_or(())
            .map_err(|_| ApiError::bad(key, format!("`{}` is not a date YYYY-MM-DD", shorten(v))))?;
        if d < NaiveDate::from_ymd_opt(1970, 1, 2).unwrap_or_default()
            || d > NaiveDate::from_ymd_opt(2149, 6, 1).unwrap_or_default()
        {
            return Err(ApiError::bad(key, format!("{d} is outside 1970-01-02..=2149-06-01")));
        }
        Ok(Some(d))
    }

    /// `page` (1-based) and `page_size` (1..=max, default 50).
    pub fn page(&self, max_page_size: u32) -> ApiResult<PageReq> {
        let page = self.int("page", 1, 100_000)?.unwrap_or(1);
        let size = self.int("page_size", 1, i64::from(max_page_size))?.unwrap_or(50.min(i64::from(max_page_size)));
        Ok(PageReq { page: page as u64, page_size: size as u64 })
    }

    /// `sort=key` (ascending) or `sort=-key` (descending).
    pub fn sort<T: Copy>(&self, choices: &[(&str, T)], default: (T, bool)) -> ApiResult<Sort<T>> {
        let Some(v) = self.raw("sort") else {
            return Ok(Sort { key: default.0, desc: default.1 });
        };
        let (desc, name) = match v.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, v),
        };
        let key = lookup("sort", name, choices)?;
        Ok(Sort { key, desc })
    }
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

pub fn check_text(key: &str, v: &str, max: usize) -> ApiResult<()> {
    if v.chars().count() > max {
        return Err(ApiError::bad(key, format!("longer than {max} characters")));
    }
    if v.chars().any(char::is_control) {
        return Err(ApiError::bad(key, "contains control characters"));
    }
    Ok(())
}

fn lookup<T: Copy>(key: &str, v: &str, choices: &[(&str, T)]) -> ApiResult<T> {
    choices.iter().find(|(n, _)| *n == v).map(|(_, t)| *t).ok_or_else(|| {
        let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
        ApiError::bad(key, format!("`{}` is not one of {}", shorten(v), names.join(", ")))
    })
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

    fn p(q: &str) -> Params {
        Params::parse(Some(q), &["a", "b", "page", "page_size", "sort", "d"]).expect("parse")
    }

    #[test]
    fn rejects_unknown_and_repeated_keys() {
        let e = Params::parse(Some("zz=1"), &["a"]).expect_err("unknown").to_string();
        assert!(e.contains("unknown parameter `zz`"), "{e}");
        let e = Params::parse(Some("a=1&a=2"), &["a"]).expect_err("repeat").to_string();
        assert!(e.contains("`a`"), "{e}");
    }

    #[test]
    fn validates_values_and_names_the_parameter() {
        assert_eq!(p("a=5").int("a", 1, 10).expect("ok"), Some(5));
        let e = p("a=50").int("a", 1, 10).expect_err("range").to_string();
        assert_eq!(e, "parameter `a`: 50 is out of range 1..=10");
        let e = p("a=x'").int("a", 1, 10).expect_err("nan").to_string();
        assert!(e.contains("not an integer"), "{e}");
        let e = p("d=2026-13-01").date("d").expect_err("date").to_string();
        assert!(e.contains("parameter `d`"), "{e}");
        for d in ["2026-1-05", "+2026-01-05", "2026-01-5", " 2026-01-05"] {
            let e = p(&format!("d={d}")).date("d").expect_err(d).to_string();
            assert!(e.contains("not a date YYYY-MM-DD"), "{e}");
        }
        assert_eq!(p("d=2026-01-05").date("d").expect("date"), NaiveDate::from_ymd_opt(2026, 1, 5));
        let e = p("a=%00x").text("a", 10).expect_err("control").to_string();
        assert!(e.contains("control"), "{e}");
        let e = p("page_size=100000").page(200).expect_err("size").to_string();
        assert!(e.contains("page_size"), "{e}");
        assert_eq!(p("").page(200).expect("default"), PageReq { page: 1, page_size: 50 });
    }

    #[test]
    fn sorts_and_lists() {
        let s = p("sort=-x").sort(&[("x", 1), ("y", 2)], (2, false)).expect("sort");
        assert_eq!((s.key, s.desc), (1, true));
        let e = p("sort=x;DROP").sort(&[("x", 1)], (1, false)).expect_err("bad").to_string();
        assert!(e.contains("parameter `sort`") && e.contains("not one of x"), "{e}");
        assert_eq!(p("a=r,y,r").choices("a", &[("r", 1), ("y", 2)]).expect("list"), vec![1, 2]);
        assert_eq!(p("a=").raw("a"), None);
    }
}
