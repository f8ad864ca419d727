//! Data quality (SPEC v3 §10): "the customer went quiet" is not "our data went quiet".
//!
//! Every health and readiness result says how much of it rests on current data
//! (`coverage`, `data_status`), and every measure and dimension says how old its newest
//! input is (`as_of`) and whether it counts (`state`). The core judges staleness at the
//! end of the result's day from the events alone (no clock); whether a *source* is
//! stalled needs the wall clock, so the services decide that and mark results
//! [`DataStatus::Stale`] with [`mark_source_stalled`].
//!
//! Which input feeds what ([`measure_feeds`], [`dimension_feeds`]):
//!
//! | measure / dimension | input | `as_of` | stale (core) |
//! |---|---|---|---|
//! | `adoption`, readiness `usage` (computed) | usage + seats | the newest `account` event (any content) | account event older than the limit |
//! | `adoption`, readiness `usage` (override) | a usage assessment | its day | older than the limit |
//! | `trend` | usage | newest active day in the days the change metric reads (14; 56 for `periodic`) | never |
//! | `breadth`, `stickiness` | usage | newest active day in the last 28 | never |
//! | `sentiment`, readiness `stakeholder` | assessment, else stakeholder events | its day / the newest event's | older than the limit |
//! | `technical`, `knowledge`, `value` | assessment, else milestones / training / KPIs | its day / the newest event's | older than the limit |
//!
//! Usage-fed measures are never stale in the core: an account that stopped sending
//! usage while others flow is a real signal (SPEC §4) and keeps `data_status` `ok`.
//!
//! Coverage counts *configured* weights (after the account's overrides): the measures
//! (dimensions) whose state is `ok` over all applicable ones. Not applicable, and left
//! out of both sums: `breadth` without core features, `stickiness` without a
//! stickiness target (the `periodic` profile), any measure or dimension of weight 0.

use serde::{Deserialize, Serialize};

use crate::config::Measure;
use crate::dimension::Source;
use crate::event::Dimension;
use crate::health::{Color, HealthResult};
use crate::num::{round, Day};
use crate::readiness::ReadinessResult;

/// Coverage below this is `insufficient` (SPEC v3 §10), compared on the published
/// (four-decimal) coverage.
pub const INSUFFICIENT_BELOW: f64 = 0.6;

/// How far a result rests on current data, worst last in severity order of SPEC §10's
/// rule: `stale` (a source is stalled) before `insufficient` (coverage < 0.6) before
/// `partial` (a measure missing or stale) before `ok`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DataStatus {
    #[default]
    Ok,
    Partial,
    Stale,
    Insufficient,
}

impl DataStatus {
    pub const ALL: [DataStatus; 4] = [DataStatus::Ok, DataStatus::Partial, DataStatus::Stale, DataStatus::Insufficient];

    pub fn as_str(&self) -> &'static str {
        match self {
            DataStatus::Ok => "ok",
            DataStatus::Partial => "partial",
            DataStatus::Stale => "stale",
            DataStatus::Insufficient => "insufficient",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// Whether one measure's or dimension's input counts toward coverage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum InputState {
    #[default]
    Ok,
    /// No value that day (unassessed, no comparison data, mau = 0, seats unknown).
    Missing,
    /// Scored from an input older than its limit (CRM-fed), or while its source is
    /// stalled (usage-fed).
    Stale,
}

impl InputState {
    pub fn as_str(&self) -> &'static str {
        match self {
            InputState::Ok => "ok",
            InputState::Missing => "missing",
            InputState::Stale => "stale",
        }
    }
}

/// `coverage`'s default for results stored before v3 (serde).
pub(crate) fn full_coverage() -> f64 {
    1.0
}

/// A source of input events (SPEC v3 §10): the services watch each for stalls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feed {
    /// Product analytics (`pulse.usage`).
    Usage,
    /// The CRM (`pulse.crm`): account attributes, assessments, evidence.
    Crm,
}

/// Which sources one input rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Feeds {
    pub usage: bool,
    pub crm: bool,
}

impl Feeds {
    pub fn includes(&self, feed: Feed) -> bool {
        match feed {
            Feed::Usage => self.usage,
            Feed::Crm => self.crm,
        }
    }
}

const USAGE_AND_CRM: Feeds = Feeds { usage: true, crm: true };
const USAGE: Feeds = Feeds { usage: true, crm: false };
const CRM: Feeds = Feeds { usage: false, crm: true };

/// The sources a readiness dimension's score rests on, by where it comes from: usage
/// computed from telemetry needs usage and the seats (CRM); an assessment, an override
/// or evidence is CRM; an unassessed dimension rests on nothing.
pub fn dimension_feeds(d: Dimension, source: Source) -> Feeds {
    match (d, source) {
        (_, Source::Unassessed) => Feeds::default(),
        (Dimension::Usage, Source::Computed) => USAGE_AND_CRM,
        _ => CRM,
    }
}

/// The sources a health measure rests on. `usage_source` is where the readiness usage
/// dimension's score comes from (`adoption` is that dimension x 10: usage and seats
/// when computed, the CRM alone when a usage assessment overrides telemetry).
pub fn measure_feeds(m: Measure, usage_source: Source) -> Feeds {
    match m {
        Measure::Adoption => dimension_feeds(Dimension::Usage, usage_source),
        Measure::Trend | Measure::Breadth | Measure::Stickiness => USAGE,
        Measure::Sentiment => CRM,
    }
}

/// Whether a health measure depends on the usage source (so it is `stale` while that
/// source is stalled): `trend`, `breadth`, `stickiness`, and `adoption` unless a usage
/// assessment overrides telemetry.
pub fn depends_on_usage(m: Measure, usage_source: Source) -> bool {
    measure_feeds(m, usage_source).usage
}

/// The health measures that can be stale from age in the core (they read CRM input);
/// the only ones `quality.measures` may set a limit for.
pub fn crm_fed(m: Measure) -> bool {
    matches!(m, Measure::Adoption | Measure::Sentiment)
}

/// The state of a valued CRM input dated `input` at the end of `day`: `stale` when
/// more than `limit_days` before it (an input of `day - limit` is still `ok`).
pub(crate) fn judge(input: Option<Day>, day: Day, limit_days: u32) -> InputState {
    match input {
        Some(x) if i64::from(day) - i64::from(x) > i64::from(limit_days) => InputState::Stale,
        _ => InputState::Ok,
    }
}

/// Coverage from `(configured weight, state)` of the applicable inputs listed and the
/// configured weight of all applicable ones: four decimals, 0 when nothing applies.
pub fn coverage_of(items: impl IntoIterator<Item = (f64, InputState)>, applicable_weight: f64) -> f64 {
    if applicable_weight <= 0.0 {
        return 0.0;
    }
    let ok: f64 = items.into_iter().filter(|(_, s)| *s == InputState::Ok).map(|(w, _)| w).sum();
    round((ok / applicable_weight).clamp(0.0, 1.0), 4)
}

/// SPEC v3 §10's order, without a stalled source (that is the services' call):
/// `insufficient` below [`INSUFFICIENT_BELOW`], else `partial` when an applicable
/// input is missing or stale, else `ok`.
pub fn status_of(coverage: f64, all_ok: bool) -> DataStatus {
    if coverage < INSUFFICIENT_BELOW {
        DataStatus::Insufficient
    } else if !all_ok {
        DataStatus::Partial
    } else {
        DataStatus::Ok
    }
}

/// A health result's coverage from its own measures: the configured weight of those
/// `ok` over `applicable_weight` (measures without a value are not listed: they are
/// `missing` and count in the denominator only).
pub fn health_coverage(h: &HealthResult) -> f64 {
    coverage_of(h.measures.iter().map(|m| (m.configured_weight, m.state)), h.applicable_weight)
}

/// A readiness result's coverage: the weight of its dimensions `ok` over all of
/// weight above 0.
pub fn readiness_coverage(r: &ReadinessResult) -> f64 {
    let dims = Dimension::ALL.map(|d| r.dimensions.get(d));
    let applicable: f64 = dims.iter().filter(|x| x.weight > 0.0).map(|x| x.weight).sum();
    coverage_of(dims.iter().filter(|x| x.weight > 0.0).map(|x| (x.weight, x.state)), applicable)
}

/// What the services publish while the usage source is stalled (SPEC v3 §10): the
/// results computed as usual, with `data_status` `stale`, the health color of the last
/// day before the stall (when known) and every usage-fed measure and dimension
/// `stale`, coverage recomputed. The score, reasons and verdict are unchanged.
/// Idempotent. The services decide *that* the source is stalled (the wall clock);
/// this only says what it does to a result.
pub fn mark_source_stalled(
    health: &mut HealthResult,
    readiness: &mut ReadinessResult,
    last_color_before_stall: Option<Color>,
) {
    mark_stalled(Feed::Usage, health, readiness, last_color_before_stall);
}

/// [`mark_source_stalled`] for either source: the inputs resting on `feed`
/// ([`measure_feeds`], [`dimension_feeds`]) become `stale`.
pub fn mark_stalled(
    feed: Feed,
    health: &mut HealthResult,
    readiness: &mut ReadinessResult,
    last_color_before_stall: Option<Color>,
) {
    let usage_source = readiness.dimensions.usage.source;
    for m in &mut health.measures {
        if measure_feeds(m.name, usage_source).includes(feed) {
            m.state = InputState::Stale;
        }
    }
    for d in Dimension::ALL {
        let r = readiness.dimensions.get_mut(d);
        if r.state != InputState::Missing && dimension_feeds(d, r.source).includes(feed) {
            r.state = InputState::Stale;
        }
    }
    health.coverage = health_coverage(health);
    readiness.coverage = readiness_coverage(readiness);
    health.data_status = DataStatus::Stale;
    readiness.data_status = DataStatus::Stale;
    if let Some(c) = last_color_before_stall {
        health.color = c;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judge_at_the_limit() {
        let day = 1000;
        let cases = [
            (None, 90, InputState::Ok),
            (Some(day), 90, InputState::Ok),
            (Some(day - 90), 90, InputState::Ok),
            (Some(day - 91), 90, InputState::Stale),
            (Some(day - 30), 30, InputState::Ok),
            (Some(day - 31), 30, InputState::Stale),
            (Some(day + 5), 1, InputState::Ok),
        ];
        for (input, limit, want) in cases {
            assert_eq!(judge(input, day, limit), want, "input {input:?}, limit {limit}");
        }
    }

    #[test]
    fn coverage_and_status() {
        use InputState::{Missing, Ok, Stale};
        // (items, applicable weight, coverage, status)
        type Case<'a> = (&'a [(f64, InputState)], f64, f64, DataStatus);
        let cases: [Case; 8] = [
            (&[(40.0, Ok), (25.0, Ok), (10.0, Ok)], 75.0, 1.0, DataStatus::Ok),
            (&[(40.0, Ok), (25.0, Ok)], 75.0, 0.8667, DataStatus::Partial),
            (&[(40.0, Stale), (25.0, Ok), (10.0, Ok)], 75.0, 0.4667, DataStatus::Insufficient),
            (&[(60.0, Ok), (40.0, Missing)], 100.0, 0.6, DataStatus::Partial),
            (&[(59.0, Ok), (41.0, Missing)], 100.0, 0.59, DataStatus::Insufficient),
            (&[(59.999, Ok)], 100.0, 0.6, DataStatus::Partial),
            (&[], 100.0, 0.0, DataStatus::Insufficient),
            (&[(10.0, Ok)], 0.0, 0.0, DataStatus::Insufficient),
        ];
        for (items, applicable, coverage, status) in cases {
            let c = coverage_of(items.iter().copied(), applicable);
            assert_eq!(c, coverage, "{items:?} of {applicable}");
            let listed: f64 = items.iter().map(|x| x.0).sum();
            let all_ok = items.iter().all(|x| x.1 == Ok) && (listed - applicable).abs() < 1e-9;
            assert_eq!(status_of(c, all_ok), status, "{items:?} of {applicable}");
        }
    }

    #[test]
    fn feeds() {
        use Measure::*;
        for (m, usage_source, usage, crm) in [
            (Adoption, Source::Computed, true, true),
            (Adoption, Source::Override, false, true),
            (Adoption, Source::Unassessed, false, false),
            (Trend, Source::Override, true, false),
            (Breadth, Source::Computed, true, false),
            (Stickiness, Source::Computed, true, false),
            (Sentiment, Source::Computed, false, true),
        ] {
            assert_eq!(measure_feeds(m, usage_source), Feeds { usage, crm }, "{m:?} ({usage_source:?})");
            assert_eq!(depends_on_usage(m, usage_source), usage, "{m:?} ({usage_source:?})");
        }
        assert_eq!(dimension_feeds(Dimension::Technical, Source::Evidence), CRM);
        assert_eq!(dimension_feeds(Dimension::Usage, Source::Computed), USAGE_AND_CRM);
        assert_eq!(dimension_feeds(Dimension::Value, Source::Unassessed), Feeds::default());
    }
}
