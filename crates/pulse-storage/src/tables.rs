//! Table names, as created by `schemas/clickhouse/` (every query and insert names its
//! table through these).

/// Raw usage events as ingested ([`crate::UsageRow`]).
pub const USAGE_EVENTS: &str = "usage_events";
/// Raw CRM events as ingested ([`crate::CrmRow`]).
pub const CRM_EVENTS: &str = "crm_events";
/// Daily health, one row per account and day ([`crate::HealthRow`]).
pub const ACCOUNT_HEALTH: &str = "account_health";
/// The newest day of [`ACCOUNT_HEALTH`] per account (materialized view target).
pub const ACCOUNT_HEALTH_LATEST: &str = "account_health_latest";
/// Daily graduation readiness ([`crate::ReadinessRow`]).
pub const GRADUATION_READINESS: &str = "graduation_readiness";
/// The newest day of [`GRADUATION_READINESS`] per account.
pub const GRADUATION_READINESS_LATEST: &str = "graduation_readiness_latest";
/// Alert transitions and their retractions ([`crate::AlertRow`]).
pub const HEALTH_ALERTS: &str = "health_alerts";
/// Each alert's current state (materialized view over [`HEALTH_ALERTS`]).
pub const ALERTS_CURRENT: &str = "alerts_current";
/// Acknowledgements of alerts ([`crate::AckRow`]).
pub const ALERT_ACKS: &str = "alert_acks";
/// System alerts, today `source_stalled` ([`crate::SystemAlertRow`]).
pub const SYSTEM_ALERTS: &str = "system_alerts";
/// Scorer partition snapshots ([`crate::SnapshotRow`], [`crate::SnapshotRef`]).
pub const SCORER_SNAPSHOTS: &str = "scorer_snapshots";
/// Migrations applied ([`crate::migrations::MigrationRow`]).
pub const SCHEMA_MIGRATIONS: &str = "schema_migrations";
