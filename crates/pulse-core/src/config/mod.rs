//! The scorecard as code: every weight, threshold, band and alert rule of SPEC §2-5,
//! loaded from TOML (`config/scoring.toml` is the documented default).
//!
//! Why typed and validated up front: a scoring config with weights that do not sum
//! to 100 or a threshold of 700% silently produces plausible-looking but wrong
//! scores for every account, so [`ScoringConfig::from_toml_str`] refuses it with an
//! error naming the key path. Every section has defaults (`#[serde(default)]`), so a
//! file only needs the keys it changes, and unknown keys are errors
//! (`deny_unknown_fields`) so a typo cannot silently fall back to a default.
//!
//! [`ScoringConfig::version`] hashes the *effective* config (defaults filled in,
//! comments and key order irrelevant): results carry it, so a score can always be
//! traced to the exact rules that produced it.

mod resolve;
mod validate;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::event::UsageProfile;

pub use resolve::{Effective, Measure, Share};

/// Error for an unusable config. Display names the key path first, e.g.
/// `health.weights: weights sum to 95, expected 100`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// Not TOML, a value of the wrong type, or an unknown key (toml's message names
    /// the key and line).
    #[error("invalid scoring config: {0}")]
    Parse(String),
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl ConfigError {
    pub(crate) fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid { path: path.into(), message: message.into() }
    }
}

/// Smallest and largest `horizon_days`. Activity is kept as a 128-day bitmask per
/// user (day 0 = newest) for the horizon plus the 56 days the windows of its days look
/// back (the MAU of 28 days earlier, for the day and the day before), so at most 71;
/// 63 leaves room.
pub const MIN_HORIZON_DAYS: u32 = 35;
pub const MAX_HORIZON_DAYS: u32 = 63;
/// At most this many core features (they are tracked as one bit each).
pub const MAX_CORE_FEATURES: usize = 64;

/// The whole scoring configuration. `Default` is SPEC v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoringConfig {
    /// The scoring horizon (SPEC §2): the results of this many days before an
    /// account's newest usage day can still be corrected by late events, exactly, and
    /// usage event ids are remembered (for deduplication) this long. Activity is kept
    /// 56 days longer, because those days' MAU-of-28-days-earlier windows reach back
    /// that far; usage older than that is beyond the horizon: counted, not scored.
    /// 35..=63.
    pub horizon_days: u32,
    /// Features (the usage `feature` field) whose use makes up `breadth`; empty
    /// leaves `breadth` out of the health score.
    pub core_features: Vec<String>,
    /// Usage thresholds per usage profile (SPEC §3).
    pub profiles: Profiles,
    pub readiness: ReadinessConfig,
    pub evidence: EvidenceConfig,
    pub red_flags: RedFlagConfig,
    pub health: HealthConfig,
    pub alerts: AlertsConfig,
    /// Data quality (SPEC v3 §10): how old a CRM-fed input may be before it is stale.
    pub quality: QualityConfig,
    /// Per-segment / per-profile overrides, applied in file order (later wins).
    pub overrides: Vec<Override>,
}

impl Default for ScoringConfig {
    fn default() -> Self {
        Self {
            horizon_days: 60,
            core_features: Vec::new(),
            profiles: Profiles::default(),
            readiness: ReadinessConfig::default(),
            evidence: EvidenceConfig::default(),
            red_flags: RedFlagConfig::default(),
            health: HealthConfig::default(),
            alerts: AlertsConfig::default(),
            quality: QualityConfig::default(),
            overrides: Vec::new(),
        }
    }
}

fn map(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Profiles {
    pub daily: ProfileConfig,
    pub weekly: ProfileConfig,
    pub periodic: ProfileConfig,
}

impl Default for Profiles {
    fn default() -> Self {
        Self {
            daily: ProfileConfig {
                thresholds: map(&[("wau_pct", 80.0), ("dau_pct", 50.0)]),
                primary: "wau_pct".into(),
                stickiness_target: Some(0.5),
            },
            weekly: ProfileConfig {
                thresholds: map(&[("mau_pct", 70.0), ("wau_pct", 40.0)]),
                primary: "mau_pct".into(),
                stickiness_target: Some(0.2),
            },
            periodic: ProfileConfig {
                thresholds: map(&[("mau_pct", 50.0)]),
                primary: "mau_pct".into(),
                stickiness_target: None,
            },
        }
    }
}

impl Profiles {
    pub fn get(&self, p: UsageProfile) -> &ProfileConfig {
        match p {
            UsageProfile::Daily => &self.daily,
            UsageProfile::Weekly => &self.weekly,
            UsageProfile::Periodic => &self.periodic,
        }
    }
}

/// One usage profile: the shares the usage dimension is measured against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    /// share (`dau_pct` | `wau_pct` | `mau_pct`) -> minimum percent of seats.
    pub thresholds: BTreeMap<String, f64>,
    /// The share `low_engagement` looks at.
    pub primary: String,
    /// Target of mean DAU / MAU for `stickiness`; absent leaves it out.
    #[serde(default)]
    pub stickiness_target: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReadinessConfig {
    /// dimension -> percent; must sum to 100.
    pub weights: BTreeMap<String, f64>,
    /// `ready` needs total >= this and no blocker.
    pub ready_total: f64,
    /// `close` needs total >= this.
    pub close_total: f64,
    /// A dimension below this is not green, hence a blocker.
    pub green_dimension: f64,
    /// Days past `target_graduation_on` from which a recovery plan is needed.
    pub recovery_after_days: u32,
}

impl Default for ReadinessConfig {
    fn default() -> Self {
        Self {
            weights: map(&[
                ("technical", 20.0),
                ("knowledge", 20.0),
                ("usage", 20.0),
                ("value", 30.0),
                ("stakeholder", 10.0),
            ]),
            ready_total: 8.0,
            close_total: 6.0,
            green_dimension: 7.0,
            recovery_after_days: 30,
        }
    }
}

/// How dimensions are derived from evidence events when no assessment exists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvidenceConfig {
    /// Milestone items that make up the technical checklist. Empty: every item the
    /// account reported counts.
    pub technical_checklist: Vec<String>,
    /// A training completion passes at this knowledge-check score (percent).
    pub training_pass_pct: f64,
    /// Highest `value` score a KPI can earn before the customer confirms it.
    pub unconfirmed_value_cap: f64,
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        Self { technical_checklist: Vec::new(), training_pass_pct: 80.0, unconfirmed_value_cap: 6.0 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedFlagConfig {
    /// `low_engagement` when the profile's primary share is below this percent.
    pub low_engagement_pct: f64,
    /// `usage_declining` when the profile's change metric is at or below this
    /// (negative): `wau_change_pct` for `daily` and `weekly` accounts.
    pub usage_declining_pct: f64,
    /// The same for `periodic` accounts, whose change metric is `mau_change_pct`
    /// (used in bursts: week-to-week swings are their normal rhythm).
    pub usage_declining_periodic_pct: f64,
}

impl Default for RedFlagConfig {
    fn default() -> Self {
        Self { low_engagement_pct: 50.0, usage_declining_pct: -10.0, usage_declining_periodic_pct: -20.0 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// measure -> percent; must sum to 100. Measures without data are left out and
    /// their weight spread over the others in proportion.
    pub weights: BTreeMap<String, f64>,
    pub bands: Bands,
    pub trend: TrendConfig,
    /// A measure scoring below this gets a reason in the result.
    pub reason_below: f64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            weights: map(&[
                ("adoption", 40.0),
                ("trend", 25.0),
                ("breadth", 15.0),
                ("stickiness", 10.0),
                ("sentiment", 10.0),
            ]),
            bands: Bands::default(),
            trend: TrendConfig::default(),
            reason_below: 70.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Bands {
    /// score >= green is green.
    pub green: f64,
    /// score >= yellow (and below green) is yellow; below is red.
    pub yellow: f64,
}

impl Default for Bands {
    fn default() -> Self {
        Self { green: 70.0, yellow: 40.0 }
    }
}

/// `trend` scores 100 at `full_at_pct` change of the profile's change metric
/// (`wau_change_pct` week over week; `mau_change_pct` month over month for
/// `periodic`) or better, 0 at `zero_at_pct` or worse, linear between.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrendConfig {
    pub full_at_pct: f64,
    pub zero_at_pct: f64,
}

impl Default for TrendConfig {
    fn default() -> Self {
        Self { full_at_pct: 0.0, zero_at_pct: -30.0 }
    }
}

/// Staleness limits of the CRM-fed inputs (SPEC v3 §10). An input is stale at the end
/// of day D when it is dated more than its limit before D: with the default 90, an
/// input of D-90 is still `ok`, one of D-91 is `stale`. A stale measure is still
/// scored; it only lowers `coverage`. Usage-fed measures (`trend`, `breadth`,
/// `stickiness`, and `adoption`'s usage side) have no limit: an account that went
/// silent is a signal, not missing data (SPEC §4); only the services mark them stale,
/// while the usage source is stalled. Part of the config version: changing a limit
/// changes the version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QualityConfig {
    /// Days, for every CRM-fed measure and dimension not listed below. 1..=3650.
    pub stale_after_days: u32,
    /// Per health measure fed by the CRM: `adoption` (the account attributes behind
    /// seats, as of the newest `account` event of any content; or the usage assessment
    /// that overrides telemetry) and `sentiment` (the stakeholder dimension's
    /// assessment or stakeholder events).
    pub measures: BTreeMap<String, u32>,
    /// Per readiness dimension (`technical`, `knowledge`, `usage`, `value`,
    /// `stakeholder`): its assessment, or the evidence it is derived from (milestones,
    /// training, KPIs, stakeholder events); `usage` computed from telemetry: the
    /// account attributes behind seats.
    pub dimensions: BTreeMap<String, u32>,
}

impl Default for QualityConfig {
    fn default() -> Self {
        Self { stale_after_days: 90, measures: BTreeMap::new(), dimensions: BTreeMap::new() }
    }
}

impl QualityConfig {
    /// The staleness limit of a CRM-fed health measure, in days.
    pub fn measure_limit(&self, m: Measure) -> u32 {
        self.measures.get(m.as_str()).copied().unwrap_or(self.stale_after_days)
    }

    /// The staleness limit of a readiness dimension's input, in days.
    pub fn dimension_limit(&self, d: crate::event::Dimension) -> u32 {
        self.dimensions.get(d.as_str()).copied().unwrap_or(self.stale_after_days)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// The five alert rules of SPEC §5.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Opens when the profile's change metric (`wau_change_pct`; `mau_change_pct`
    /// for `periodic`) is `<= open_at_pct`, resolves when it is `> resolve_at_pct`;
    /// a day without comparison data (null) changes nothing.
    pub usage_declining: DeclineRule,
    /// Opens when the primary share is `< open_at_pct`, resolves when it is
    /// `>= resolve_at_pct`; unknown seats change nothing.
    pub low_engagement: ThresholdRule,
    /// Opens when the color is worse than the previous day's; resolves when the
    /// color is back to the one before the drop with `resolve_margin` points above
    /// that band's floor.
    pub health_dropped: HealthDroppedRule,
    /// Open while readiness says `overdue`.
    pub graduation_overdue: FlagRule,
    /// Open while readiness says `recovery_plan_needed`.
    pub recovery_plan_needed: FlagRule,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            usage_declining: DeclineRule::default(),
            low_engagement: ThresholdRule {
                enabled: true,
                severity: Severity::Warning,
                open_at_pct: 50.0,
                resolve_at_pct: 55.0,
            },
            health_dropped: HealthDroppedRule::default(),
            graduation_overdue: FlagRule { enabled: true, severity: Severity::Warning },
            recovery_plan_needed: FlagRule { enabled: true, severity: Severity::Critical },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdRule {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "warning")]
    pub severity: Severity,
    pub open_at_pct: f64,
    pub resolve_at_pct: f64,
}

/// `usage_declining`: hysteresis lines per usage profile (`daily` and `weekly` on
/// `wau_change_pct`, `periodic` on `mau_change_pct`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeclineRule {
    pub enabled: bool,
    pub severity: Severity,
    /// `daily` / `weekly`: opens at or below this `wau_change_pct`.
    pub open_at_pct: f64,
    /// `daily` / `weekly`: resolves only above this.
    pub resolve_at_pct: f64,
    /// `periodic`: opens at or below this `mau_change_pct`.
    pub periodic_open_at_pct: f64,
    /// `periodic`: resolves only above this.
    pub periodic_resolve_at_pct: f64,
}

impl Default for DeclineRule {
    fn default() -> Self {
        Self {
            enabled: true,
            severity: Severity::Warning,
            open_at_pct: -10.0,
            resolve_at_pct: -5.0,
            periodic_open_at_pct: -20.0,
            periodic_resolve_at_pct: -10.0,
        }
    }
}

impl DeclineRule {
    /// (open at, resolve above) for a usage profile.
    pub fn lines(&self, profile: UsageProfile) -> (f64, f64) {
        match profile {
            UsageProfile::Periodic => (self.periodic_open_at_pct, self.periodic_resolve_at_pct),
            _ => (self.open_at_pct, self.resolve_at_pct),
        }
    }
}

fn yes() -> bool {
    true
}
fn warning() -> Severity {
    Severity::Warning
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthDroppedRule {
    pub enabled: bool,
    /// Severity when the new color is yellow; a drop to red is always `critical`.
    pub severity: Severity,
    pub resolve_margin: f64,
}

impl Default for HealthDroppedRule {
    fn default() -> Self {
        Self { enabled: true, severity: Severity::Warning, resolve_margin: 2.0 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlagRule {
    pub enabled: bool,
    pub severity: Severity,
}

impl Default for FlagRule {
    fn default() -> Self {
        Self { enabled: true, severity: Severity::Warning }
    }
}

/// Changes for the accounts of one segment and/or usage profile. Every field but the
/// matchers replaces the base value when present.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Override {
    /// Matches accounts whose `segment` equals this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// Matches accounts with this usage profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<UsageProfile>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_weights: Option<BTreeMap<String, f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_bands: Option<Bands>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readiness_weights: Option<BTreeMap<String, f64>>,
    /// Replaces the thresholds of the account's usage profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_thresholds: Option<BTreeMap<String, f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stickiness_target: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub low_engagement_pct: Option<f64>,
}

impl ScoringConfig {
    /// Parse and validate a TOML scoring config; absent keys take SPEC defaults. The
    /// text is either a scoring file (the keys of this struct) or a whole `pulse.toml`
    /// whose `[scoring]` table is taken (errors then name `scoring.<key>`). The one
    /// loader of every scorecard: the scorer's `scorer.scoring_config`, `pulse
    /// replay --config`, `pulse backtest --config/--compare` all accept the same files.
    pub fn from_toml_str(s: &str) -> Result<Self, ConfigError> {
        if let Ok(table) = s.parse::<toml::Table>() {
            if let Some(toml::Value::Table(scoring)) = table.get("scoring") {
                return Self::from_table(scoring.clone()).map_err(|e| match e {
                    ConfigError::Invalid { path, message } => {
                        ConfigError::Invalid { path: format!("scoring.{path}"), message }
                    }
                    ConfigError::Parse(m) => ConfigError::Parse(format!("in [scoring]: {m}")),
                });
            }
        }
        let cfg: ScoringConfig = toml::from_str(s).map_err(|e| ConfigError::Parse(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn from_table(table: toml::Table) -> Result<Self, ConfigError> {
        let cfg: ScoringConfig = table.try_into().map_err(|e: toml::de::Error| ConfigError::Parse(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Check every rule a usable config must satisfy (no I/O).
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate::validate(self)
    }

    /// Short, stable hex hash of the effective config (12 hex chars of SHA-256 over
    /// its canonical JSON: maps are ordered, so formatting and key order in the
    /// file do not matter).
    pub fn version(&self) -> String {
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        let digest = Sha256::digest(&canonical);
        hex::encode(&digest[..6])
    }
}
