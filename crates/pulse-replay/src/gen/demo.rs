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

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc, Weekday};
use pulse_core::event::{
    AccountEvent, AssessmentEvent, Dimension, Event, KpiEvent, LifecycleStage, MilestoneEvent,
    MilestoneStatus, Sentiment, StakeholderEvent, StakeholderRole, StakeholderStatus, TicketEvent,
    TicketSeverity, TicketStatus, TrainingEvent, UsageEvent, UsageProfile,
};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::GenError;

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
        DemoSpec {
            accounts: 60,
            days: 56,
            end: super::DEFAULT_END,
            seed: 42,
            malformed: true,
        }
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
            Cohort::PowerDaily
            | Cohort::SlowDecline
            | Cohort::SuddenDrop
            | Cohort::CriticalTicket => UsageProfile::Daily,
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
const CSMS: [&str; 5] = [
    "Dana Whitfield",
    "Marco Ruiz",
    "Priya Raman",
    "Tom Becker",
    "Aiko Tanaka",
];
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
            let account_id = if used.len() > i {
                slug
            } else {
                format!("{slug}-{i}")
            };
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
        return Err(GenError::Invalid(
            "demo needs at least 28 days of history".into(),
        ));
    }
    let accounts = plan(spec);
    let first = spec
        .end
        .checked_sub_days(Days::new(u64::from(spec.days - 1)))
        .ok_or_else(|| {
            GenError::Invalid("days reach before the first representable date".into())
        })?;
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

/// The share of seats engaged on `day`, and the rhythm they use the product in.
struct Schedule {
    profile: UsageProfile,
    /// Share of users engaged, by days before the end date.
    share: fn(i64) -> f64,
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
        self.days
            .entry(written_on)
            .or_default()
            .push(((ts, seq), line));
    }

    fn push_event(&mut self, event: &Event) -> Result<(), GenError> {
        let line = serde_json::to_string(event).map_err(|e| GenError::Invalid(e.to_string()))?;
        let ts = event.timestamp();
        self.push(ts.date_naive(), ts, line);
        self.stats.crm += 1;
        Ok(())
    }

    fn crm(&mut self, i: usize, a: &DemoAccount) -> Result<(), GenError> {
        let onboarding = match a.cohort {
            Cohort::OnboardingReady => Some((75, -5)),
            Cohort::OnboardingClose => Some((40, -20)),
            Cohort::OnboardingNotReady => Some((21, -40)),
            Cohort::OnboardingOverdue => Some((100, 12)),
            Cohort::OnboardingRecovery => Some((150, 45)),
            _ => None,
        };
        let stage = match (a.cohort.is_onboarding(), i % 3) {
            (true, _) => LifecycleStage::Onboarding,
            (false, 0) => LifecycleStage::Adoption,
            (false, 1) => LifecycleStage::Expansion,
            (false, _) => LifecycleStage::Renewal,
        };
        let start = self.first;
        let opening = AccountEvent {
            event_id: self.id("crm"),
            account_id: a.account_id.clone(),
            timestamp: at(start, 300 + i as u32),
            name: Some(a.name.clone()),
            licensed_seats: match a.cohort {
                Cohort::SeatExpansion => Some(40),
                _ => a.seats,
            },
            usage_profile: Some(a.cohort.profile()),
            segment: Some(a.segment.to_string()),
            arr: Some(a.arr),
            csm: Some(a.csm.to_string()),
            lifecycle_stage: Some(stage),
            onboarding_started_on: onboarding.map(|(s, _)| self.end - chrono::Duration::days(s)),
            target_graduation_on: onboarding.map(|(_, t)| self.end - chrono::Duration::days(t)),
            renewal_on: Some(a.renewal_on),
        };
        self.push_event(&Event::Account(opening))?;

        if a.cohort == Cohort::SeatExpansion {
            let day = self.day(20);
            let ev = AccountEvent {
                event_id: self.id("crm"),
                account_id: a.account_id.clone(),
                timestamp: at(day, 15 * 3600),
                licensed_seats: Some(90),
                lifecycle_stage: Some(LifecycleStage::Expansion),
                arr: Some(a.arr * 2.0),
                ..empty_account()
            };
            self.push_event(&Event::Account(ev))?;
        }

        // Assessments: (technical, knowledge, value, stakeholder); None = leave to evidence.
        let scores: [Option<f64>; 4] = match a.cohort {
            Cohort::PowerDaily => [Some(9.0), Some(8.0), Some(9.0), Some(8.0)],
            Cohort::SteadyWeekly => [Some(8.0), Some(8.0), Some(8.0), Some(9.0)],
            Cohort::Periodic => [Some(8.0), Some(7.5), Some(8.0), Some(8.0)],
            Cohort::SlowDecline => [Some(8.0), Some(8.0), Some(7.0), Some(7.0)],
            Cohort::SuddenDrop => [Some(8.0), Some(7.0), Some(6.0), Some(5.0)],
            Cohort::OnboardingReady => [Some(9.0), Some(9.0), Some(8.5), Some(8.0)],
            Cohort::OnboardingClose => [Some(8.0), Some(6.0), Some(7.0), Some(8.0)],
            Cohort::OnboardingNotReady => [Some(4.0), None, None, Some(6.0)],
            Cohort::OnboardingOverdue => [Some(7.0), Some(7.0), Some(6.0), Some(7.0)],
            Cohort::OnboardingRecovery => [Some(6.0), Some(5.0), Some(4.0), Some(5.0)],
            Cohort::ChampionLeft => [Some(8.0), Some(8.0), Some(8.0), None],
            Cohort::CriticalTicket => [Some(7.0), Some(8.0), Some(7.5), Some(7.0)],
            Cohort::SeatExpansion => [Some(8.0), Some(7.5), Some(8.0), Some(8.0)],
            Cohort::SeatsUnknown => [Some(8.0), Some(8.0), Some(7.5), Some(8.0)],
            Cohort::Churning => [Some(5.0), Some(4.0), Some(3.0), Some(3.0)],
        };
        let dims = [
            Dimension::Technical,
            Dimension::Knowledge,
            Dimension::Value,
            Dimension::Stakeholder,
        ];
        for (dim, score) in dims.into_iter().zip(scores) {
            let Some(score) = score else { continue };
            let back = self.rng.random_range(10..=24);
            let day = self.day(back);
            let ev = AssessmentEvent {
                event_id: self.id("crm"),
                account_id: a.account_id.clone(),
                timestamp: at(day, self.rng.random_range(9 * 3600..18 * 3600)),
                dimension: dim,
                score,
                author: a.csm.to_string(),
                note: Some(note(a.cohort, dim).to_string()),
                expires_on: Some(self.end + Days::new(90)),
            };
            self.push_event(&Event::Assessment(ev))?;
        }
        match a.cohort {
            // An explicit usage override: seats are unknown, the CSM knows better.
            Cohort::SeatsUnknown => {
                let day = self.day(8);
                let ev = AssessmentEvent {
                    event_id: self.id("crm"),
                    account_id: a.account_id.clone(),
                    timestamp: at(day, 11 * 3600),
                    dimension: Dimension::Usage,
                    score: 7.0,
                    author: a.csm.to_string(),
                    note: Some("seat count missing from the contract import; ~30 active users by their admin".into()),
                    expires_on: Some(self.end + Days::new(30)),
                };
                self.push_event(&Event::Assessment(ev))?;
            }
            // A glowing stakeholder assessment that has expired since; the evidence
            // (the champion left) is what counts now.
            Cohort::ChampionLeft => {
                let day = self.day(40);
                let ev = AssessmentEvent {
                    event_id: self.id("crm"),
                    account_id: a.account_id.clone(),
                    timestamp: at(day, 10 * 3600),
                    dimension: Dimension::Stakeholder,
                    score: 9.0,
                    author: a.csm.to_string(),
                    note: Some("champion very engaged, sponsor attends QBRs".into()),
                    expires_on: Some(self.end - chrono::Duration::days(14)),
                };
                self.push_event(&Event::Assessment(ev))?;
            }
            _ => {}
        }
        self.evidence(a)
    }

    /// Milestones, trainings, KPIs, stakeholders and tickets.
    fn evidence(&mut self, a: &DemoAccount) -> Result<(), GenError> {
        let id = a.account_id.clone();
        let strong = matches!(
            a.cohort,
            Cohort::PowerDaily
                | Cohort::SteadyWeekly
                | Cohort::OnboardingReady
                | Cohort::ChampionLeft
                | Cohort::CriticalTicket
        );
        let items = [
            "sso_configured",
            "crm_integration_live",
            "data_migration_verified",
            "uat_signed_off",
        ];
        if a.cohort.is_onboarding() || strong {
            for (k, item) in items.iter().enumerate() {
                let status = match (a.cohort, k) {
                    (Cohort::OnboardingNotReady, 0) => MilestoneStatus::Done,
                    (Cohort::OnboardingNotReady, 1) => MilestoneStatus::Blocked,
                    (Cohort::OnboardingNotReady, _) => MilestoneStatus::Pending,
                    (Cohort::OnboardingRecovery, 3) | (Cohort::OnboardingOverdue, 3) => {
                        MilestoneStatus::Pending
                    }
                    _ => MilestoneStatus::Done,
                };
                let day = self.day(45 - 6 * k as i64);
                let ev = MilestoneEvent {
                    event_id: self.id("crm"),
                    account_id: id.clone(),
                    timestamp: at(day, self.rng.random_range(9 * 3600..18 * 3600)),
                    item: item.to_string(),
                    status,
                    note: (status == MilestoneStatus::Blocked)
                        .then(|| "waiting on customer IT for SCIM".to_string()),
                };
                self.push_event(&Event::Milestone(ev))?;
            }
            let (lo, hi) = match a.cohort {
                Cohort::OnboardingClose => (55.0_f64, 75.0_f64),
                Cohort::OnboardingRecovery | Cohort::OnboardingNotReady => (40.0, 85.0),
                _ => (82.0, 98.0),
            };
            for (k, module) in ["admin_essentials", "reporting_101", "workflow_builder"]
                .iter()
                .enumerate()
            {
                for trainee in 0..3u32 {
                    let day = self.day(35 - 5 * k as i64 - i64::from(trainee));
                    // Attendance only for some trainees of struggling accounts.
                    let score_pct = if a.cohort == Cohort::OnboardingNotReady && trainee == 2 {
                        None
                    } else {
                        Some(self.rng.random_range(lo..=hi).round())
                    };
                    let ev = TrainingEvent {
                        event_id: self.id("crm"),
                        account_id: id.clone(),
                        timestamp: at(day, self.rng.random_range(9 * 3600..18 * 3600)),
                        user_id: user_id(a, trainee),
                        module: module.to_string(),
                        score_pct,
                    };
                    self.push_event(&Event::Training(ev))?;
                }
            }
            let (value, confirmed) = match a.cohort {
                Cohort::OnboardingNotReady => (5.6, false),
                Cohort::OnboardingRecovery => (5.2, false),
                Cohort::OnboardingOverdue | Cohort::OnboardingClose => (3.6, true),
                _ => (2.8, true),
            };
            let day = self.day(16);
            let ev = KpiEvent {
                event_id: self.id("crm"),
                account_id: id.clone(),
                timestamp: at(day, 14 * 3600),
                kpi: "invoice_cycle_days".into(),
                baseline: 6.0,
                target: 3.0,
                value,
                confirmed,
                unit: Some("days".into()),
            };
            self.push_event(&Event::Kpi(ev))?;
        }
        // Stakeholders for every account: a champion and an executive sponsor.
        let champion = PEOPLE[self.rng.random_range(0..PEOPLE.len())];
        let sponsor = PEOPLE[self.rng.random_range(0..PEOPLE.len())];
        let (sentiment, sponsor_sentiment) = match a.cohort {
            Cohort::Churning | Cohort::SuddenDrop | Cohort::OnboardingRecovery => {
                (Sentiment::Negative, Sentiment::Neutral)
            }
            Cohort::ChampionLeft => (Sentiment::Positive, Sentiment::Neutral),
            _ => (Sentiment::Positive, Sentiment::Positive),
        };
        for (role, person, sentiment) in [
            (StakeholderRole::Champion, champion, sentiment),
            (
                StakeholderRole::ExecutiveSponsor,
                sponsor,
                sponsor_sentiment,
            ),
        ] {
            let day = self.day(50);
            let ev = StakeholderEvent {
                event_id: self.id("crm"),
                account_id: id.clone(),
                timestamp: at(day, 16 * 3600),
                role,
                person: person.to_string(),
                status: StakeholderStatus::Active,
                sentiment: Some(sentiment),
            };
            self.push_event(&Event::Stakeholder(ev))?;
        }
        if a.cohort == Cohort::ChampionLeft {
            let day = self.day(12);
            let ev = StakeholderEvent {
                event_id: self.id("crm"),
                account_id: id.clone(),
                timestamp: at(day, 9 * 3600 + 1800),
                role: StakeholderRole::Champion,
                person: champion.to_string(),
                status: StakeholderStatus::Left,
                sentiment: None,
            };
            self.push_event(&Event::Stakeholder(ev))?;
        }
        // Tickets: everyone files some; the critical-ticket cohort has one still open.
        let tickets: &[(TicketSeverity, i64, Option<i64>)] = match a.cohort {
            Cohort::CriticalTicket => &[
                (TicketSeverity::Critical, 6, None),
                (TicketSeverity::Critical, 30, Some(27)),
                (TicketSeverity::High, 14, Some(10)),
            ],
            Cohort::SuddenDrop => &[
                (TicketSeverity::High, 11, None),
                (TicketSeverity::Normal, 20, Some(18)),
            ],
            _ => &[
                (TicketSeverity::Normal, 25, Some(22)),
                (TicketSeverity::Low, 9, None),
            ],
        };
        for (k, (severity, opened, resolved)) in tickets.iter().enumerate() {
            let ticket_id = format!("T-{}-{}", a.account_id.len() * 97 + k, self.next_id % 1000);
            for (days_back, status) in [
                (Some(*opened), TicketStatus::Open),
                (*resolved, TicketStatus::Resolved),
            ] {
                let Some(days_back) = days_back else { continue };
                let day = self.day(days_back);
                let ev = TicketEvent {
                    event_id: self.id("crm"),
                    account_id: id.clone(),
                    timestamp: at(day, self.rng.random_range(8 * 3600..19 * 3600)),
                    ticket_id: ticket_id.clone(),
                    severity: *severity,
                    status,
                };
                self.push_event(&Event::Ticket(ev))?;
            }
        }
        Ok(())
    }

    fn usage(&mut self, a: &DemoAccount) -> Result<(), GenError> {
        let schedule = schedule(a.cohort);
        let mut day = self.first;
        while day <= self.end {
            let back = (self.end - day).num_days();
            let mut engaged = ((schedule.share)(back) * f64::from(a.users)).round() as u32;
            if schedule.profile == UsageProfile::Periodic {
                // Users come in pairs half a fortnight apart (see below): an even
                // count keeps every week's active users the same.
                engaged &= !1;
            }
            let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
            let epoch_day = i64::from(day.num_days_from_ce());
            for k in 0..engaged.min(a.users) {
                let active = match schedule.profile {
                    UsageProfile::Daily => self.rng.random_bool(if weekend { 0.12 } else { 0.92 }),
                    // Each user has a fixed weekday, some a second one.
                    UsageProfile::Weekly => {
                        let wd = i64::from(day.weekday().num_days_from_monday());
                        !weekend
                            && (wd == i64::from(k % 5)
                                || (k % 3 == 0 && wd == i64::from((k + 2) % 5)))
                    }
                    // Every user once every 14 days; users 2j and 2j+1 are 7 days
                    // apart, so any 7 consecutive days hold exactly one of each pair.
                    UsageProfile::Periodic => {
                        epoch_day % 14 == i64::from((k / 2) % 7 + 7 * (k % 2))
                    }
                };
                if active {
                    self.session(a, k, day)?;
                }
            }
            day = day + Days::new(1);
        }
        Ok(())
    }

    /// One user's session: a few actions within an hour or two.
    fn session(&mut self, a: &DemoAccount, k: u32, day: NaiveDate) -> Result<(), GenError> {
        let start = 8 * 3600 + (k * 1637) % (9 * 3600) + self.rng.random_range(0..1800);
        let actions = 1 + self.rng.random_range(0..4) + u32::from(self.rng.random_bool(0.2)) * 4;
        let mut secs = start;
        for _ in 0..actions {
            secs += self.rng.random_range(20..900);
            let (event, feature) = ACTIONS[self.rng.random_range(0..ACTIONS.len())];
            let ts = at(day, secs.min(86_399));
            let event_id = self.id("ev");
            let line = if a.segment_track {
                serde_json::to_string(&Track {
                    ty: "track",
                    message_id: &event_id,
                    user_id: &user_id(a, k),
                    event,
                    timestamp: ts,
                    context: TrackContext { group_id: &a.account_id },
                    properties: TrackProperties { feature },
                })
            } else {
                serde_json::to_string(&Event::Usage(UsageEvent {
                    event_id,
                    account_id: a.account_id.clone(),
                    user_id: user_id(a, k),
                    event: event.to_string(),
                    feature: Some(feature.to_string()),
                    timestamp: ts,
                    properties: serde_json::json!({"client": if k.is_multiple_of(4) { "mobile" } else { "web" }}),
                }))
            }
            .map_err(|e| GenError::Invalid(e.to_string()))?;
            // Mobile clients sync late now and then; some lines are sent twice.
            let late = if self.rng.random_bool(0.015) {
                self.rng.random_range(1..=3)
            } else {
                0
            };
            let written_on = (day + Days::new(late)).min(self.end);
            if written_on > day {
                self.stats.late += 1;
            }
            if self.rng.random_bool(0.01) {
                let again = (written_on + Days::new(self.rng.random_range(0..=1))).min(self.end);
                self.push(again, ts + chrono::Duration::seconds(3600), line.clone());
                self.stats.duplicates += 1;
                self.stats.usage += 1;
            }
            self.push(written_on, ts, line);
            self.stats.usage += 1;
        }
        Ok(())
    }

    /// A handful of broken lines, each rejected for a different reason.
    fn malformed(&mut self, accounts: &[DemoAccount]) {
        let acct = accounts
            .first()
            .map(|a| a.account_id.as_str())
            .unwrap_or("acme")
            .to_string();
        let ts = at(self.day(3), 12 * 3600).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let lines = [
            format!(
                r#"{{"type":"usage","event_id":"bad-1","account_id":"{acct}","user_id":"u-1","event":"login","timestamp":"{ts}""#
            ),
            format!(
                r#"{{"type":"usage","event_id":"bad-2","user_id":"u-1","event":"login","timestamp":"{ts}"}}"#
            ),
            format!(
                r#"{{"type":"usage","event_id":"bad-3","account_id":"{acct}","user_id":"u-1","event":"login","timestamp":"yesterday at noon"}}"#
            ),
            format!(
                r#"{{"type":"page_view","event_id":"bad-4","account_id":"{acct}","timestamp":"{ts}"}}"#
            ),
            format!(
                r#"{{"type":"account","event_id":"bad-5","account_id":"{acct}","timestamp":"{ts}","licensed_seats":"fifty"}}"#
            ),
            r#"["not","an","object"]"#.to_string(),
        ];
        for (k, line) in lines.into_iter().enumerate() {
            let day = self.day(5 + 7 * k as i64);
            let at = at(day, 12 * 3600 + k as u32);
            self.push(day, at, line);
            self.stats.malformed += 1;
        }
    }
}

/// `secs` seconds after the start of `day` (UTC).
fn at(day: NaiveDate, secs: u32) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or_default()
        + chrono::Duration::seconds(i64::from(secs))
}

fn empty_account() -> AccountEvent {
    AccountEvent {
        event_id: String::new(),
        account_id: String::new(),
        timestamp: DateTime::<Utc>::default(),
        name: None,
        licensed_seats: None,
        usage_profile: None,
        segment: None,
        arr: None,
        csm: None,
        lifecycle_stage: None,
        onboarding_started_on: None,
        target_graduation_on: None,
        renewal_on: None,
    }
}

fn user_id(a: &DemoAccount, k: u32) -> String {
    format!("{}-u{:03}", a.account_id, k)
}

fn note(cohort: Cohort, dim: Dimension) -> &'static str {
    match (cohort, dim) {
        (Cohort::OnboardingClose, Dimension::Knowledge) => {
            "admins still need help building reports; knowledge checks at 55-75%"
        }
        (Cohort::OnboardingNotReady, Dimension::Technical) => {
            "SSO blocked on customer IT; migration not started"
        }
        (Cohort::SuddenDrop, Dimension::Stakeholder) => {
            "sponsor reorganized; team moved to a competitor trial?"
        }
        (Cohort::Churning, _) => "low engagement, budget review announced",
        (_, Dimension::Value) => "KPI reviewed with the customer",
        (_, Dimension::Technical) => "integration logs reviewed",
        (_, Dimension::Knowledge) => "admins trained, key users independent",
        _ => "regular check-in",
    }
}

fn schedule(cohort: Cohort) -> Schedule {
    let share: fn(i64) -> f64 = match cohort {
        Cohort::PowerDaily | Cohort::CriticalTicket => |_| 0.95,
        Cohort::SteadyWeekly | Cohort::ChampionLeft | Cohort::SeatsUnknown => |_| 0.9,
        Cohort::Periodic => |_| 0.75,
        Cohort::SlowDecline => |back| ramp(back, 28, 0.92, 0.40),
        Cohort::SuddenDrop => |back| if back <= 8 { 0.10 } else { 0.95 },
        Cohort::OnboardingReady => |_| 0.9,
        Cohort::OnboardingClose => |back| {
            if back > 40 {
                0.0
            } else {
                ramp(back, 40, 0.3, 0.85)
            }
        },
        // Started 21 days ago; a third of seats so far.
        Cohort::OnboardingNotReady => |back| {
            if back > 21 {
                0.0
            } else {
                ramp(back, 21, 0.1, 0.35)
            }
        },
        Cohort::OnboardingOverdue => |_| 0.75,
        Cohort::OnboardingRecovery => |back| ramp(back, 28, 0.55, 0.40),
        // 36 of 80 users until the seats went up 20 days ago, then 60.
        Cohort::SeatExpansion => |back| {
            if back > 20 {
                0.45
            } else {
                ramp(back, 20, 0.45, 0.75)
            }
        },
        Cohort::Churning => |back| ramp(back, 21, 0.40, 0.08),
    };
    Schedule {
        profile: cohort.profile(),
        share,
    }
}

/// `from` until `over` days before the end, then linear to `to` at the end.
fn ramp(back: i64, over: i64, from: f64, to: f64) -> f64 {
    if back >= over {
        from
    } else {
        to + (from - to) * back as f64 / over as f64
    }
}

#[derive(Serialize)]
struct Track<'a> {
    #[serde(rename = "type")]
    ty: &'static str,
    #[serde(rename = "messageId")]
    message_id: &'a str,
    #[serde(rename = "userId")]
    user_id: &'a str,
    event: &'a str,
    timestamp: DateTime<Utc>,
    context: TrackContext<'a>,
    properties: TrackProperties<'a>,
}

#[derive(Serialize)]
struct TrackContext<'a> {
    #[serde(rename = "groupId")]
    group_id: &'a str,
}

#[derive(Serialize)]
struct TrackProperties<'a> {
    feature: &'a str,
}
