//! JSON endpoints, one module per concept. Each module parses and validates its
//! parameters into a typed request, runs bound queries (`db::Sql`) and returns typed,
//! serializable results; the dashboard (`ui`) renders the same results.

pub mod accounts;
pub mod accuracy;
pub mod alerts;
pub mod graduation;
pub mod outcomes;
pub mod portfolio;
pub mod renewals;

use chrono::NaiveDate;
use serde::Serialize;

use crate::{
    db::{Db, Sql},
    error::{ApiError, ApiResult},
    params::{check_text, Params, MAX_TEXT},
};

/// One page of a list.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u64,
    pub page_size: u64,
    /// Items over all pages.
    pub total: u64,
    /// The sort applied (`key` ascending, `-key` descending).
    pub sort: String,
}

/// The scope filters shared by portfolio-level queries: segment and CSM.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Scope {
    pub segment: Option<String>,
    pub csm: Option<String>,
}

impl Scope {
    pub fn parse(p: &Params) -> ApiResult<Self> {
        Ok(Self { segment: p.text("segment", MAX_TEXT)?, csm: p.text("csm", MAX_TEXT)? })
    }

    /// ` AND segment = {segment:String} AND csm = {csm:String}` for the filters that are
    /// set (columns of the health tables).
    pub fn push(&self, sql: &mut Sql) {
        self.push_columns(sql, "segment", "csm");
    }

    /// [`Scope::push`] on other column names (fixed identifiers, never request data).
    pub fn push_columns(&self, sql: &mut Sql, segment: &'static str, csm: &'static str) {
        if let Some(s) = &self.segment {
            sql.arg(&format!(" AND {segment} = {{segment:String}}"), "segment", s.as_str());
        }
        if let Some(c) = &self.csm {
            sql.arg(&format!(" AND {csm} = {{csm:String}}"), "csm", c.as_str());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.segment.is_none() && self.csm.is_none()
    }
}

/// The newest day with results (the portfolio's "now"); `None` before any data.
pub async fn latest_day(db: &Db) -> ApiResult<Option<NaiveDate>> {
    #[derive(serde::Deserialize, clickhouse::Row)]
    struct Latest {
        accounts: u64,
        #[serde(with = "clickhouse::serde::chrono::date")]
        as_of: NaiveDate,
    }
    let r: Latest =
        db.read.query("SELECT count() AS accounts, max(as_of) AS as_of FROM account_health_latest").fetch_one().await?;
    Ok((r.accounts > 0).then_some(r.as_of))
}

/// Validates an account id from a path (1..=128 characters, SPEC §1).
pub fn account_id(raw: &str) -> ApiResult<String> {
    if raw.is_empty() {
        return Err(ApiError::bad("account_id", "must not be empty"));
    }
    check_text("account_id", raw, 128)?;
    Ok(raw.to_owned())
}

/// `sort` as echoed in a [`Page`].
pub fn sort_label(name: &str, desc: bool) -> String {
    if desc {
        format!("-{name}")
    } else {
        name.to_owned()
    }
}

/// Runs the page query and the count query concurrently.
pub async fn page<T>(db: &Db, items: Sql, count: Sql, page: crate::params::PageReq, sort: String) -> ApiResult<Page<T>>
where
    T: clickhouse::RowOwned + clickhouse::RowRead,
{
    let (items, total) =
        futures::future::try_join(items.query(&db.read).fetch_all::<T>(), count.query(&db.read).fetch_one::<u64>())
            .await?;
    Ok(Page { items, page: page.page, page_size: page.page_size, total, sort })
}

pub const COLORS: [(&str, &str); 3] = [("green", "green"), ("yellow", "yellow"), ("red", "red")];
pub const VERDICTS: [(&str, &str); 3] = [("ready", "ready"), ("close", "close"), ("not_ready", "not_ready")];
pub const STAGES: [(&str, &str); 4] =
    [("onboarding", "onboarding"), ("adoption", "adoption"), ("expansion", "expansion"), ("renewal", "renewal")];
pub const RED_FLAGS: [(&str, &str); 5] = [
    ("low_engagement", "low_engagement"),
    ("usage_declining", "usage_declining"),
    ("seats_unknown", "seats_unknown"),
    ("critical_tickets_open", "critical_tickets_open"),
    ("champion_left", "champion_left"),
];
pub const RULES: [(&str, &str); 5] = [
    ("usage_declining", "usage_declining"),
    ("low_engagement", "low_engagement"),
    ("health_dropped", "health_dropped"),
    ("graduation_overdue", "graduation_overdue"),
    ("recovery_plan_needed", "recovery_plan_needed"),
];
pub const SEVERITIES: [(&str, &str); 3] = [("info", "info"), ("warning", "warning"), ("critical", "critical")];

pub fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}
