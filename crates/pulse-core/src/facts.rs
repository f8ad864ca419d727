//! Everything known about one account as of one day, computed once and shared by the
//! readiness and health builders so the two can never disagree (the health
//! `adoption` measure *is* the readiness usage dimension, the red flags are the same
//! list).

use crate::activity::Window;
use crate::config::{Effective, ScoringConfig, Share};
use crate::crm::CrmView;
use crate::dimension::{DimensionResult, Source};
use crate::event::{AssessmentEvent, Dimension};
use crate::evidence::{self, Derived};
use crate::metrics::{self, Extra, Metrics, RedFlag};
use crate::num::{date_from_day, day_from_date, round, Day};
use crate::quality::{self, InputState};

/// The usage dimension computed from telemetry (SPEC §3).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UsageCalc {
    /// `None` when any needed share is null (seats unknown or 0).
    pub score: Option<f64>,
    /// (share, actual, threshold) per threshold of the profile.
    pub parts: Vec<(Share, Option<f64>, f64)>,
}

pub(crate) struct Facts<'a> {
    pub cfg: &'a ScoringConfig,
    /// `cfg.version()`, computed once per engine.
    pub version: &'a str,
    pub account_id: &'a str,
    pub day: Day,
    /// The account's first day (its earliest event of any type).
    pub first_day: Day,
    pub view: CrmView<'a>,
    /// The usage activity windows of `day` (how old the newest usage is, SPEC v3 §10).
    pub window: Window,
    pub eff: Effective,
    pub metrics: Metrics,
    pub extra: Extra,
    pub dims: [DimensionResult; 5],
    /// Per dimension: what would raise it to green (for blockers).
    pub to_raise: [String; 5],
    pub red_flags: Vec<RedFlag>,
    pub critical_tickets: Vec<&'a str>,
    pub champions_left: Vec<&'a str>,
}

/// usage score = 10 x min over thresholds of min(1, actual / threshold), one decimal.
pub(crate) fn usage_calc(m: &Metrics, eff: &Effective) -> UsageCalc {
    let parts: Vec<(Share, Option<f64>, f64)> = eff.thresholds.iter().map(|&(s, t)| (s, m.share(s), t)).collect();
    let mut min_ratio = f64::INFINITY;
    for (_, actual, t) in &parts {
        match actual {
            None => {
                return UsageCalc { score: None, parts };
            }
            Some(a) => min_ratio = min_ratio.min((a / t).min(1.0)),
        }
    }
    let score = if min_ratio.is_finite() { Some(round(10.0 * min_ratio, 1)) } else { None };
    UsageCalc { score, parts }
}

fn usage_detail(u: &UsageCalc, eff: &Effective) -> String {
    let parts: Vec<String> = u
        .parts
        .iter()
        .map(|(s, a, t)| match a {
            Some(a) => format!("{} {a} of {t}", s.as_str()),
            None => format!("{} unknown (seats unknown) of {t}", s.as_str()),
        })
        .collect();
    format!("{} profile: {}", eff.profile.as_str(), parts.join(", "))
}

/// What each share must reach for the usage score to reach `green`.
fn usage_to_raise(u: &UsageCalc, green: f64) -> String {
    let ratio = green / 10.0;
    let needs: Vec<String> = u
        .parts
        .iter()
        .filter_map(|(s, a, t)| {
            let need = round(t * ratio, 2);
            match a {
                Some(a) if *a >= need => None,
                Some(a) => Some(format!("{} >= {need} (now {a}; {t} for a full score)", s.as_str())),
                None => Some(format!("{} >= {need} (seats unknown)", s.as_str())),
            }
        })
        .collect();
    needs.join("; ")
}

fn from_assessment(a: &AssessmentEvent, source: Source, weight: f64) -> DimensionResult {
    DimensionResult {
        score: Some(a.score),
        source,
        weight,
        computed_score: None,
        author: Some(a.author.clone()),
        assessed_at: Some(a.timestamp),
        expires_on: a.expires_on,
        note: a.note.clone(),
        detail: format!("assessed {} by {}", a.score, a.author),
        as_of: Some(a.timestamp.date_naive()),
        state: InputState::Ok,
    }
}

fn from_derived(d: &Option<Derived>, weight: f64, none_detail: &str) -> DimensionResult {
    match d {
        Some(d) => DimensionResult {
            score: Some(d.score),
            source: Source::Evidence,
            weight,
            detail: d.detail.clone(),
            as_of: d.as_of.map(date_from_day),
            ..DimensionResult::unassessed(weight, String::new())
        },
        None => DimensionResult::unassessed(weight, none_detail.to_owned()),
    }
}

/// A non-usage dimension without an assessment: derived from evidence, if any.
fn derived(d: Dimension, view: &CrmView<'_>, cfg: &ScoringConfig, w: f64, reassess: &str) -> (DimensionResult, String) {
    let (e, none_detail, evidence_kind) = match d {
        Dimension::Technical => {
            (evidence::technical(view, cfg), "no assessment and no milestone events", "technical checklist milestones")
        }
        Dimension::Knowledge => (
            evidence::knowledge(view, cfg),
            "no assessment and no training events",
            "training completions with knowledge-check scores",
        ),
        Dimension::Value => (
            evidence::value(view, cfg),
            "no assessment and no KPI measurements",
            "KPI measurements against baseline and target",
        ),
        Dimension::Stakeholder | Dimension::Usage => (
            evidence::stakeholder(view),
            "no assessment and no stakeholder events",
            "champion and executive-sponsor status events",
        ),
    };
    let raise = match &e {
        Some(e) => e.to_raise.clone(),
        None => format!("{reassess}, or {evidence_kind}"),
    };
    (from_derived(&e, w, none_detail), raise)
}

/// How current each dimension's input is (SPEC v3 §10): `missing` without a score,
/// else `stale` when its input is dated more than the dimension's limit before `day`.
/// Usage computed from telemetry is judged by its CRM side (the newest `account`
/// event); its usage side is never stale in the core (silence is a signal).
fn judge_dimensions(dims: &mut [DimensionResult; 5], cfg: &ScoringConfig, day: Day) {
    for d in Dimension::ALL {
        let r = &mut dims[d.index()];
        r.state = match r.score {
            None => InputState::Missing,
            Some(_) => quality::judge(r.as_of.map(day_from_date), day, cfg.quality.dimension_limit(d)),
        };
    }
}

pub(crate) fn compute<'a>(
    cfg: &'a ScoringConfig,
    version: &'a str,
    account_id: &'a str,
    day: Day,
    first_day: Day,
    window: &Window,
    view: CrmView<'a>,
) -> Facts<'a> {
    let eff = cfg.effective(view.attrs.segment, view.attrs.usage_profile);
    let (metrics, extra) = metrics::compute(window, day, &view);
    let usage = usage_calc(&metrics, &eff);
    let green = cfg.readiness.green_dimension;

    let mut dims: [DimensionResult; 5] = Default::default();
    let mut to_raise: [String; 5] = Default::default();
    for d in Dimension::ALL {
        let i = d.index();
        let w = eff.readiness_weights[i];
        let assessed = view.assessments[i];
        let reassess = format!("a {d} assessment of {green} or more");
        let (res, raise) = match d {
            Dimension::Usage => match (assessed, usage.score) {
                (Some(a), computed) => {
                    let mut r = from_assessment(a, Source::Override, w);
                    r.computed_score = computed;
                    r.detail = format!(
                        "usage assessment {} by {} overrides telemetry ({})",
                        a.score,
                        a.author,
                        usage_detail(&usage, &eff)
                    );
                    (r, reassess)
                }
                (None, Some(s)) => (
                    DimensionResult {
                        score: Some(s),
                        source: Source::Computed,
                        computed_score: Some(s),
                        detail: usage_detail(&usage, &eff),
                        as_of: view.account_as_of.map(date_from_day),
                        ..DimensionResult::unassessed(w, String::new())
                    },
                    usage_to_raise(&usage, green),
                ),
                (None, None) => (
                    DimensionResult::unassessed(w, "seats unknown: usage cannot be computed".to_owned()),
                    "set licensed_seats (> 0) on the account, or record a usage assessment".to_owned(),
                ),
            },
            _ => match assessed {
                Some(a) => (from_assessment(a, Source::Assessment, w), reassess),
                None => derived(d, &view, cfg, w, &reassess),
            },
        };
        dims[i] = res;
        to_raise[i] = raise;
    }
    judge_dimensions(&mut dims, cfg, day);

    let critical_tickets = view.open_critical_tickets();
    let champions_left = view.champions_left();
    let mut red_flags = Vec::new();
    if metrics.share(eff.primary).is_some_and(|x| x < eff.low_engagement_pct) {
        red_flags.push(RedFlag::LowEngagement);
    }
    if metrics.change_pct(eff.profile).is_some_and(|x| x <= eff.usage_declining_pct) {
        red_flags.push(RedFlag::UsageDeclining);
    }
    if metrics.seats_unknown() {
        red_flags.push(RedFlag::SeatsUnknown);
    }
    if !critical_tickets.is_empty() {
        red_flags.push(RedFlag::CriticalTicketsOpen);
    }
    if !champions_left.is_empty() {
        red_flags.push(RedFlag::ChampionLeft);
    }

    Facts {
        cfg,
        version,
        account_id,
        day,
        first_day,
        view,
        window: *window,
        eff,
        metrics,
        extra,
        dims,
        to_raise,
        red_flags,
        critical_tickets,
        champions_left,
    }
}
