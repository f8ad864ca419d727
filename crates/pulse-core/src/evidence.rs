//! Dimension scores derived from evidence events, used when a dimension has no
//! unexpired assessment (SPEC §3). Each rule follows the validation advice of the
//! scorecard article (seed 001): a checklist verified item by item, training that
//! counts only with a passed knowledge check, value that counts only when measured
//! against baseline and target and confirmed by the customer, and stakeholders who
//! are present and positive.
//!
//! A dimension with no evidence event at all is `None` (unassessed), never 0: "no
//! data" and "bad data" must stay distinguishable.

use crate::config::ScoringConfig;
use crate::crm::CrmView;
use crate::event::{MilestoneStatus, Sentiment, StakeholderRole, StakeholderStatus};
use crate::num::{day_of, round, Day};

/// A derived score with its explanation and, when below green, what would raise it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Derived {
    pub score: f64,
    pub detail: String,
    pub to_raise: String,
    /// Day of the newest evidence event the score is derived from (SPEC v3 §10);
    /// `None` when none counts (a configured checklist none of whose items was reported).
    pub as_of: Option<Day>,
}

/// The newest of some events' days (the evidence maps keep each key's latest event, so
/// the newest kept is the newest received).
fn newest(days: impl Iterator<Item = Day>) -> Option<Day> {
    days.max()
}

fn list(items: &[&str]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// technical = 10 x share of checklist items whose latest status is `done`. The
/// checklist is `evidence.technical_checklist`, or every reported item when empty.
pub(crate) fn technical(v: &CrmView<'_>, cfg: &ScoringConfig) -> Option<Derived> {
    if v.milestones.is_empty() {
        return None;
    }
    let checklist: Vec<&str> = if cfg.evidence.technical_checklist.is_empty() {
        v.milestones.keys().copied().collect()
    } else {
        cfg.evidence.technical_checklist.iter().map(String::as_str).collect()
    };
    let status = |item: &str| v.milestones.get(item).map(|m| m.status);
    let done: Vec<&str> = checklist.iter().copied().filter(|i| status(i) == Some(MilestoneStatus::Done)).collect();
    let blocked: Vec<&str> =
        checklist.iter().copied().filter(|i| status(i) == Some(MilestoneStatus::Blocked)).collect();
    let open: Vec<&str> = checklist.iter().copied().filter(|i| status(i) != Some(MilestoneStatus::Done)).collect();
    let score = round(10.0 * done.len() as f64 / checklist.len() as f64, 1);
    // The items the checklist reads: with a configured checklist, reported items
    // outside it do not count (and do not refresh it).
    let as_of = newest(checklist.iter().filter_map(|i| v.milestones.get(i)).map(|m| day_of(m.timestamp)));
    Some(Derived {
        as_of,
        score,
        detail: format!("{} of {} checklist items done; blocked: {}", done.len(), checklist.len(), list(&blocked)),
        to_raise: format!("complete checklist items: {}", list(&open)),
    })
}

/// knowledge = 10 x share of (trainee, module) completions whose best knowledge
/// check passed (`evidence.training_pass_pct`). Attendance without a score is a
/// completion that did not pass: attendance is not competency.
pub(crate) fn knowledge(v: &CrmView<'_>, cfg: &ScoringConfig) -> Option<Derived> {
    if v.training.is_empty() {
        return None;
    }
    let pass = cfg.evidence.training_pass_pct;
    let total = v.training.len();
    let passed = v.training.values().filter(|s| s.is_some_and(|x| x >= pass)).count();
    let unscored = v.training.values().filter(|s| s.is_none()).count();
    Some(Derived {
        as_of: v.training_as_of,
        score: round(10.0 * passed as f64 / total as f64, 1),
        detail: format!(
            "{passed} of {total} training completions passed the knowledge check (>= {pass}%); {unscored} without a score"
        ),
        to_raise: format!(
            "more trainees passing the knowledge check at {pass}% or more ({passed} of {total} now)"
        ),
    })
}

/// value = mean over KPIs of 10 x progress from baseline to target (clamped to
/// 0..1; works for KPIs that should fall, like processing days), each capped at
/// `evidence.unconfirmed_value_cap` until the customer confirms it.
pub(crate) fn value(v: &CrmView<'_>, cfg: &ScoringConfig) -> Option<Derived> {
    if v.kpis.is_empty() {
        return None;
    }
    let cap = cfg.evidence.unconfirmed_value_cap;
    let mut sum = 0.0;
    let mut parts = Vec::new();
    let mut unconfirmed = Vec::new();
    let mut short = Vec::new();
    for k in v.kpis.values() {
        let span = k.target - k.baseline;
        let progress = if span == 0.0 { 0.0 } else { ((k.value - k.baseline) / span).clamp(0.0, 1.0) };
        let mut s = 10.0 * progress;
        if !k.confirmed {
            s = s.min(cap);
            unconfirmed.push(k.kpi.as_str());
        }
        if progress < 1.0 {
            short.push(format!("{} to {} (now {})", k.kpi, k.target, k.value));
        }
        sum += s;
        parts.push(format!(
            "{} {}% of the way from {} to {}{}",
            k.kpi,
            round(progress * 100.0, 0),
            k.baseline,
            k.target,
            if k.confirmed { ", confirmed" } else { ", not confirmed" }
        ));
    }
    let mut to_raise = Vec::new();
    if !short.is_empty() {
        to_raise.push(format!("move {}", short.join(", ")));
    }
    if !unconfirmed.is_empty() {
        to_raise.push(format!("customer confirmation of {}", unconfirmed.join(", ")));
    }
    Some(Derived {
        as_of: newest(v.kpis.values().map(|k| day_of(k.timestamp))),
        score: round(sum / v.kpis.len() as f64, 1),
        detail: parts.join("; "),
        to_raise: to_raise.join("; "),
    })
}

fn sentiment_points(s: Option<Sentiment>) -> f64 {
    match s {
        Some(Sentiment::Positive) => 5.0,
        None | Some(Sentiment::Neutral) => 3.0,
        Some(Sentiment::Negative) => 1.0,
    }
}

/// stakeholder = champion points + executive-sponsor points, each 5 for an active
/// person with positive sentiment, 3 neutral or unknown, 1 negative, 0 when nobody
/// in that role is active (best person per role counts).
pub(crate) fn stakeholder(v: &CrmView<'_>) -> Option<Derived> {
    if v.stakeholders.is_empty() {
        return None;
    }
    let best = |role: StakeholderRole| {
        v.stakeholders
            .values()
            .filter(|s| s.role == role && s.status == StakeholderStatus::Active)
            .map(|s| sentiment_points(s.sentiment))
            .fold(0.0, f64::max)
    };
    let champion = best(StakeholderRole::Champion);
    let sponsor = best(StakeholderRole::ExecutiveSponsor);
    let mut to_raise = Vec::new();
    for (points, role) in [(champion, "champion"), (sponsor, "executive sponsor")] {
        if points == 0.0 {
            to_raise.push(format!("an active {role}"));
        } else if points < 5.0 {
            to_raise.push(format!("positive sentiment from the {role}"));
        }
    }
    Some(Derived {
        as_of: newest(v.stakeholders.values().map(|s| day_of(s.timestamp))),
        score: champion + sponsor,
        detail: format!("champion {champion}/5, executive sponsor {sponsor}/5"),
        to_raise: to_raise.join("; "),
    })
}
