//! The API's reads: one function per query, each taking a [`clickhouse::Client`] and
//! typed parameters (validated by the caller) and returning typed rows. No HTTP here:
//! the API parses requests into these parameters and shapes the rows into responses.
//!
//! Every value reaches ClickHouse as a server-side parameter ([`Sql`]); SQL text is
//! built only from fixed fragments chosen by enums (sort keys, filters present).
//!
//! Reads of `FINAL` tables put conditions on the sort key (`account_id`) in `PREWHERE`,
//! which runs before the merge: correct, since every version of a row has the same key,
//! and the wide columns (`result`) are then read for the matching rows only. Conditions
//! on any other column stay in `WHERE`, so they see the newest version only.
//!
//! The outer joins rely on unmatched right-side columns taking their type's default
//! (`''`, `0`, and NULL for the columns they select as Nullable): the client must run
//! with `join_use_nulls = 0` (the API's read client sets it).

pub mod accounts;
pub mod alerts;
pub mod graduation;
pub mod outcomes;
pub mod portfolio;
pub mod sources;

use chrono::NaiveDate;
use serde::Serialize;

use crate::sql::Sql;

pub type Result<T> = std::result::Result<T, clickhouse::error::Error>;

/// The scope filters shared by portfolio-level queries: segment, CSM, and whether
/// former customers (SPEC v3 §8) count. By default they do not: a former account is
/// left out of the portfolio's counts and ARR, the lists, the forward forecast and the
/// graduation page.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Scope {
    pub segment: Option<String>,
    pub csm: Option<String>,
    /// Former customers are counted and listed too.
    pub include_former: bool,
}

impl Scope {
    /// ` AND segment = {segment:String} AND csm = {csm:String}` for the filters that are
    /// set, and ` AND NOT former` unless former customers are included (columns of the
    /// health and readiness tables).
    pub fn push(&self, sql: &mut Sql) {
        self.push_columns(sql, "segment", "csm", "former");
    }

    /// [`Scope::push`] on other column names (fixed identifiers, never request data).
    pub fn push_columns(&self, sql: &mut Sql, segment: &'static str, csm: &'static str, former: &'static str) {
        if let Some(s) = &self.segment {
            sql.arg(&format!(" AND {segment} = {{segment:String}}"), "segment", s.as_str());
        }
        if let Some(c) = &self.csm {
            sql.arg(&format!(" AND {csm} = {{csm:String}}"), "csm", c.as_str());
        }
        if !self.include_former {
            sql.push(&format!(" AND NOT {former}"));
        }
    }

    /// No segment or CSM filter (former customers may still be left out).
    pub fn is_empty(&self) -> bool {
        self.segment.is_none() && self.csm.is_none()
    }

    /// Every account in scope is listed: no segment, no CSM, former customers included.
    pub fn is_all(&self) -> bool {
        self.is_empty() && self.include_former
    }

    /// This scope with former customers included (what the past is judged on).
    pub fn with_former(&self) -> Scope {
        Scope { include_former: true, ..self.clone() }
    }
}

/// How many of the accounts counted have each data status (SPEC v3 §10).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize, clickhouse::Row)]
pub struct DataStatusCounts {
    pub ok: u64,
    pub partial: u64,
    pub stale: u64,
    pub insufficient: u64,
}

/// The [`DataStatusCounts`] columns over rows with a `data_status` column.
pub(crate) const DATA_STATUS_COUNTS: &str = "countIf(data_status = 'ok') AS ok, \
     countIf(data_status = 'partial') AS partial, countIf(data_status = 'stale') AS stale, \
     countIf(data_status = 'insufficient') AS insufficient";

/// One page of a list: `LIMIT` and `OFFSET`, and the direction of its sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub limit: u64,
    pub offset: u64,
    /// Sort descending.
    pub desc: bool,
}

impl Paging {
    pub fn dir(&self) -> &'static str {
        if self.desc {
            "DESC"
        } else {
            "ASC"
        }
    }

    fn push(&self, sql: &mut Sql) {
        sql.arg(" LIMIT {limit:UInt64}", "limit", self.limit).arg(" OFFSET {offset:UInt64}", "offset", self.offset);
    }
}

/// The rows of one page and the number of rows over all pages.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// Runs the page query and the count query concurrently.
async fn page<T>(ch: &clickhouse::Client, items: Sql, count: Sql) -> Result<Rows<T>>
where
    T: clickhouse::RowOwned + clickhouse::RowRead,
{
    let (items, total) =
        futures::future::try_join(items.query(ch).fetch_all::<T>(), count.query(ch).fetch_one::<u64>()).await?;
    Ok(Rows { items, total })
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// The newest day with results (the portfolio's "now"); `None` before any data.
pub async fn latest_day(ch: &clickhouse::Client) -> Result<Option<NaiveDate>> {
    #[derive(serde::Deserialize, clickhouse::Row)]
    struct Latest {
        accounts: u64,
        #[serde(with = "clickhouse::serde::chrono::date")]
        as_of: NaiveDate,
    }
    let r: Latest =
        ch.query("SELECT count() AS accounts, max(as_of) AS as_of FROM account_health_latest").fetch_one().await?;
    Ok((r.accounts > 0).then_some(r.as_of))
}
