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
//! Cohorts are dealt in a fixed cycle of [`COHORT_CYCLE`]: with 15 accounts or
//! more every cohort is present (the default 60 is three full cycles).

use std::collections::BTreeMap;
use std::io::{self, Write};

use chrono::{DateTime, Days, NaiveDate, Utc};
use pulse_core::event::{Event, UsageProfile};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::GenError;

mod crm;
mod usage;

/// Events use their own RNG stream, so [`plan`] alone reproduces the accounts.
const EVENT_STREAM: u64 = 0x5eed_0de0_0000_0001;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSpec {
    pub accounts: u32,
    /// Days of usage history, ending at `end` (at least 28 for the cohorts to show).
    pub days: u32,
    /// Last day of the data (UTC); replay `--as-of` this day.
    pub end: NaiveDate,
    pub seed: u64,
    /// Include a few malformed lines (each a different rejection reason).
    pub malformed: bool,
}

impl Default for DemoSpec {
    fn default() -> Self {
        DemoSpec { accounts: 60, days: 56, end: super::DEFAULT_END, seed: 42, malformed: true }
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
    /// Seats raised from 40 to 90 three weeks ago; new users still arriving.
    SeatExpansion,
    /// No licensed seats on record: percentages null, seats_unknown; the CSM set an
    /// explicit usage assessment.
    SeatsUnknown,
    /// Low and falling usage, poor assessments: red, not ready.
    Churning,
}

impl Cohort {
    pub const ALL: [Cohort; 15] = [
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

    fn profile(&self) -> UsageProfile {
        match self {
            Cohort::PowerDaily | Cohort::SlowDecline | Cohort::SuddenDrop | Cohort::CriticalTicket => {
                UsageProfile::Daily
            }
            Cohort::Periodic => UsageProfile::Periodic,
            _ => UsageProfile::Weekly,
        }
    }
}

/// Accounts are dealt cohorts in this order, cycling: every cohort once in the
/// first 15, healthy ones more often after that.
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
    Cohort::PowerDaily,
    Cohort::SteadyWeekly,
    Cohort::SteadyWeekly,
    Cohort::PowerDaily,
    Cohort::Periodic,
];

/// One planned account (what the CRM knows about it, and its cohort).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoAccount {
    pub account_id: String,
    pub name: String,
    pub cohort: Cohort,
    pub segment: &'static str,
    pub arr: f64,
    pub csm: &'static str,
    /// Seats at the end date (`None` for [`Cohort::SeatsUnknown`]).
    pub seats: Option<u64>,
    pub renewal_on: NaiveDate,
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

/// The accounts of `spec`, in id order of creation (deterministic from the seed).
pub fn plan(spec: &DemoSpec) -> Vec<DemoAccount> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut used = std::collections::BTreeSet::new();
    (0..spec.accounts as usize)
        .map(|i| {
            let cohort = COHORT_CYCLE[i % COHORT_CYCLE.len()];
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
                Cohort::SeatExpansion => (Some(90), 80),
                _ => (Some(seats), seats as u32),
            };
            DemoAccount {
                account_id,
                name,
                cohort,
                segment,
                arr,
                csm: CSMS[i % CSMS.len()],
                seats,
                renewal_on: spec.end + Days::new(rng.random_range(20..=360)),
                users,
                segment_track: i % 4 == 3,
            }
        })
        .collect()
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
