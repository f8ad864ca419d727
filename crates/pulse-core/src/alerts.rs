//! Alerts (SPEC §5): a state machine per account and rule that turns the daily
//! evaluations into `opened` / `resolved` transitions, with hysteresis so a metric
//! hovering at a threshold does not flap (e.g. `usage_declining` opens at -10% and
//! resolves only above -5%).
//!
//! One open alert per account and rule: while open, nothing more is emitted, even if
//! the condition worsens. Evaluations older than the newest one already seen for the
//! account are ignored, so re-emitting a past day after a late event cannot reopen
//! or resolve anything out of time order. Serializable so the scorer can snapshot it
//! next to the engine.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::{ScoringConfig, Severity, Share};
use crate::engine::Evaluation;
use crate::health::Color;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertRule {
    UsageDeclining,
    LowEngagement,
    HealthDropped,
    GraduationOverdue,
    RecoveryPlanNeeded,
}

impl AlertRule {
    pub const ALL: [AlertRule; 5] = [
        AlertRule::UsageDeclining,
        AlertRule::LowEngagement,
        AlertRule::HealthDropped,
        AlertRule::GraduationOverdue,
        AlertRule::RecoveryPlanNeeded,
    ];
    pub fn as_str(&self) -> &'static str {
        match self {
            AlertRule::UsageDeclining => "usage_declining",
            AlertRule::LowEngagement => "low_engagement",
            AlertRule::HealthDropped => "health_dropped",
            AlertRule::GraduationOverdue => "graduation_overdue",
            AlertRule::RecoveryPlanNeeded => "recovery_plan_needed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Opened,
    Resolved,
}

/// One `opened` or `resolved` event for `pulse.alerts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertTransition {
    pub account_id: String,
    pub rule: AlertRule,
    pub state: AlertState,
    pub as_of: NaiveDate,
    /// The day the alert opened (equal to `as_of` for `opened`): with account and
    /// rule it identifies the alert.
    pub opened_on: NaiveDate,
    pub severity: Severity,
    pub message: String,
    /// The numbers behind the transition.
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenAlert {
    pub opened_on: NaiveDate,
    pub severity: Severity,
    /// `health_dropped`: the color before the drop, which must come back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_color: Option<Color>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct AccountAlerts {
    last_as_of: Option<NaiveDate>,
    open: BTreeMap<AlertRule, OpenAlert>,
}

/// Open-alert state of every account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertTracker {
    config: ScoringConfig,
    accounts: BTreeMap<String, AccountAlerts>,
}

/// What a rule says about one evaluation.
enum Verdict {
    Open(Severity, String, serde_json::Value, Option<Color>),
    Resolve(String, serde_json::Value),
    Hold,
}

impl AlertTracker {
    pub fn new(config: &ScoringConfig) -> Self {
        Self {
            config: config.clone(),
            accounts: BTreeMap::new(),
        }
    }

    /// Use new rules (e.g. after restoring a snapshot under a changed config); open
    /// alerts stay open until the new rules resolve them.
    pub fn set_config(&mut self, config: &ScoringConfig) {
        self.config = config.clone();
    }

    /// Open alerts of one account.
    pub fn open_alerts(&self, account_id: &str) -> impl Iterator<Item = (AlertRule, &OpenAlert)> {
        self.accounts
            .get(account_id)
            .into_iter()
            .flat_map(|a| a.open.iter().map(|(r, o)| (*r, o)))
    }

    pub fn open_len(&self) -> usize {
        self.accounts.values().map(|a| a.open.len()).sum()
    }

    /// Feed one evaluation; returns the transitions it causes, in rule order.
    pub fn update(&mut self, ev: &Evaluation) -> Vec<AlertTransition> {
        let as_of = ev.health.as_of;
        let id = &ev.health.account_id;
        let config = &self.config;
        let state = self.accounts.entry(id.clone()).or_default();
        if state.last_as_of.is_some_and(|last| as_of < last) {
            return Vec::new();
        }
        state.last_as_of = Some(as_of);
        let mut out = Vec::new();
        for rule in AlertRule::ALL {
            let open = state.open.get(&rule);
            match judge(config, rule, ev, open) {
                Verdict::Hold => {}
                Verdict::Open(severity, message, details, from_color) => {
                    if open.is_none() {
                        state.open.insert(
                            rule,
                            OpenAlert {
                                opened_on: as_of,
                                severity,
                                from_color,
                            },
                        );
                        out.push(AlertTransition {
                            account_id: id.clone(),
                            rule,
                            state: AlertState::Opened,
                            as_of,
                            opened_on: as_of,
                            severity,
                            message,
                            details,
                        });
                    }
                }
                Verdict::Resolve(message, details) => {
                    if let Some(o) = state.open.remove(&rule) {
                        out.push(AlertTransition {
                            account_id: id.clone(),
                            rule,
                            state: AlertState::Resolved,
                            as_of,
                            opened_on: o.opened_on,
                            severity: o.severity,
                            message,
                            details,
                        });
                    }
                }
            }
        }
        out
    }
}

fn judge(
    cfg: &ScoringConfig,
    rule: AlertRule,
    ev: &Evaluation,
    open: Option<&OpenAlert>,
) -> Verdict {
    let a = &cfg.alerts;
    let h = &ev.health;
    let r = &ev.readiness;
    let enabled = match rule {
        AlertRule::UsageDeclining => a.usage_declining.enabled,
        AlertRule::LowEngagement => a.low_engagement.enabled,
        AlertRule::HealthDropped => a.health_dropped.enabled,
        AlertRule::GraduationOverdue => a.graduation_overdue.enabled,
        AlertRule::RecoveryPlanNeeded => a.recovery_plan_needed.enabled,
    };
    if !enabled {
        return Verdict::Resolve("rule disabled".to_owned(), json!({}));
    }
    match rule {
        AlertRule::UsageDeclining => {
            let t = a.usage_declining;
            let Some(c) = h.metrics.wau_change_pct else {
                return Verdict::Hold; // no comparison week: no information
            };
            let details = json!({"wau_change_pct": c, "wau": h.metrics.wau,
                "open_at_pct": t.open_at_pct, "resolve_at_pct": t.resolve_at_pct});
            if open.is_none() && c <= t.open_at_pct {
                Verdict::Open(
                    t.severity,
                    format!(
                        "weekly active users changed {c}% week over week (alert at {}%)",
                        t.open_at_pct
                    ),
                    details,
                    None,
                )
            } else if open.is_some() && c > t.resolve_at_pct {
                Verdict::Resolve(
                    format!(
                        "weekly active users recovered to {c}% week over week (above {}%)",
                        t.resolve_at_pct
                    ),
                    details,
                )
            } else {
                Verdict::Hold
            }
        }
        AlertRule::LowEngagement => {
            let t = a.low_engagement;
            let primary =
                Share::parse(&cfg.profiles.get(h.usage_profile).primary).unwrap_or(Share::MauPct);
            let Some(x) = h.metrics.share(primary) else {
                return Verdict::Hold; // seats unknown: flagged as such, not as low engagement
            };
            let name = primary.as_str();
            let details = json!({"share": name, "value": x,
                "open_at_pct": t.open_at_pct, "resolve_at_pct": t.resolve_at_pct});
            if open.is_none() && x < t.open_at_pct {
                Verdict::Open(
                    t.severity,
                    format!(
                        "{name} is {x}%, below {}% ({} profile)",
                        t.open_at_pct,
                        h.usage_profile.as_str()
                    ),
                    details,
                    None,
                )
            } else if open.is_some() && x >= t.resolve_at_pct {
                Verdict::Resolve(
                    format!("{name} is back to {x}% (>= {}%)", t.resolve_at_pct),
                    details,
                )
            } else {
                Verdict::Hold
            }
        }
        AlertRule::HealthDropped => {
            let t = a.health_dropped;
            let details =
                json!({"score": h.score, "color": h.color, "previous_color": h.previous_color});
            match open {
                None => match h.previous_color {
                    Some(prev) if h.color < prev => {
                        let severity = if h.color == Color::Red {
                            Severity::Critical
                        } else {
                            t.severity
                        };
                        Verdict::Open(
                            severity,
                            format!(
                                "health dropped from {} to {} (score {})",
                                prev.as_str(),
                                h.color.as_str(),
                                h.score
                            ),
                            details,
                            Some(prev),
                        )
                    }
                    _ => Verdict::Hold,
                },
                Some(o) => {
                    let from = o.from_color.unwrap_or(Color::Green);
                    let bands = cfg.effective(h.segment.as_deref(), h.usage_profile).bands;
                    let floor = match from {
                        Color::Green => bands.green,
                        Color::Yellow => bands.yellow,
                        Color::Red => 0.0,
                    };
                    if h.color >= from && h.score >= floor + t.resolve_margin {
                        Verdict::Resolve(
                            format!("health back to {} (score {})", h.color.as_str(), h.score),
                            details,
                        )
                    } else {
                        Verdict::Hold
                    }
                }
            }
        }
        AlertRule::GraduationOverdue => flag(
            a.graduation_overdue.severity,
            r.overdue,
            || {
                format!(
                    "graduation overdue: {} days past target, verdict {}",
                    r.days_past_target.unwrap_or(0),
                    r.verdict.as_str()
                )
            },
            "no longer overdue",
            json!({"days_past_target": r.days_past_target, "verdict": r.verdict, "total": r.total}),
        ),
        AlertRule::RecoveryPlanNeeded => flag(
            a.recovery_plan_needed.severity,
            r.recovery_plan_needed,
            || {
                format!(
                    "recovery plan needed: {} days past target graduation",
                    r.days_past_target.unwrap_or(0)
                )
            },
            "recovery plan no longer needed",
            json!({"days_past_target": r.days_past_target, "verdict": r.verdict, "total": r.total}),
        ),
    }
}

fn flag(
    severity: Severity,
    on: bool,
    msg: impl FnOnce() -> String,
    off: &str,
    details: serde_json::Value,
) -> Verdict {
    if on {
        Verdict::Open(severity, msg(), details, None)
    } else {
        Verdict::Resolve(off.to_owned(), details)
    }
}
