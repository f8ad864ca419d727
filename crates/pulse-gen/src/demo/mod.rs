//! The demo data set: realistic B2B usage and CRM events for a few dozen accounts,
//! in cohorts chosen so that every color, verdict, red flag and kind of CRM
//! evidence shows up as of the end date.
//!
//! Who is active on which day follows a schedule per cohort (an "engaged share" of
//! seats over time and a daily / weekly / periodic rhythm) so that the outcomes
//! of a cohort do not depend on the seed; the seed varies names, sizes, times of
//! day, what users do, and which lines arrive late or twice. CRM lines use the
//! core's event types (`pulse_core::event`), so they are valid by construction.
//!
//! Cohorts are dealt in a fixed cycle of [`COHORT_CYCLE`]: with 17 accounts or
//! more every cohort is present (the default 60 is three full cycles).
//!
//! # Data quality (SPEC v3 §10)
//!
//! The CRM syncs every account weekly (an `account` event restating its name and CSM,
//! as a connector's full sync does), so the attributes behind adoption stay current;
//! former customers are synced until they churn. Two cohorts show what incomplete CRM
//! data does: [`Cohort::SeatsNeverSynced`] (no seat count ever arrives: adoption has no
//! value, coverage 0.53, health `insufficient`, yellow at best, the reason saying
//! "seats unknown since" its first day) and [`Cohort::StaleAssessments`] (the CSM's
//! last assessments are about 200 days old: sentiment is stale, health `partial`;
//! readiness `insufficient`, which only informs).
//!
//! # A year of renewals (SPEC §8)
//!
//! The default history is [`DEFAULT_DAYS`] days: the trailing year of renewal
//! outcomes, plus the 90 days before the earliest of them that the backtest's
//! longest horizon looks at, plus a month for the 28-day metrics to fill. Every
//! account's story has an earlier part that leads to the state described above:
//!
//! - Customers past their first contract (every cohort but the onboarding ones)
//!   renewed once in the trailing year, on the anniversary of their next
//!   `renewal_on` (which lies 1..=365 days after the end date, spread so that some
//!   fall in the next 90 days and more in the next 180; declining and churning
//!   accounts come up soon). A `renewal` event records the decision on the contract
//!   date, and an `account` event sets the new ARR, seats and next `renewal_on`. How
//!   it went follows the usage before it ([`Story`]): most used the product at
//!   their cohort's earlier level and renewed, some grew and expanded, a few slumped
//!   for months and contracted, then recovered. Exceptions on purpose: a healthy
//!   account contracted in a budget cut, and slumped accounts renewed anyway after
//!   a save plan. Slumps end more than 100 days before the end date, so the cohort
//!   stories above are untouched.
//! - Onboarding accounts started inside the data (no usage before
//!   `onboarding_started_on`) and renew a year after it.
//! - Customers whose first contract began inside the data (their trailing-year
//!   renewal is their first) onboarded then and graduated [`GRADUATION_DAYS`]
//!   later, with the CSM's onboarding assessments: strong for the accounts that went
//!   on to renew or expand (and those lost to a budget cut anyway), weak for the
//!   former customers that never rolled out. That is what the graduation backtest
//!   scores: retention by readiness verdict on the last onboarding day.
//! - Former customers ([`Cohort::FormerDeclined`], [`Cohort::FormerBudgetCut`]),
//!   about one for every eight current ones, with histories of 120 days or more:
//!   usage fell for weeks to months, or not at all (the budget cut), before a
//!   `churned` outcome at their renewal date, and stopped there. What a CS leader
//!   sees for them: the account stays (its history and its outcome are what the
//!   renewals and accuracy pages are made of), with `arr` set to 0 by an `account`
//!   event on the churn date and `renewal_on` left at that date, so it drops out of
//!   upcoming renewals and ARR totals; as of the end date it is red, with no users.
//!
//! Older months are sparser than recent ones (fewer actions per session beyond 90
//! days back; who was active on which day is unchanged), which keeps a year and a
//! half of 60 accounts near 1M lines.

use std::collections::BTreeMap;
use std::io::{self, Write};

use chrono::{DateTime, Days, Months, NaiveDate, Utc};
use pulse_core::event::{Event, RenewalOutcome, UsageProfile};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::GenError;

mod crm;
mod usage;

/// Events use their own RNG stream, so [`plan`] alone reproduces the accounts.
const EVENT_STREAM: u64 = 0x5eed_0de0_0000_0001;
/// Renewal stories (dates, ARR changes) and their events use a third stream, so the
/// accounts and events of short histories are what they were before renewals.
const STORY_STREAM: u64 = 0x5eed_0de0_0000_0002;

/// Default days of history: a year of renewal outcomes, the 90-day backtest horizon
/// before the earliest of them, and a month for the metrics to fill.
pub const DEFAULT_DAYS: u32 = 365 + 90 + 35;
/// Histories at least this long include former customers.
pub const FORMER_MIN_DAYS: u32 = 120;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSpec {
    pub accounts: u32,
    /// Days of usage history, ending at `end` (at least 28 for the cohorts to show;
    /// [`DEFAULT_DAYS`] for a year of renewal outcomes the backtest can score).
    pub days: u32,
    /// Last day of the data (UTC); replay `--as-of` this day.
    pub end: NaiveDate,
    pub seed: u64,
    /// Include a few malformed lines (each a different rejection reason).
    pub malformed: bool,
}

impl Default for DemoSpec {
    fn default() -> Self {
        DemoSpec { accounts: 60, days: DEFAULT_DAYS, end: super::DEFAULT_END, seed: 42, malformed: true }
    }
}

/// The story an account tells; see the module doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cohort {
    /// Daily-use product, nearly every seat active every weekday: green, ready.
    PowerDaily,
    /// Weekly-use product, every user on fixed weekdays: green, ready.
    SteadyWeekly,
    /// Periodic use, each user about every two weeks: green, ready.
    Periodic,
    /// Daily use sliding from 92% to 40% of seats over four weeks: usage_declining.
    SlowDecline,
    /// Healthy until nine days ago, then 10% of seats: red, not ready.
    SuddenDrop,
    /// Onboarding, strong on every dimension before its target date: ready.
    OnboardingReady,
    /// Onboarding, training scores under the bar: close.
    OnboardingClose,
    /// Onboarding three weeks in, still ramping up: not ready.
    OnboardingNotReady,
    /// Onboarding, 12 days past its target and not ready: overdue.
    OnboardingOverdue,
    /// Onboarding, 45 days past its target: recovery plan needed.
    OnboardingRecovery,
    /// Good usage, but the champion left 12 days ago (stakeholder evidence).
    ChampionLeft,
    /// Good usage with an unresolved critical ticket.
    CriticalTicket,
    /// Healthy weekly usage, but the CRM never sent a seat count (and the CSM set no
    /// usage assessment): adoption has no value, the data is insufficient (SPEC v3 §10):
    /// yellow at best, whatever the usage.
    SeatsNeverSynced,
    /// Healthy weekly usage; the CSM's last assessments are about 200 days old: stale,
    /// still scored (health `partial`).
    StaleAssessments,
    /// Seats raised from 40 to 90 three weeks ago; new users still arriving.
    SeatExpansion,
    /// No licensed seats on record: percentages null, seats_unknown; the CSM set an
    /// explicit usage assessment.
    SeatsUnknown,
    /// Low and falling usage, poor assessments: red, not ready.
    Churning,
    /// Former customer: usage fell for weeks to months, churned at its renewal date
    /// and has been silent since (no users, ARR 0): red.
    FormerDeclined,
    /// Former customer lost to a budget cut while its usage was healthy; silent since.
    FormerBudgetCut,
}

impl Cohort {
    pub const ALL: [Cohort; 19] = [
        Cohort::PowerDaily,
        Cohort::SteadyWeekly,
        Cohort::Periodic,
        Cohort::SlowDecline,
        Cohort::SuddenDrop,
        Cohort::OnboardingReady,
        Cohort::OnboardingClose,
        Cohort::OnboardingNotReady,
        Cohort::OnboardingOverdue,
        Cohort::OnboardingRecovery,
        Cohort::ChampionLeft,
        Cohort::CriticalTicket,
        Cohort::SeatExpansion,
        Cohort::SeatsUnknown,
        Cohort::Churning,
        Cohort::SeatsNeverSynced,
        Cohort::StaleAssessments,
        Cohort::FormerDeclined,
        Cohort::FormerBudgetCut,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Cohort::PowerDaily => "power_daily",
            Cohort::SteadyWeekly => "steady_weekly",
            Cohort::Periodic => "periodic",
            Cohort::SlowDecline => "slow_decline",
            Cohort::SuddenDrop => "sudden_drop",
            Cohort::OnboardingReady => "onboarding_ready",
            Cohort::OnboardingClose => "onboarding_close",
            Cohort::OnboardingNotReady => "onboarding_not_ready",
            Cohort::OnboardingOverdue => "onboarding_overdue",
            Cohort::OnboardingRecovery => "onboarding_recovery",
            Cohort::ChampionLeft => "champion_left",
            Cohort::CriticalTicket => "critical_ticket",
            Cohort::SeatExpansion => "seat_expansion",
            Cohort::SeatsUnknown => "seats_unknown",
            Cohort::Churning => "churning",
            Cohort::SeatsNeverSynced => "seats_never_synced",
            Cohort::StaleAssessments => "stale_assessments",
            Cohort::FormerDeclined => "former_declined",
            Cohort::FormerBudgetCut => "former_budget_cut",
        }
    }

    fn is_onboarding(&self) -> bool {
        matches!(
            self,
            Cohort::OnboardingReady
                | Cohort::OnboardingClose
                | Cohort::OnboardingNotReady
                | Cohort::OnboardingOverdue
                | Cohort::OnboardingRecovery
        )
    }

    /// A customer that churned before the end date.
    pub fn is_former(&self) -> bool {
        matches!(self, Cohort::FormerDeclined | Cohort::FormerBudgetCut)
    }

    fn profile(&self) -> UsageProfile {
        match self {
            Cohort::PowerDaily
            | Cohort::SlowDecline
            | Cohort::SuddenDrop
            | Cohort::CriticalTicket
            | Cohort::FormerBudgetCut => UsageProfile::Daily,
            Cohort::Periodic => UsageProfile::Periodic,
            _ => UsageProfile::Weekly,
        }
    }
}

/// Not [`Cohort::ALL`] (which it resembles): the order accounts are dealt in, with healthy
/// cohorts repeated, while `ALL` lists each cohort once for exhaustive checks.
/// Accounts are dealt cohorts in this order, cycling: every cohort once in the
/// first 17, healthy ones more often after that.
pub const COHORT_CYCLE: [Cohort; 20] = [
    Cohort::PowerDaily,
    Cohort::SteadyWeekly,
    Cohort::Periodic,
    Cohort::SlowDecline,
    Cohort::SuddenDrop,
    Cohort::OnboardingReady,
    Cohort::OnboardingClose,
    Cohort::OnboardingNotReady,
    Cohort::OnboardingOverdue,
    Cohort::OnboardingRecovery,
    Cohort::ChampionLeft,
    Cohort::CriticalTicket,
    Cohort::SeatExpansion,
    Cohort::SeatsUnknown,
    Cohort::Churning,
    Cohort::StaleAssessments,
    Cohort::SeatsNeverSynced,
    Cohort::SteadyWeekly,
    Cohort::PowerDaily,
    Cohort::Periodic,
];

/// Former customers are dealt in this cycle, with how many days before its churn
/// date each one's usage started to fall (0: it did not).
const FORMER_CYCLE: [(Cohort, i64); 8] = [
    (Cohort::FormerDeclined, 200),
    (Cohort::FormerBudgetCut, 0),
    (Cohort::FormerDeclined, 110),
    (Cohort::FormerDeclined, 180),
    (Cohort::FormerDeclined, 75),
    (Cohort::FormerDeclined, 230),
    (Cohort::FormerDeclined, 90),
    (Cohort::FormerDeclined, 160),
];

/// How an account's renewal in the trailing year went, and the usage that led to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Story {
    /// Usage at the cohort's earlier level all year: renewed (a small price uplift).
    Renewed,
    /// Healthy and growing: renewed with a quarter more seats.
    Expanded,
    /// Usage slumped in the four months before the renewal: contracted to fewer seats,
    /// then recovered.
    SlumpContracted,
    /// Usage slumped just the same, but a save plan with the sponsor worked: renewed
    /// flat, then recovered (a red account that renewed).
    SlumpSaved,
    /// Healthy usage, but the customer's budget was cut: contracted (a green account lost).
    BudgetContracted,
    /// Former customer: usage fell for months, churned.
    ChurnedAfterDecline,
    /// Former customer: healthy usage, churned in a budget cut (a green account lost).
    ChurnedBudgetCut,
}

impl Story {
    pub fn outcome(&self) -> RenewalOutcome {
        match self {
            Story::Renewed | Story::SlumpSaved => RenewalOutcome::Renewed,
            Story::Expanded => RenewalOutcome::Expanded,
            Story::SlumpContracted | Story::BudgetContracted => RenewalOutcome::Contracted,
            Story::ChurnedAfterDecline | Story::ChurnedBudgetCut => RenewalOutcome::Churned,
        }
    }

    /// Seats (and users) before the renewal, per seat after it.
    fn seats_before_ratio(&self) -> f64 {
        match self {
            Story::Expanded => 0.8,
            Story::SlumpContracted | Story::BudgetContracted => 1.35,
            _ => 1.0,
        }
    }

    /// ARR before the renewal, per unit of ARR after it (churn: the ARR it had).
    fn arr_before_ratio(&self) -> f64 {
        match self {
            Story::Renewed => 1.0 / 1.03,
            Story::Expanded => 0.8,
            Story::SlumpContracted | Story::BudgetContracted => 1.35,
            _ => 1.0,
        }
    }

    /// Days the usage slump before the renewal lasts (formers: from [`FORMER_CYCLE`]).
    fn slump_days(&self) -> i64 {
        match self {
            Story::SlumpContracted | Story::SlumpSaved => 120,
            _ => 0,
        }
    }

    fn reason(&self, k: usize) -> Option<&'static str> {
        const DECLINED: [&str; 3] = [
            "low adoption; moved to a competitor",
            "never rolled out beyond the pilot team",
            "champion left and nobody took over",
        ];
        match self {
            Story::Renewed => None,
            Story::Expanded => Some("added seats for a second team"),
            Story::SlumpContracted => Some("usage slumped after a reorg; seats cut to the active users"),
            Story::SlumpSaved => Some("save plan with the executive sponsor; renewed flat"),
            Story::BudgetContracted => Some("budget cut: company-wide seat reduction, usage was healthy"),
            Story::ChurnedAfterDecline => Some(DECLINED[k % DECLINED.len()]),
            Story::ChurnedBudgetCut => Some("budget cut: vendor consolidation, usage was healthy"),
        }
    }
}

/// The story of current account `i` (by its place in the cycle and which cycle),
/// independent of the seed; `None` for onboarding accounts (first contract).
fn story_of(i: usize, cohort: Cohort) -> Option<Story> {
    if cohort.is_onboarding() || cohort.is_former() {
        return None;
    }
    let cycle = (i / COHORT_CYCLE.len()) % 3;
    Some(match (i % COHORT_CYCLE.len(), cycle) {
        (0, 0) | (18, _) | (4, 1) | (10, 1) | (1, 2) | (3, 2) => Story::Expanded,
        (16, 0) | (19, 2) | (11, 2) | (14, 1) => Story::SlumpContracted,
        (17, 1) | (0, 2) | (10, 2) | (14, 0) => Story::SlumpSaved,
        (15, 1) => Story::BudgetContracted,
        _ => Story::Renewed,
    })
}

/// The renewal decided in the trailing year.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PastRenewal {
    pub story: Story,
    /// The contract date decided (`renewal_on` of the `renewal` event).
    pub renewal_on: NaiveDate,
    pub outcome: RenewalOutcome,
    pub arr_before: f64,
    pub arr_after: f64,
    /// Seats before the renewal (`None` when unknown).
    pub seats_before: Option<u64>,
    /// Users the account had before the renewal.
    pub users_before: u32,
    pub reason: Option<&'static str>,
    /// Usage started to fall this many days before `renewal_on` (0: it did not).
    pub slump_days: i64,
}

impl PastRenewal {
    /// Usage on `day` relative to the cohort's level: a slump falls by a fifth a
    /// week (to nearly nobody by the renewal) and, for a customer that stayed, comes
    /// back over four weeks after it; a churned customer has no usage after it.
    fn usage_factor(&self, day: NaiveDate) -> f64 {
        let to_renewal = (self.renewal_on - day).num_days();
        if self.outcome == RenewalOutcome::Churned && to_renewal < 0 {
            return 0.0;
        }
        if self.slump_days == 0 || to_renewal > self.slump_days {
            return 1.0;
        }
        let bottom = 0.8_f64.powf(self.slump_days as f64 / 7.0);
        if to_renewal >= 0 {
            0.8_f64.powf((self.slump_days - to_renewal) as f64 / 7.0)
        } else {
            let after = (-to_renewal) as f64;
            (bottom + (1.0 - bottom) * after / 28.0).min(1.0)
        }
    }
}

/// One planned account (what the CRM knows about it, and its cohort).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoAccount {
    pub account_id: String,
    pub name: String,
    pub cohort: Cohort,
    pub segment: &'static str,
    pub arr: f64,
    pub csm: &'static str,
    /// Seats at the end date (`None` for [`Cohort::SeatsUnknown`] and
    /// [`Cohort::SeatsNeverSynced`]).
    pub seats: Option<u64>,
    /// The next contract date (after the end date), or for a former customer the
    /// date it churned at.
    pub renewal_on: NaiveDate,
    /// When the relationship started, for accounts that started inside the data
    /// (onboarding cohorts, and customers whose first contract began inside it and
    /// who graduated [`GRADUATION_DAYS`] later): no events before it.
    pub since: Option<NaiveDate>,
    /// The renewal decided in the trailing year; `None` for accounts in their first
    /// contract. Written as an event only when it falls inside the data.
    pub last_renewal: Option<PastRenewal>,
    /// Users the account has (not all active).
    pub users: u32,
    /// Events go in the Segment `track` format for this account.
    pub segment_track: bool,
}

/// What was written.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DemoStats {
    pub lines: u64,
    pub usage: u64,
    pub crm: u64,
    pub late: u64,
    pub duplicates: u64,
    pub malformed: u64,
}

const PREFIXES: [&str; 24] = [
    "Acme",
    "Northwind",
    "Bluefin",
    "Copperleaf",
    "Driftwood",
    "Evergreen",
    "Foxglove",
    "Granite",
    "Harbor",
    "Ironbark",
    "Juniper",
    "Keystone",
    "Lakeshore",
    "Meridian",
    "Nimbus",
    "Oakridge",
    "Pinnacle",
    "Quarry",
    "Redwood",
    "Silverline",
    "Tidewater",
    "Upland",
    "Vantage",
    "Westbrook",
];
const SUFFIXES: [&str; 12] = [
    "Logistics",
    "Health",
    "Analytics",
    "Foods",
    "Capital",
    "Robotics",
    "Media",
    "Energy",
    "Retail",
    "Labs",
    "Freight",
    "Insurance",
];
const CSMS: [&str; 5] = ["Dana Whitfield", "Marco Ruiz", "Priya Raman", "Tom Becker", "Aiko Tanaka"];
const PEOPLE: [&str; 10] = [
    "Alex Morgan",
    "Sam Lee",
    "Jordan Blake",
    "Casey Chen",
    "Riley Novak",
    "Taylor Brooks",
    "Jamie Ortiz",
    "Morgan Patel",
    "Chris Walsh",
    "Robin Hale",
];
/// (event, feature) pairs users do.
const ACTIONS: [(&str, &str); 14] = [
    ("login", "core"),
    ("report.viewed", "reports"),
    ("report.viewed", "reports"),
    ("report.exported", "reports"),
    ("dashboard.viewed", "dashboards"),
    ("dashboard.viewed", "dashboards"),
    ("dashboard.created", "dashboards"),
    ("alert.created", "alerts"),
    ("integration.synced", "integrations"),
    ("workflow.run", "workflows"),
    ("workflow.edited", "workflows"),
    ("comment.added", "collaboration"),
    ("search.performed", "search"),
    ("user.invited", "admin"),
];

/// The accounts of `spec`, in id order of creation (deterministic from the seed):
/// `spec.accounts` current customers, then the former ones.
pub fn plan(spec: &DemoSpec) -> Vec<DemoAccount> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut story_rng = ChaCha8Rng::seed_from_u64(spec.seed ^ STORY_STREAM);
    let formers = if spec.days >= FORMER_MIN_DAYS { spec.accounts.div_ceil(8) as usize } else { 0 };
    let mut used = std::collections::BTreeSet::new();
    let first_day = spec.end - chrono::Duration::days(i64::from(spec.days.max(1)) - 1);
    (0..spec.accounts as usize + formers)
        .map(|i| {
            let former = i.checked_sub(spec.accounts as usize).map(|j| (j, FORMER_CYCLE[j % FORMER_CYCLE.len()]));
            let cohort = match former {
                Some((_, (cohort, _))) => cohort,
                None => COHORT_CYCLE[i % COHORT_CYCLE.len()],
            };
            let mut name;
            loop {
                name = format!(
                    "{} {}",
                    PREFIXES.choose(&mut rng).copied().unwrap_or("Acme"),
                    SUFFIXES.choose(&mut rng).copied().unwrap_or("Labs")
                );
                if used.insert(name.clone()) || used.len() >= PREFIXES.len() * SUFFIXES.len() {
                    break;
                }
            }
            let slug = name.to_lowercase().replace(' ', "-");
            let account_id = if used.len() > i { slug } else { format!("{slug}-{i}") };
            let segment = match (cohort, i % 3) {
                (Cohort::Periodic, _) => "smb",
                (Cohort::Churning, _) => "mid_market",
                (Cohort::PowerDaily | Cohort::SuddenDrop, _) => "enterprise",
                (_, 0) => "smb",
                (_, 1) => "mid_market",
                _ => "enterprise",
            };
            let seats: u64 = match segment {
                "smb" => rng.random_range(10..=25),
                "mid_market" => rng.random_range(25..=60),
                _ => rng.random_range(60..=120),
            };
            let arr = match segment {
                "smb" => rng.random_range(8..=40) * 1_000,
                "mid_market" => rng.random_range(40..=200) * 1_000,
                _ => rng.random_range(200..=1_200) * 1_000,
            } as f64;
            let (seats, users) = match cohort {
                Cohort::SeatsUnknown => (None, 30),
                Cohort::SeatsNeverSynced => (None, seats as u32),
                Cohort::SeatExpansion => (Some(90), 80),
                _ => (Some(seats), seats as u32),
            };
            // Where in its range the next renewal falls: a low-discrepancy spread
            // over the accounts, shifted by the seed.
            let shift: u32 = rng.random_range(20..=360);
            let spread = (i as f64 * 0.618_034 + f64::from(shift) / 341.0).fract();
            let mut since = None;
            let (renewal_on, last_renewal) = match former {
                Some((j, (_, slump_days))) => {
                    // Churn dates spread over the trailing year (at least 20 days ago).
                    let span = (i64::from(spec.days.min(365)) - 40).max(20);
                    let step = span / formers as i64;
                    let back = 20 + j as i64 * step + story_rng.random_range(0..=step / 2);
                    let churned_on = spec.end - chrono::Duration::days(back);
                    let story = if slump_days == 0 { Story::ChurnedBudgetCut } else { Story::ChurnedAfterDecline };
                    let past = PastRenewal {
                        story,
                        renewal_on: churned_on,
                        outcome: story.outcome(),
                        arr_before: arr,
                        arr_after: 0.0,
                        seats_before: seats,
                        users_before: users,
                        reason: story.reason(j),
                        slump_days: slump_days.min(i64::from(spec.days) - back - 30).max(0),
                    };
                    if churned_on - Months::new(12) >= first_day {
                        since = Some(churned_on - Months::new(12));
                    }
                    (churned_on, Some(past))
                }
                None => match onboarding_days(cohort) {
                    Some((started, _)) => {
                        let started = spec.end - chrono::Duration::days(started);
                        since = Some(started);
                        (started + Months::new(12), None)
                    }
                    None => {
                        let story = story_of(i, cohort).unwrap_or(Story::Renewed);
                        // Days after the end the next renewal falls in: declining
                        // accounts come up soon; changes of seats stay clear of the
                        // last 60 days, slumps of the last 100 (the cohort stories).
                        let (lo, hi) = match (cohort, story) {
                            (Cohort::Churning, _) => (20, 80),
                            (Cohort::SlowDecline, _) => (30, 120),
                            (Cohort::SuddenDrop, _) => (45, 150),
                            (_, Story::SlumpContracted | Story::SlumpSaved) => (5, 365 - 100 - 120 / 4),
                            (Cohort::SeatExpansion, _) | (_, Story::Expanded | Story::BudgetContracted) => (5, 300),
                            _ => (3, 362),
                        };
                        let next = spec.end + Days::new(lo + (spread * (hi - lo) as f64) as u64);
                        let renewed_on = next - Months::new(12);
                        let ratio = story.seats_before_ratio();
                        let seats_before = seats.map(|s| (s as f64 * ratio).round() as u64);
                        let users_before = (f64::from(users) * ratio).round() as u32;
                        let uplift = 1.0 - story_rng.random_range(0.0..0.05);
                        let arr_before = round_to(
                            arr * story.arr_before_ratio() * if story == Story::Renewed { uplift } else { 1.0 },
                            100.0,
                        );
                        // A first contract that began inside the data: the account
                        // onboarded then (no events before it) and graduated
                        // GRADUATION_DAYS later, so the graduation backtest has
                        // renewals to score (SPEC §8).
                        if renewed_on - Months::new(12) >= first_day {
                            since = Some(renewed_on - Months::new(12));
                        }
                        let past = PastRenewal {
                            story,
                            renewal_on: renewed_on,
                            outcome: story.outcome(),
                            arr_before,
                            arr_after: arr,
                            seats_before,
                            users_before,
                            reason: story.reason(i),
                            slump_days: story.slump_days(),
                        };
                        (next, Some(past))
                    }
                },
            };
            DemoAccount {
                account_id,
                name,
                cohort,
                segment,
                arr,
                csm: CSMS[i % CSMS.len()],
                seats,
                renewal_on,
                since,
                last_renewal,
                users,
                segment_track: i % 4 == 3,
            }
        })
        .collect()
}

/// Days a customer whose first contract began inside the data spent onboarding.
pub const GRADUATION_DAYS: u64 = 75;

impl DemoAccount {
    /// The day a customer whose first contract began inside the data left
    /// onboarding (its `lifecycle_stage` changed that day); `None` for the others.
    pub fn graduated_on(&self) -> Option<NaiveDate> {
        if self.cohort.is_onboarding() {
            return None;
        }
        self.since.map(|s| s + Days::new(GRADUATION_DAYS))
    }
}

/// (days before the end the onboarding started, days past its target) of the
/// onboarding cohorts.
fn onboarding_days(cohort: Cohort) -> Option<(i64, i64)> {
    match cohort {
        Cohort::OnboardingReady => Some((75, -5)),
        Cohort::OnboardingClose => Some((40, -20)),
        Cohort::OnboardingNotReady => Some((21, -40)),
        Cohort::OnboardingOverdue => Some((100, 12)),
        Cohort::OnboardingRecovery => Some((150, 45)),
        _ => None,
    }
}

fn round_to(x: f64, step: f64) -> f64 {
    (x / step).round() * step
}

/// Writes the demo NDJSON to `out`.
pub fn write_demo<W: Write>(spec: &DemoSpec, out: W) -> Result<DemoStats, GenError> {
    if spec.days < 28 {
        return Err(GenError::Invalid("demo needs at least 28 days of history".into()));
    }
    let accounts = plan(spec);
    let first = spec
        .end
        .checked_sub_days(Days::new(u64::from(spec.days - 1)))
        .ok_or_else(|| GenError::Invalid("days reach before the first representable date".into()))?;
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(spec.seed ^ EVENT_STREAM),
        story_rng: ChaCha8Rng::seed_from_u64(spec.seed ^ EVENT_STREAM ^ STORY_STREAM),
        end: spec.end,
        first,
        days: BTreeMap::new(),
        next_id: 0,
        stats: DemoStats::default(),
    };
    for (i, account) in accounts.iter().enumerate() {
        g.crm(i, account)?;
        g.usage(account)?;
    }
    // After every account's own lines, and drawing nothing from the RNGs: the lines
    // above do not depend on the sync.
    for (i, account) in accounts.iter().enumerate() {
        g.sync(i, account)?;
    }
    if spec.malformed {
        g.malformed(&accounts);
    }
    let mut out = io::BufWriter::new(out);
    for (_, mut lines) in std::mem::take(&mut g.days) {
        lines.sort_by_key(|l| l.0);
        for (_, line) in lines {
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
            g.stats.lines += 1;
        }
    }
    out.flush()?;
    Ok(g.stats)
}

/// A line queued for the day it is written in, with its sort key (time, sequence).
type Queued = ((DateTime<Utc>, u64), String);

struct Gen {
    rng: ChaCha8Rng,
    /// For the renewal stories' events (see [`STORY_STREAM`]).
    story_rng: ChaCha8Rng,
    end: NaiveDate,
    first: NaiveDate,
    /// Lines by the day they are *written* in, each with a sort key (time, sequence).
    days: BTreeMap<NaiveDate, Vec<Queued>>,
    next_id: u64,
    stats: DemoStats,
}

impl Gen {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{:06}", self.next_id)
    }

    /// The day `days_before_end` before the end date, no earlier than the first day.
    fn day(&self, days_before_end: i64) -> NaiveDate {
        let back = days_before_end.clamp(0, (self.end - self.first).num_days());
        self.end - chrono::Duration::days(back)
    }

    /// Queues `line` (stamped `ts`) to be written on `written_on`.
    fn push(&mut self, written_on: NaiveDate, ts: DateTime<Utc>, line: String) {
        let seq = self.next_id;
        self.next_id += 1;
        self.days.entry(written_on).or_default().push(((ts, seq), line));
    }

    fn push_event(&mut self, event: &Event) -> Result<(), GenError> {
        let line = serde_json::to_string(event).map_err(|e| GenError::Invalid(e.to_string()))?;
        let ts = event.timestamp();
        self.push(ts.date_naive(), ts, line);
        self.stats.crm += 1;
        Ok(())
    }
}

/// `secs` seconds after the start of `day` (UTC).
fn at(day: NaiveDate, secs: u32) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or_default() + chrono::Duration::seconds(i64::from(secs))
}

fn user_id(a: &DemoAccount, k: u32) -> String {
    format!("{}-u{:03}", a.account_id, k)
}
