//! CRM and evidence events of one account, and their state as of a day.
//!
//! CRM traffic is small (a handful of events per account per week), so the events
//! are kept whole, sorted by (timestamp, event_id), and the state as of a day is a
//! fold over the prefix up to that day's end. That makes every question the spec
//! asks exact and order-independent by construction: "the seats in force on day D"
//! (partial upserts applied in event-time order, ties by `event_id`), "the latest
//! unexpired assessment", the latest status of a ticket, and evaluating a past day
//! for the previous color. A duplicate `event_id` is a no-op.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::event::copy::crm_order;
use crate::event::*;
use crate::num::{day_of, Day};

/// Whether an insert changed the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inserted {
    Applied,
    Duplicate,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct CrmLog {
    events: Vec<Event>,
}

/// Order of two versions of the same `event_id` that differ (a producer bug): the
/// earlier timestamp (to the microsecond) wins, then the smaller canonical JSON (SPEC v3
/// §1), so the survivor depends neither on which copy arrived first nor on the config.
/// The [`CopyKey`] first, the raw tables' `copy_rank`, so the copy ClickHouse keeps is
/// this one (see [`crate::event::copy_key`]).
fn sort_key(e: &Event) -> (CopyKey, String) {
    crm_order(e)
}

impl CrmLog {
    pub(crate) fn insert(&mut self, ev: &Event) -> Inserted {
        if let Some(i) = self.events.iter().position(|e| e.event_id() == ev.event_id()) {
            if self.events[i] == *ev || sort_key(&self.events[i]) <= sort_key(ev) {
                return Inserted::Duplicate;
            }
            self.events.remove(i);
        }
        let key = (ev.timestamp(), ev.event_id());
        let at = self.events.partition_point(|e| (e.timestamp(), e.event_id()) < key);
        self.events.insert(at, ev.clone());
        Inserted::Applied
    }

    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    /// Renewal outcomes, one per contract date (`renewal_on`): the latest in event
    /// time (ties: `event_id`) corrects earlier ones. Sorted by `renewal_on`.
    pub(crate) fn outcomes(&self) -> Vec<&RenewalEvent> {
        let mut by_date: BTreeMap<NaiveDate, &RenewalEvent> = BTreeMap::new();
        for e in &self.events {
            if let Event::Renewal(r) = e {
                by_date.insert(r.renewal_on, r);
            }
        }
        by_date.into_values().collect()
    }

    /// Whether the account is a former customer on day `d` (SPEC v3 §8), from the events
    /// up to the end of `d` only: former from the later of a `churned` renewal outcome's
    /// `renewal_on` and that event's own day (the latest outcome per contract date
    /// counts), or from the day an account event sets the stage `churned`; until a later
    /// account event sets another stage (on one day, the later event wins).
    pub(crate) fn former_on(&self, d: Day) -> bool {
        let mut marks: Vec<(Day, usize, bool)> = Vec::new();
        let mut outcomes: BTreeMap<NaiveDate, (usize, &RenewalEvent)> = BTreeMap::new();
        for (i, e) in self.events.iter().enumerate() {
            let day = day_of(e.timestamp());
            if day > d {
                break;
            }
            match e {
                Event::Account(AccountEvent { lifecycle_stage: Some(stage), .. }) => {
                    marks.push((day, i, *stage == LifecycleStage::Churned));
                }
                Event::Renewal(r) => {
                    outcomes.insert(r.renewal_on, (i, r));
                }
                _ => {}
            }
        }
        for (i, r) in outcomes.into_values() {
            if r.outcome == RenewalOutcome::Churned {
                let from = crate::num::day_from_date(r.renewal_on).max(day_of(r.timestamp));
                if from <= d {
                    marks.push((from, i, true));
                }
            }
        }
        marks.iter().max_by_key(|(day, i, _)| (*day, *i)).is_some_and(|(_, _, churned)| *churned)
    }

    /// The lifecycle stage in force at the end of each day on which an `account`
    /// event set one, in day order (the last setting of a day wins).
    pub(crate) fn stage_changes(&self) -> Vec<(NaiveDate, LifecycleStage)> {
        let mut out: Vec<(NaiveDate, LifecycleStage)> = Vec::new();
        for e in &self.events {
            if let Event::Account(AccountEvent { lifecycle_stage: Some(stage), timestamp, .. }) = e {
                let day = crate::num::date_from_day(day_of(*timestamp));
                match out.last_mut() {
                    Some((d, s)) if *d == day => *s = *stage,
                    _ => out.push((day, *stage)),
                }
            }
        }
        out
    }

    /// The state as of the end of day `d`.
    pub(crate) fn view(&self, d: Day) -> CrmView<'_> {
        let end = self.events.partition_point(|e| day_of(e.timestamp()) <= d);
        let mut v = CrmView::default();
        for e in &self.events[..end] {
            match e {
                // Outcomes never change a score (SPEC §8).
                Event::Usage(_) | Event::Renewal(_) => {}
                Event::Account(a) => v.apply_account(a),
                Event::Assessment(a) => {
                    let valid = a.expires_on.is_none_or(|x| crate::num::date_from_day(d) < x);
                    if valid {
                        v.assessments[a.dimension.index()] = Some(a);
                    }
                }
                Event::Milestone(m) => {
                    v.milestones.insert(m.item.as_str(), m);
                }
                Event::Training(t) => {
                    v.training_as_of = Some(day_of(t.timestamp));
                    let best = v.training.entry((t.user_id.as_str(), t.module.as_str())).or_insert(None);
                    *best = match (*best, t.score_pct) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        (a, b) => a.or(b),
                    };
                }
                Event::Kpi(k) => {
                    v.kpis.insert(k.kpi.as_str(), k);
                }
                Event::Stakeholder(s) => {
                    v.stakeholders.insert((s.role, s.person.as_str()), s);
                }
                Event::Ticket(t) => {
                    v.tickets.insert(t.ticket_id.as_str(), t);
                }
            }
        }
        v
    }
}

/// Account attributes after applying the partial upserts in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Attributes<'a> {
    pub name: Option<&'a str>,
    pub licensed_seats: Option<u64>,
    pub usage_profile: UsageProfile,
    pub segment: Option<&'a str>,
    pub arr: Option<f64>,
    pub csm: Option<&'a str>,
    pub lifecycle_stage: Option<LifecycleStage>,
    pub onboarding_started_on: Option<NaiveDate>,
    pub target_graduation_on: Option<NaiveDate>,
    pub renewal_on: Option<NaiveDate>,
}

#[derive(Debug, Default)]
pub(crate) struct CrmView<'a> {
    pub attrs: Attributes<'a>,
    /// (day, seats) of every account event that set `licensed_seats`, in order:
    /// the seat denominator of an earlier day in the window.
    pub seat_changes: Vec<(Day, u64)>,
    /// Day of the newest `account` event of any content: how current the attributes
    /// are (SPEC v3 §10; the log is in time order, so the last applied).
    pub account_as_of: Option<Day>,
    /// Day of the newest `training` event (the knowledge evidence's age).
    pub training_as_of: Option<Day>,
    /// Latest unexpired assessment per dimension (by `Dimension::index`).
    pub assessments: [Option<&'a AssessmentEvent>; 5],
    pub milestones: BTreeMap<&'a str, &'a MilestoneEvent>,
    /// (user, module) -> best knowledge-check score (None: attended only).
    pub training: BTreeMap<(&'a str, &'a str), Option<f64>>,
    pub kpis: BTreeMap<&'a str, &'a KpiEvent>,
    pub stakeholders: BTreeMap<(StakeholderRole, &'a str), &'a StakeholderEvent>,
    pub tickets: BTreeMap<&'a str, &'a TicketEvent>,
}

impl<'a> CrmView<'a> {
    fn apply_account(&mut self, a: &'a AccountEvent) {
        self.account_as_of = Some(day_of(a.timestamp));
        let t = &mut self.attrs;
        if let Some(x) = &a.name {
            t.name = Some(x);
        }
        if let Some(x) = a.licensed_seats {
            t.licensed_seats = Some(x);
            self.seat_changes.push((day_of(a.timestamp), x));
        }
        if let Some(x) = a.usage_profile {
            t.usage_profile = x;
        }
        if let Some(x) = &a.segment {
            t.segment = Some(x);
        }
        if let Some(x) = a.arr {
            t.arr = Some(x);
        }
        if let Some(x) = &a.csm {
            t.csm = Some(x);
        }
        if let Some(x) = a.lifecycle_stage {
            t.lifecycle_stage = Some(x);
        }
        if let Some(x) = a.onboarding_started_on {
            t.onboarding_started_on = Some(x);
        }
        if let Some(x) = a.target_graduation_on {
            t.target_graduation_on = Some(x);
        }
        if let Some(x) = a.renewal_on {
            t.renewal_on = Some(x);
        }
    }

    /// Seats in force on day `d` (the latest setting with timestamp on or before
    /// the end of `d`); `None` when never set.
    pub(crate) fn seats_on(&self, d: Day) -> Option<u64> {
        self.seat_changes.iter().rev().find(|(day, _)| *day <= d).map(|(_, s)| *s)
    }

    /// The first day of the current stretch without usable seats (unknown or 0) on
    /// day `d`: the day of the first of the trailing settings to 0, or `first_day`
    /// (the account's first event) when seats were never set above 0 before them.
    pub(crate) fn seats_unknown_since(&self, d: Day, first_day: Day) -> Day {
        let set: Vec<&(Day, u64)> = self.seat_changes.iter().filter(|(day, _)| *day <= d).collect();
        match set.iter().rposition(|(_, s)| *s > 0) {
            Some(i) => set.get(i + 1).map_or(first_day, |(day, _)| *day),
            None => first_day,
        }
    }

    /// Open critical tickets, by id.
    pub(crate) fn open_critical_tickets(&self) -> Vec<&'a str> {
        self.tickets
            .values()
            .filter(|t| t.severity == TicketSeverity::Critical && t.status == TicketStatus::Open)
            .map(|t| t.ticket_id.as_str())
            .collect()
    }

    /// Champions whose latest status is `left`, when no champion is active.
    pub(crate) fn champions_left(&self) -> Vec<&'a str> {
        let champions = || self.stakeholders.values().filter(|s| s.role == StakeholderRole::Champion);
        if champions().any(|s| s.status == StakeholderStatus::Active) {
            return Vec::new();
        }
        champions().filter(|s| s.status == StakeholderStatus::Left).map(|s| s.person.as_str()).collect()
    }
}
