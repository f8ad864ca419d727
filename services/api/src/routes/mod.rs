//! JSON endpoints, one module per concept. Each module parses and validates its
//! parameters into a typed request, runs the queries of `pulse_storage::read` (where
//! all SQL lives) and shapes their rows into typed, serializable results; the
//! dashboard (`ui`) renders the same results.

pub mod accounts;
pub mod accuracy;
pub mod alerts;
pub mod graduation;
pub mod outcomes;
pub mod portfolio;
pub mod renewals;

use chrono::NaiveDate;
use pulse_storage::read::Paging;
use serde::Serialize;

pub use pulse_storage::read::Scope;

use crate::{
    db::Db,
    error::{ApiError, ApiResult},
    params::{check_text, PageReq, Params, Sort, MAX_TEXT},
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

/// The scope filters of a request: `segment` and `csm`.
pub fn scope(p: &Params) -> ApiResult<Scope> {
    Ok(Scope { segment: p.text("segment", MAX_TEXT)?, csm: p.text("csm", MAX_TEXT)? })
}

/// The newest day with results (the portfolio's "now"); `None` before any data.
pub async fn latest_day(db: &Db) -> ApiResult<Option<NaiveDate>> {
    Ok(pulse_storage::read::latest_day(&db.read).await?)
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

/// The storage paging of a page request sorted by `sort`.
pub fn paging<T>(page: PageReq, sort: &Sort<T>) -> Paging {
    Paging { limit: page.page_size, offset: page.offset(), desc: sort.desc }
}

/// A [`Page`] of `rows`, each shaped by `f`.
pub fn page_of<R, T>(
    rows: pulse_storage::read::Rows<R>,
    page: PageReq,
    sort: String,
    f: impl FnMut(R) -> T,
) -> Page<T> {
    Page {
        items: rows.items.into_iter().map(f).collect(),
        page: page.page,
        page_size: page.page_size,
        total: rows.total,
        sort,
    }
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
