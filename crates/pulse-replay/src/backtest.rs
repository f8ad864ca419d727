//! `pulse backtest` (SPEC §8): did the score predict the renewals? For every renewal
//! outcome in the window it replays the account's health as of `renewal_on - h` for
//! each horizon (from the events up to the end of that day only, exactly as
//! `pulse replay --as-of` that day would), and prints one line per horizon, then the
//! graduation backtest. The numbers come from `pulse_core::backtest`, the same
//! functions the API's Accuracy page uses.
//!
//! How: one read of the input into a day-by-day replay ([`DayByDay`]: usage kept as
//! 32-byte keys, other events whole); the outcomes and lifecycle stages come from the
//! few CRM events; then the days the backtest needs are fed in order and only the
//! requested (account, day) pairs are evaluated, each as of the end of its day.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, Read, Write};

use chrono::NaiveDate;
use pulse_core::backtest::{self, Outcome, Sample};
use pulse_core::config::ScoringConfig;
use pulse_core::{Engine, Verdict};

use crate::replay::{DayByDay, ReplayError, ReplayOptions, Window};

/// What to backtest.
#[derive(Debug, Clone)]
pub struct BacktestOptions {
    /// Outcomes with `renewal_on` in `from..=to` are scored.
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Days before `renewal_on` at which the score is read (default 30, 60, 90).
    pub horizons: Vec<u32>,
    /// Worker threads; `None`: one per core.
    pub threads: Option<usize>,
    /// Stop at the first invalid line.
    pub strict: bool,
}

impl BacktestOptions {
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Self, ReplayError> {
        if from > to {
            return Err(ReplayError::Window(format!("--from {from} is after --to {to}")));
        }
        Ok(BacktestOptions { from, to, horizons: backtest::DEFAULT_HORIZONS.to_vec(), threads: None, strict: false })
    }
}

/// One scorecard to backtest: `label` is `Some("a")` / `Some("b")` with `--compare`.
pub struct Candidate<'a> {
    pub label: Option<&'static str>,
    pub config: &'a ScoringConfig,
}

/// What a backtest saw; printed by the CLI on stderr.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BacktestSummary {
    pub lines: u64,
    pub invalid: u64,
    /// Outcomes with `renewal_on` in the window.
    pub outcomes: u64,
    /// (account, day) pairs evaluated per scorecard.
    pub evaluated: u64,
    /// Reads of the input per scorecard.
    pub passes: u64,
}

impl std::fmt::Display for BacktestSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "backtest: events_read={} invalid={} outcomes={} evaluated_pairs={} passes={}",
            self.lines, self.invalid, self.outcomes, self.evaluated, self.passes
        )
    }
}

type Open<'a> = dyn FnMut() -> io::Result<Box<dyn Read + Send + 'a>> + 'a;

/// Backtests `candidates` on the events of the file at `path` (opened once per pass).
pub fn backtest_file(
    path: &std::path::Path,
    candidates: &[Candidate<'_>],
    options: &BacktestOptions,
    out: &mut dyn Write,
    diagnostics: &mut dyn Write,
) -> Result<BacktestSummary, ReplayError> {
    let mut open = || -> io::Result<Box<dyn Read + Send + '_>> { Ok(Box::new(std::fs::File::open(path)?)) };
    run(&mut open, candidates, options, out, diagnostics)
}

/// Backtests `candidates` on NDJSON events held in memory.
pub fn backtest_bytes(
    input: &[u8],
    candidates: &[Candidate<'_>],
    options: &BacktestOptions,
    out: &mut dyn Write,
    diagnostics: &mut dyn Write,
) -> Result<BacktestSummary, ReplayError> {
    let mut open = || -> io::Result<Box<dyn Read + Send + '_>> { Ok(Box::new(input)) };
    run(&mut open, candidates, options, out, diagnostics)
}

/// What the first scan finds: the outcomes in the window and, per account, its
/// last onboarding day.
struct Plan {
    outcomes: Vec<Outcome>,
    last_onboarding: BTreeMap<String, NaiveDate>,
    /// Day -> accounts to evaluate as of its end.
    requests: BTreeMap<NaiveDate, BTreeSet<String>>,
}

/// Evaluated (account, day) pairs.
type Points = HashMap<(String, NaiveDate), Point>;

/// The result of one (account, day): what the backtest reads of it.
#[derive(Debug, Clone, Copy)]
struct Point {
    sample: Sample,
    verdict: Verdict,
}

fn run(
    open: &mut Open<'_>,
    candidates: &[Candidate<'_>],
    options: &BacktestOptions,
    out: &mut dyn Write,
    diagnostics: &mut dyn Write,
) -> Result<BacktestSummary, ReplayError> {
    let mut summary = BacktestSummary::default();
    for (i, candidate) in candidates.iter().enumerate() {
        // Invalid lines are reported once, by the first scorecard's read.
        let mut sink = io::sink();
        let diag: &mut dyn Write = if i == 0 { &mut *diagnostics } else { &mut sink };
        let mut days = load_all(open, candidate.config, options, diag)?;
        summary.lines = days.summary.lines;
        summary.invalid = days.summary.invalid;
        summary.passes = 1;
        let plan = plan(&days, candidate.config, options);
        summary.outcomes = plan.outcomes.len() as u64;
        let points = evaluate(&mut days, &plan.requests)?;
        summary.evaluated = points.len() as u64;
        write_reports(out, candidate, options, &plan, &points)?;
    }
    out.flush().map_err(ReplayError::Write)?;
    Ok(summary)
}

/// The report lines of one scorecard: one per horizon, then the graduation backtest.
fn write_reports(
    out: &mut dyn Write,
    candidate: &Candidate<'_>,
    options: &BacktestOptions,
    plan: &Plan,
    points: &Points,
) -> Result<(), ReplayError> {
    let history = |account: &str, day: NaiveDate| points.get(&(account.to_owned(), day)).map(|p| p.sample);
    let scored: Vec<_> =
        plan.outcomes.iter().map(|o| backtest::score_outcome(&history, o.clone(), &options.horizons)).collect();
    let version = candidate.config.version();
    for mut line in backtest::report(&version, &options.horizons, &scored) {
        line.config = candidate.label;
        write_line(out, &line)?;
    }
    let graduated: Vec<(Verdict, bool)> = plan
        .outcomes
        .iter()
        .filter_map(|o| {
            let d = *plan.last_onboarding.get(&o.account_id)?;
            if o.renewal_on <= d {
                return None;
            }
            let p = points.get(&(o.account_id.clone(), d))?;
            Some((p.verdict, o.lost()))
        })
        .collect();
    let mut grad = backtest::graduation_report(&graduated);
    grad.config = candidate.label;
    write_line(out, &grad)
}

fn write_line<T: serde::Serialize>(out: &mut dyn Write, value: &T) -> Result<(), ReplayError> {
    let line = serde_json::to_vec(value)?;
    out.write_all(&line).map_err(ReplayError::Write)?;
    out.write_all(b"\n").map_err(ReplayError::Write)
}

/// Reads every event once into a day-by-day replay (usage kept compactly).
/// Outcomes are often recorded after their renewal date, so nothing is cut off.
fn load_all(
    open: &mut Open<'_>,
    config: &ScoringConfig,
    options: &BacktestOptions,
    diagnostics: &mut dyn Write,
) -> Result<DayByDay, ReplayError> {
    let input = open().map_err(ReplayError::Read)?;
    let mut all = ReplayOptions::new(Window::as_of(NaiveDate::MAX));
    all.threads = options.threads;
    all.strict = options.strict;
    DayByDay::load(input, config, &all, diagnostics)
}

/// Finds the outcomes in the window and each account's last onboarding day from the
/// CRM events alone (a throwaway engine of those few events: the same deduplication
/// and ordering rules as scoring), and lists the (account, day) pairs to evaluate.
fn plan(days: &DayByDay, config: &ScoringConfig, options: &BacktestOptions) -> Plan {
    let mut crm = Engine::new(config.clone());
    for ev in days.other_events() {
        crm.apply(ev);
    }
    let mut accounts: Vec<&str> = crm.account_ids().collect();
    accounts.sort_unstable();
    let mut plan = Plan { outcomes: Vec::new(), last_onboarding: BTreeMap::new(), requests: BTreeMap::new() };
    for account in accounts {
        let in_window: Vec<Outcome> = crm
            .outcomes(account)
            .into_iter()
            .map(Outcome::of)
            .filter(|o| o.renewal_on >= options.from && o.renewal_on <= options.to)
            .collect();
        if in_window.is_empty() {
            continue;
        }
        for o in &in_window {
            for day in backtest::days_needed(o, &options.horizons) {
                plan.requests.entry(day).or_default().insert(account.to_owned());
            }
        }
        if let Some(d) = backtest::last_onboarding_day(&crm.stage_changes(account)) {
            if in_window.iter().any(|o| o.renewal_on > d) {
                plan.requests.entry(d).or_default().insert(account.to_owned());
                plan.last_onboarding.insert(account.to_owned(), d);
            }
        }
        plan.outcomes.extend(in_window);
    }
    plan
}

/// Evaluates every requested (account, day) as of the end of its day: days in
/// order, each after feeding the events up to its end.
fn evaluate(days: &mut DayByDay, requests: &BTreeMap<NaiveDate, BTreeSet<String>>) -> Result<Points, ReplayError> {
    let mut points = HashMap::new();
    for (day, accounts) in requests {
        let ids: Vec<&str> = accounts.iter().map(String::as_str).collect();
        let got: Vec<(String, Point)> = days.evaluate_on(*day, &ids, |ev| {
            let point = Point {
                sample: Sample { score: ev.health.score, color: ev.health.color },
                verdict: ev.readiness.verdict,
            };
            (ev.health.account_id.clone(), point)
        })?;
        points.extend(got.into_iter().map(|(account, p)| ((account, *day), p)));
    }
    Ok(points)
}
