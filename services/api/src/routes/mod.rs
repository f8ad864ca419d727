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
pub mod reconcile;
pub mod renewals;
pub mod sources;

use chrono::NaiveDate;
use pulse_storage::read::Paging;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub use pulse_storage::read::Scope;

use crate::{
    db::Db,
    error::{ApiError, ApiResult},
    params::{check_text, choices, Flag, PageReq, Params, Sort, Text},
};

/// One page of a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u64,
    pub page_size: u64,
    /// Items over all pages.
    pub total: u64,
    /// The sort applied (`key` ascending, `-key` descending).
    pub sort: String,
}

/// `segment`, `csm` and `include_former`: the scope of portfolio-level requests.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScopeQuery {
    /// Only accounts of this segment.
    #[param(inline)]
    pub segment: Option<Text>,
    /// Only accounts of this CSM.
    #[param(inline)]
    pub csm: Option<Text>,
    /// Count and list former customers too (SPEC v3 §8; default false: an account
    /// that churned is left out); `1`, `0` also accepted.
    #[param(inline)]
    pub include_former: Option<Flag>,
}

impl ScopeQuery {
    pub fn scope(self) -> Scope {
        scope_of(self.segment, self.csm, self.include_former)
    }
}

/// `segment` and `csm` only: the scope of what judges the past as it was (the
/// accuracy page), where former customers always count.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SegmentQuery {
    /// Only accounts of this segment.
    #[param(inline)]
    pub segment: Option<Text>,
    /// Only accounts of this CSM.
    #[param(inline)]
    pub csm: Option<Text>,
}

impl SegmentQuery {
    /// The scope, former customers included.
    pub fn scope(self) -> Scope {
        ScopeQuery { segment: self.segment, csm: self.csm, include_former: None }.scope().with_former()
    }
}

/// The account id of a path (`/api/v1/accounts/{id}/...`); see [`account_id`].
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AccountPath {
    /// Account id (URL-encoded).
    #[param(inline)]
    pub id: Text,
}

/// The parameters of [`ScopeQuery`] (the portfolio page's).
pub const SCOPE_KEYS: &[&str] = &["segment", "csm", "include_former"];

/// The scope filters of a request: `segment`, `csm` and `include_former`.
pub fn scope(p: &Params) -> ApiResult<Scope> {
    Ok(p.decode::<ScopeQuery>()?.scope())
}

/// The scope of two optional free-text values and `include_former`.
pub fn scope_of(segment: Option<Text>, csm: Option<Text>, include_former: Option<Flag>) -> Scope {
    Scope {
        segment: segment.map(|t| t.0),
        csm: csm.map(|t| t.0),
        include_former: crate::params::one(include_former).unwrap_or(false),
    }
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

choices!(
    /// Health colors (the core's; their names are `Color::as_str`, checked below).
    Colors: pulse_core::Color = [
        ("green", pulse_core::Color::Green),
        ("yellow", pulse_core::Color::Yellow),
        ("red", pulse_core::Color::Red),
    ]
);
choices!(
    /// Data statuses (SPEC v3 §10).
    DataStatuses: pulse_core::DataStatus = [
        ("ok", pulse_core::DataStatus::Ok),
        ("partial", pulse_core::DataStatus::Partial),
        ("stale", pulse_core::DataStatus::Stale),
        ("insufficient", pulse_core::DataStatus::Insufficient),
    ]
);
choices!(
    /// Graduation verdicts.
    Verdicts: &'static str = [("ready", "ready"), ("close", "close"), ("not_ready", "not_ready")]
);
choices!(
    /// Lifecycle stages.
    Stages: &'static str = [
        ("onboarding", "onboarding"),
        ("adoption", "adoption"),
        ("expansion", "expansion"),
        ("renewal", "renewal"),
    ]
);
choices!(
    /// Red flags.
    RedFlags: &'static str = [
        ("low_engagement", "low_engagement"),
        ("usage_declining", "usage_declining"),
        ("seats_unknown", "seats_unknown"),
        ("critical_tickets_open", "critical_tickets_open"),
        ("champion_left", "champion_left"),
    ]
);
choices!(
    /// Alert rules.
    Rules: &'static str = [
        ("usage_declining", "usage_declining"),
        ("low_engagement", "low_engagement"),
        ("health_dropped", "health_dropped"),
        ("graduation_overdue", "graduation_overdue"),
        ("recovery_plan_needed", "recovery_plan_needed"),
    ]
);
choices!(
    /// Alert severities.
    Severities: &'static str = [("info", "info"), ("warning", "warning"), ("critical", "critical")]
);

/// The names of a choice set (what `/api/v1/filters` lists).
pub fn names<C: crate::params::Choices>() -> Vec<&'static str> {
    C::ALL.iter().map(|(n, _)| *n).collect()
}

/// An answer kept in `outcomes::Cache`, served without copying it (a forecast at scale
/// lists some 100,000 renewals).
pub struct Shared<T>(pub std::sync::Arc<T>);

impl<T: Serialize> Serialize for Shared<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use crate::params::fields;

    /// The parameter names of the core's enums are the names the core gives them.
    #[test]
    fn choice_names_are_the_core_names() {
        use crate::params::Choices;
        for (name, c) in super::Colors::ALL {
            assert_eq!(*name, c.as_str());
        }
        for (name, d) in super::DataStatuses::ALL {
            assert_eq!(*name, d.as_str());
        }
        assert_eq!(super::DataStatuses::ALL.len(), pulse_core::DataStatus::ALL.len());
    }

    /// The pages parse with these key lists: they must be the request structs' fields.
    #[test]
    fn page_key_lists_are_the_request_fields() {
        assert_eq!(super::accounts::LIST_KEYS, fields::<super::accounts::ListQuery>());
        assert_eq!(super::alerts::LIST_KEYS, fields::<super::alerts::AlertsQuery>());
        assert_eq!(super::graduation::LIST_KEYS, fields::<super::graduation::GradQuery>());
        assert_eq!(super::renewals::KEYS, fields::<super::renewals::RenewalsQuery>());
        assert_eq!(super::accuracy::KEYS, fields::<super::SegmentQuery>());
        assert_eq!(super::SCOPE_KEYS, fields::<super::ScopeQuery>());
    }
}
