//! Alerts (SPEC §5): a state machine per account and rule that turns the daily
//! results into `opened` / `resolved` transitions, with hysteresis so a metric
//! hovering at a threshold does not flap (e.g. `usage_declining` opens at -10% and
//! resolves only above -5%).
//!
//! Alerts are a *function of the daily results*, never of the order data arrived in:
//! per account the tracker keeps the alert-relevant inputs of each day of the scoring
//! horizon ([`DayInput`], about 100 bytes a day) and the open alerts at the start of
//! that window. Feeding the results of a past day (late or backlogged data changed
//! them) re-derives the account's transitions from the window start, compares them
//! with the ones derived before (which were emitted), and returns the difference:
//! `retracted` for each transition that no longer holds (naming the transition it
//! withdraws), then every transition that now holds and was not emitted (or was, with
//! other content: the same transition re-emitted replaces it). Feeding days in order
//! (the normal case) is a fast path: one step of the state machine.
//!
//! Bounded: days older than `horizon_days` before the account's newest fed day are
//! folded into the window-start state and forgotten; their transitions are final
//! (the engine cannot re-score those days either). Results fed for such a day are
//! ignored. Serializable so the scorer can snapshot it next to the engine.
//!
//! One open alert per account and rule: while open, nothing more is emitted, even if
//! the condition worsens. A day without results (not fed) is skipped.

use std::collections::{BTreeMap, VecDeque};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::{ScoringConfig, Severity, Share};
use crate::engine::Evaluation;
use crate::event::UsageProfile;
use crate::health::Color;
use crate::num::{date_from_day, day_from_date, Day};
use crate::readiness;

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

/// What an output transition says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Opened,
    Resolved,
    /// A transition emitted before no longer holds (late data changed its day or an
    /// earlier one); [`AlertTransition::retracts`] names which.
    Retracted,
}

impl AlertState {
    pub fn as_str(&self) -> &'static str {
        match self {
            AlertState::Opened => "opened",
            AlertState::Resolved => "resolved",
            AlertState::Retracted => "retracted",
        }
    }
}

/// The two transitions of an alert's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitionKind {
    Opened,
    Resolved,
}

impl TransitionKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            TransitionKind::Opened => "opened",
            TransitionKind::Resolved => "resolved",
        }
    }
}

/// One `opened`, `resolved` or `retracted` event for `pulse.alerts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertTransition {
    pub account_id: String,
    pub rule: AlertRule,
    pub state: AlertState,
    /// The day of the transition; for `retracted`, the day of the withdrawn one.
    pub as_of: NaiveDate,
    /// The day the alert opened (equal to `as_of` for `opened`): with account and
    /// rule it identifies the alert.
    pub opened_on: NaiveDate,
    /// For `retracted`: the alert's opening severity, message and details.
    pub severity: Severity,
    pub message: String,
    /// The numbers behind the transition.
    pub details: serde_json::Value,
    /// Only for `retracted`: which transition (of `as_of`) is withdrawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retracts: Option<TransitionKind>,
    /// Why a `resolved` transition is not the rule's own resolve: `churned` when the
    /// account became a former customer (SPEC v3 §7, §8); null otherwise.
    #[serde(default)]
    pub reason: Option<TransitionReason>,
    /// Which time this transition holds: 1, and n + 1 once it was retracted n times (an
    /// alert opened, retracted by late data, then opened again on the same day is its
    /// second opening). A retraction carries the number of the transition it withdraws.
    /// Re-deriving the same transition (a restart replaying its log) keeps the number,
    /// so a notification's idempotency key can tell a re-opening from a repeat. Omitted
    /// on the wire when 1.
    #[serde(default = "first_seq", skip_serializing_if = "is_first_seq")]
    pub seq: u32,
}

fn first_seq() -> u32 {
    1
}

fn is_first_seq(n: &u32) -> bool {
    *n == 1
}

/// The reason of a transition other than its rule's own verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitionReason {
    /// The account became a former customer that day: its open alerts resolve.
    Churned,
}

impl TransitionReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            TransitionReason::Churned => "churned",
        }
    }
}

impl AlertTransition {
    /// The transition kind this row is about: its own state, or the withdrawn one.
    pub fn transition(&self) -> TransitionKind {
        match (self.state, self.retracts) {
            (AlertState::Resolved, _) => TransitionKind::Resolved,
            (AlertState::Retracted, Some(k)) => k,
            _ => TransitionKind::Opened,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenAlert {
    pub opened_on: NaiveDate,
    pub severity: Severity,
    /// `health_dropped`: the color before the drop, which must come back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_color: Option<Color>,
    /// The opening's message and details (a retraction carries them).
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub details: serde_json::Value,
}

/// The alert-relevant part of one day's results: everything the rules read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayInput {
    profile: UsageProfile,
    segment: Option<String>,
    wau: u32,
    mau: u32,
    wau_change_pct: Option<f64>,
    mau_change_pct: Option<f64>,
    dau_pct: Option<f64>,
    wau_pct: Option<f64>,
    mau_pct: Option<f64>,
    score: f64,
    color: Color,
    previous_color: Option<Color>,
    overdue: bool,
    recovery_plan_needed: bool,
    days_past_target: Option<i64>,
    verdict: readiness::Verdict,
    total: f64,
    /// A former customer that day (SPEC v3 §8): no rule opens, open alerts resolve.
    #[serde(default)]
    former: bool,
}

impl DayInput {
    pub fn of(ev: &Evaluation) -> Self {
        let h = &ev.health;
        let r = &ev.readiness;
        let m = &h.metrics;
        DayInput {
            profile: h.usage_profile,
            segment: h.segment.clone(),
            wau: m.wau,
            mau: m.mau,
            wau_change_pct: m.wau_change_pct,
            mau_change_pct: m.mau_change_pct,
            dau_pct: m.dau_pct,
            wau_pct: m.wau_pct,
            mau_pct: m.mau_pct,
            score: h.score,
            color: h.color,
            previous_color: h.previous_color,
            overdue: r.overdue,
            recovery_plan_needed: r.recovery_plan_needed,
            days_past_target: r.days_past_target,
            verdict: r.verdict,
            total: r.total,
            former: h.former,
        }
    }

    fn share(&self, s: Share) -> Option<f64> {
        match s {
            Share::DauPct => self.dau_pct,
            Share::WauPct => self.wau_pct,
            Share::MauPct => self.mau_pct,
        }
    }
}

type Open = BTreeMap<AlertRule, OpenAlert>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct AccountAlerts {
    /// Open alerts before the first day of `days` (the folded, final past).
    base: Open,
    /// Day of `days[0]`.
    start: Day,
    /// Inputs of `start..`, `None` for a day not fed.
    days: VecDeque<Option<DayInput>>,
    /// Open alerts after the last day of `days` (cache of the derivation).
    open: Open,
    /// Whether days were folded into `base`: until then, results of a day before
    /// `start` (the first day fed) extend the window backwards.
    #[serde(default)]
    folded: bool,
    /// How many times each transition of the window was retracted (absent: never).
    #[serde(default)]
    retracted: Retractions,
}

/// Per transition, how often it was retracted: the next time it holds it is number
/// count + 1. Serialized as a list (its keys are tuples).
#[derive(Debug, Clone, Default, PartialEq)]
struct Retractions(BTreeMap<Key, u32>);

impl Retractions {
    fn seq(&self, t: &AlertTransition) -> u32 {
        self.0.get(&key(t)).copied().unwrap_or(0).saturating_add(1)
    }
}

impl Serialize for Retractions {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter())
    }
}

impl<'de> Deserialize<'de> for Retractions {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self(Vec::<(Key, u32)>::deserialize(d)?.into_iter().collect()))
    }
}

impl AccountAlerts {
    fn end(&self) -> Day {
        self.start + self.days.len() as Day - 1
    }
}

/// The alert history of every account, derived from its daily results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertTracker {
    config: ScoringConfig,
    accounts: BTreeMap<String, AccountAlerts>,
}

/// What a rule says about one day.
enum Verdict {
    Open(Severity, String, serde_json::Value, Option<Color>),
    Resolve(String, serde_json::Value),
    Hold,
}

/// One state-machine step of every rule: updates `open`, appends the transitions.
fn step(
    cfg: &ScoringConfig,
    account: &str,
    day: Day,
    input: &DayInput,
    open: &mut Open,
    out: &mut Vec<AlertTransition>,
) {
    let as_of = date_from_day(day);
    if input.former {
        // A former customer opens nothing; what is open resolves that day (SPEC v3 §8).
        for (rule, o) in std::mem::take(open) {
            out.push(AlertTransition {
                account_id: account.to_owned(),
                rule,
                state: AlertState::Resolved,
                as_of,
                opened_on: o.opened_on,
                severity: o.severity,
                message: format!("{}: resolved, the account is a former customer", rule.as_str()),
                details: serde_json::json!({ "reason": "churned" }),
                retracts: None,
                reason: Some(TransitionReason::Churned),
                seq: 1,
            });
        }
        return;
    }
    for rule in AlertRule::ALL {
        let current = open.get(&rule);
        match judge(cfg, rule, input, current) {
            Verdict::Hold => {}
            Verdict::Open(severity, message, details, from_color) => {
                if current.is_none() {
                    open.insert(
                        rule,
                        OpenAlert {
                            opened_on: as_of,
                            severity,
                            from_color,
                            message: message.clone(),
                            details: details.clone(),
                        },
                    );
                    out.push(AlertTransition {
                        account_id: account.to_owned(),
                        rule,
                        state: AlertState::Opened,
                        as_of,
                        opened_on: as_of,
                        severity,
                        message,
                        details,
                        retracts: None,
                        reason: None,
                        seq: 1,
                    });
                }
            }
            Verdict::Resolve(message, details) => {
                if let Some(o) = open.remove(&rule) {
                    out.push(AlertTransition {
                        account_id: account.to_owned(),
                        rule,
                        state: AlertState::Resolved,
                        as_of,
                        opened_on: o.opened_on,
                        severity: o.severity,
                        message,
                        details,
                        retracts: None,
                        reason: None,
                        seq: 1,
                    });
                }
            }
        }
    }
}

/// Every transition of the window and the open alerts after it.
fn derive(cfg: &ScoringConfig, account: &str, a: &AccountAlerts) -> (Vec<AlertTransition>, Open) {
    let mut open = a.base.clone();
    let mut out = Vec::new();
    for (i, input) in a.days.iter().enumerate() {
        if let Some(input) = input {
            step(cfg, account, a.start + i as Day, input, &mut open, &mut out);
        }
    }
    (out, open)
}

type Key = (AlertRule, NaiveDate, TransitionKind, NaiveDate);

fn key(t: &AlertTransition) -> Key {
    (t.rule, t.opened_on, t.transition(), t.as_of)
}

impl AlertTracker {
    pub fn new(config: &ScoringConfig) -> Self {
        Self { config: config.clone(), accounts: BTreeMap::new() }
    }

    /// Use new rules (e.g. after restoring a snapshot under a changed config); open
    /// alerts stay open until the new rules resolve them.
    pub fn set_config(&mut self, config: &ScoringConfig) {
        self.config = config.clone();
    }

    /// Open alerts of one account (after its newest day fed).
    pub fn open_alerts(&self, account_id: &str) -> impl Iterator<Item = (AlertRule, &OpenAlert)> {
        self.accounts.get(account_id).into_iter().flat_map(|a| a.open.iter().map(|(r, o)| (*r, o)))
    }

    pub fn open_len(&self) -> usize {
        self.accounts.values().map(|a| a.open.len()).sum()
    }

    /// Days of inputs held, over all accounts (bounded by the horizon per account).
    pub fn days_held(&self) -> usize {
        self.accounts.values().map(|a| a.days.len()).sum()
    }

    /// Feed one day's final results; returns the output transitions (see
    /// [`Self::update_many`]).
    pub fn update(&mut self, ev: &Evaluation) -> Vec<AlertTransition> {
        self.update_many(std::slice::from_ref(ev))
    }

    /// Feed the final results of any days of any accounts (each replaces what was fed
    /// for its account and day before). Returns per account, in account order of first
    /// appearance: retractions of the transitions that no longer hold (by day), then
    /// the transitions that now hold and were not emitted before, by day and rule.
    pub fn update_many(&mut self, evs: &[Evaluation]) -> Vec<AlertTransition> {
        let mut order: Vec<&str> = Vec::new();
        let mut by_account: BTreeMap<&str, Vec<&Evaluation>> = BTreeMap::new();
        for ev in evs {
            let id = ev.health.account_id.as_str();
            let list = by_account.entry(id).or_default();
            if list.is_empty() {
                order.push(id);
            }
            list.push(ev);
        }
        let mut out = Vec::new();
        for id in order {
            if let Some(list) = by_account.get(id) {
                self.update_account(id, list, &mut out);
            }
        }
        out
    }

    fn update_account(&mut self, id: &str, evs: &[&Evaluation], out: &mut Vec<AlertTransition>) {
        let cfg = &self.config;
        let horizon = cfg.horizon_days as Day;
        let a = self.accounts.entry(id.to_owned()).or_default();
        let mut inputs: Vec<(Day, DayInput)> =
            evs.iter().map(|e| (day_from_date(e.health.as_of), DayInput::of(e))).collect();
        inputs.sort_by_key(|(d, _)| *d);
        if a.days.is_empty() {
            if let Some((first, _)) = inputs.first() {
                a.start = *first;
            }
        }
        let end = if a.days.is_empty() { a.start - 1 } else { a.end() };
        // Fast path: only days after the last one fed, in order.
        if inputs.iter().all(|(d, _)| *d > end) {
            let mark = out.len();
            for (d, input) in inputs {
                while a.end() < d - 1 {
                    a.days.push_back(None);
                }
                step(cfg, id, d, &input, &mut a.open, out);
                a.days.push_back(Some(input));
            }
            for t in &mut out[mark..] {
                t.seq = a.retracted.seq(t);
            }
            fold(cfg, id, a, horizon);
            return;
        }
        let (before, _) = derive(cfg, id, a);
        for (d, input) in inputs {
            if d < a.start {
                if a.folded || a.end() - d > horizon {
                    continue; // before the window: final
                }
                while a.start > d {
                    a.days.push_front(None);
                    a.start -= 1;
                }
            }
            let i = (d - a.start) as usize;
            while a.days.len() <= i {
                a.days.push_back(None);
            }
            a.days[i] = Some(input);
        }
        let (after, open) = derive(cfg, id, a);
        a.open = open;
        diff(&before, &after, &mut a.retracted, out);
        fold(cfg, id, a, horizon);
    }
}

/// Retractions of `before` missing from `after`, then `after` not in `before` as is;
/// each numbered (`seq`) by how often its transition was retracted before.
fn diff(
    before: &[AlertTransition],
    after: &[AlertTransition],
    retracted: &mut Retractions,
    out: &mut Vec<AlertTransition>,
) {
    let now: BTreeMap<Key, &AlertTransition> = after.iter().map(|t| (key(t), t)).collect();
    let was: BTreeMap<Key, &AlertTransition> = before.iter().map(|t| (key(t), t)).collect();
    // the opening of each alert, for the severity/message a retraction carries
    let openings: BTreeMap<(AlertRule, NaiveDate), &AlertTransition> =
        before.iter().filter(|t| t.state == AlertState::Opened).map(|t| ((t.rule, t.opened_on), t)).collect();
    let mut retractions: Vec<AlertTransition> = before
        .iter()
        .filter(|t| !now.contains_key(&key(t)))
        .map(|t| {
            let opening = openings.get(&(t.rule, t.opened_on)).copied().unwrap_or(t);
            AlertTransition {
                state: AlertState::Retracted,
                retracts: Some(t.transition()),
                severity: opening.severity,
                message: opening.message.clone(),
                details: opening.details.clone(),
                seq: retracted.seq(t),
                ..t.clone()
            }
        })
        .collect();
    for r in &retractions {
        *retracted.0.entry(key(r)).or_insert(0) += 1;
    }
    // Newest first: when an alert's resolution and its opening are both withdrawn, the
    // resolution's retraction must come first. Stores that keep one row per alert and
    // apply transitions in emission order (ClickHouse's `alerts_current`: a withdrawn
    // resolution means "open again", a withdrawn opening "withdrawn") then end at
    // "withdrawn", not at "open".
    retractions.sort_by_key(|t| std::cmp::Reverse((t.as_of, t.retracts == Some(TransitionKind::Resolved), t.rule)));
    out.extend(retractions);
    let changed = |t: &AlertTransition| was.get(&key(t)).is_none_or(|w| *w != t);
    // An opening emitted again (new, or re-derived with other numbers) is followed by its
    // alert's resolution when that still holds, even unchanged: a store that keeps one
    // row per alert, newest emission first (`alerts_current`), would otherwise read the
    // re-emitted opening as "open" again although the alert stays resolved.
    let reopened: std::collections::BTreeSet<(AlertRule, NaiveDate)> =
        after.iter().filter(|t| t.state == AlertState::Opened && changed(t)).map(|t| (t.rule, t.opened_on)).collect();
    out.extend(
        after
            .iter()
            .filter(|t| changed(t) || (t.state == AlertState::Resolved && reopened.contains(&(t.rule, t.opened_on))))
            .map(|t| AlertTransition { seq: retracted.seq(t), ..t.clone() }),
    );
}

/// Folds days older than `horizon` before the newest into the window-start state.
fn fold(cfg: &ScoringConfig, id: &str, a: &mut AccountAlerts, horizon: Day) {
    let oldest = a.end() - horizon;
    let mut sink = Vec::new();
    while a.start < oldest {
        if let Some(Some(input)) = a.days.pop_front() {
            step(cfg, id, a.start, &input, &mut a.base, &mut sink);
        }
        a.start += 1;
        a.folded = true;
        sink.clear();
    }
    // Transitions before the window are final: never retracted, never re-derived.
    let first = date_from_day(a.start);
    a.retracted.0.retain(|k, _| k.3 >= first);
}

fn judge(cfg: &ScoringConfig, rule: AlertRule, h: &DayInput, open: Option<&OpenAlert>) -> Verdict {
    let a = &cfg.alerts;
    let r = h;
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
            let (open_at, resolve_at) = t.lines(h.profile);
            let (metric, c, active, what, when) = match h.profile {
                UsageProfile::Periodic => (
                    "mau_change_pct",
                    h.mau_change_pct,
                    ("mau", h.mau),
                    "monthly active users",
                    "against 28 days earlier",
                ),
                _ => ("wau_change_pct", h.wau_change_pct, ("wau", h.wau), "weekly active users", "week over week"),
            };
            let Some(c) = c else {
                return Verdict::Hold; // no comparison data: no information
            };
            let details = json!({metric: c, active.0: active.1,
                "open_at_pct": open_at, "resolve_at_pct": resolve_at});
            if open.is_none() && c <= open_at {
                Verdict::Open(t.severity, format!("{what} changed {c}% {when} (alert at {open_at}%)"), details, None)
            } else if open.is_some() && c > resolve_at {
                Verdict::Resolve(format!("{what} recovered to {c}% {when} (above {resolve_at}%)"), details)
            } else {
                Verdict::Hold
            }
        }
        AlertRule::LowEngagement => {
            let t = a.low_engagement;
            let primary = Share::parse(&cfg.profiles.get(h.profile).primary).unwrap_or(Share::MauPct);
            let Some(x) = h.share(primary) else {
                return Verdict::Hold; // seats unknown: flagged as such, not as low engagement
            };
            let name = primary.as_str();
            let details = json!({"share": name, "value": x,
                "open_at_pct": t.open_at_pct, "resolve_at_pct": t.resolve_at_pct});
            if open.is_none() && x < t.open_at_pct {
                Verdict::Open(
                    t.severity,
                    format!("{name} is {x}%, below {}% ({} profile)", t.open_at_pct, h.profile.as_str()),
                    details,
                    None,
                )
            } else if open.is_some() && x >= t.resolve_at_pct {
                Verdict::Resolve(format!("{name} is back to {x}% (>= {}%)", t.resolve_at_pct), details)
            } else {
                Verdict::Hold
            }
        }
        AlertRule::HealthDropped => {
            let t = a.health_dropped;
            let details = json!({"score": h.score, "color": h.color, "previous_color": h.previous_color});
            match open {
                None => match h.previous_color {
                    Some(prev) if h.color < prev => {
                        let severity = if h.color == Color::Red { Severity::Critical } else { t.severity };
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
                    let bands = cfg.effective(h.segment.as_deref(), h.profile).bands;
                    let floor = match from {
                        Color::Green => bands.green,
                        Color::Yellow => bands.yellow,
                        Color::Red => 0.0,
                    };
                    if h.color >= from && h.score >= floor + t.resolve_margin {
                        Verdict::Resolve(format!("health back to {} (score {})", h.color.as_str(), h.score), details)
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
            || format!("recovery plan needed: {} days past target graduation", r.days_past_target.unwrap_or(0)),
            "recovery plan no longer needed",
            json!({"days_past_target": r.days_past_target, "verdict": r.verdict, "total": r.total}),
        ),
    }
}

fn flag(severity: Severity, on: bool, msg: impl FnOnce() -> String, off: &str, details: serde_json::Value) -> Verdict {
    if on {
        Verdict::Open(severity, msg(), details, None)
    } else {
        Verdict::Resolve(off.to_owned(), details)
    }
}
