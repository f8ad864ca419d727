//! CRM lines of the demo: account upserts, CSM assessments, evidence and renewal
//! outcomes.

use chrono::Months;
use chrono::{DateTime, Days, NaiveDate, Utc};
use pulse_core::event::{
    AccountEvent, AssessmentEvent, Dimension, Event, KpiEvent, LifecycleStage, MilestoneEvent, MilestoneStatus,
    RenewalEvent, RenewalOutcome, Sentiment, StakeholderEvent, StakeholderRole, StakeholderStatus, TicketEvent,
    TicketSeverity, TicketStatus, TrainingEvent,
};
use rand::Rng;

use super::{at, onboarding_days, user_id, Cohort, DemoAccount, Gen, Story, GRADUATION_DAYS, PEOPLE};
use crate::GenError;

impl Gen {
    pub(super) fn crm(&mut self, i: usize, a: &DemoAccount) -> Result<(), GenError> {
        let onboarding = onboarding_days(a.cohort);
        let stage = match (a.cohort.is_onboarding(), i % 3) {
            (true, _) => LifecycleStage::Onboarding,
            (false, 0) => LifecycleStage::Adoption,
            (false, 1) => LifecycleStage::Expansion,
            (false, _) => LifecycleStage::Renewal,
        };
        let graduated = a.graduated_on().zip(a.since);
        let start = a.since.map_or(self.first, |s| s.max(self.first));
        // The opening upsert states the contract as it was on the first day: before
        // the trailing year's renewal when that falls inside the data.
        let before = a.last_renewal.as_ref().filter(|p| p.renewal_on >= self.first);
        let opening = AccountEvent {
            event_id: self.id("crm"),
            account_id: a.account_id.clone(),
            timestamp: at(start, 300 + i as u32),
            name: Some(a.name.clone()),
            licensed_seats: match (a.cohort, before) {
                (Cohort::SeatExpansion, _) => Some(40),
                (_, Some(p)) => p.seats_before,
                _ => a.seats,
            },
            usage_profile: Some(a.cohort.profile()),
            segment: Some(a.segment.to_string()),
            arr: Some(before.map_or(a.arr, |p| p.arr_before)),
            csm: Some(a.csm.to_string()),
            lifecycle_stage: Some(if graduated.is_some() { LifecycleStage::Onboarding } else { stage }),
            onboarding_started_on: onboarding
                .map(|(s, _)| self.end - chrono::Duration::days(s))
                .or(graduated.map(|(_, since)| since)),
            target_graduation_on: onboarding
                .map(|(_, t)| self.end - chrono::Duration::days(t))
                .or(graduated.map(|(_, since)| since + Days::new(GRADUATION_DAYS - 15))),
            renewal_on: Some(before.map_or(a.renewal_on, |p| p.renewal_on)),
        };
        self.push_event(&Event::Account(opening))?;
        if let Some((on, since)) = graduated {
            self.graduation(a, since, on, stage)?;
        }
        self.renewal(a)?;
        if a.cohort.is_former() {
            return self.former(a);
        }

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
            Cohort::SeatsNeverSynced => [Some(8.0), Some(8.0), Some(8.0), Some(9.0)],
            Cohort::StaleAssessments => [Some(8.0), Some(8.0), Some(8.5), Some(8.0)],
            // Former customers returned above.
            Cohort::FormerDeclined | Cohort::FormerBudgetCut => [None; 4],
        };
        let dims = [Dimension::Technical, Dimension::Knowledge, Dimension::Value, Dimension::Stakeholder];
        for (dim, score) in dims.into_iter().zip(scores) {
            let Some(score) = score else { continue };
            // The CSM of the stale cohort last assessed about 200 days ago.
            let back = match a.cohort {
                Cohort::StaleAssessments => self.rng.random_range(195..=209),
                _ => self.rng.random_range(10..=24),
            };
            let day = self.day(back);
            let ts = at(day, self.rng.random_range(9 * 3600..18 * 3600));
            self.assessment(a, ts, dim, score, note(a.cohort, dim), self.end + Days::new(90))?;
        }
        match a.cohort {
            // An explicit usage override: seats are unknown, the CSM knows better.
            Cohort::SeatsUnknown => {
                let day = self.day(8);
                let ts = at(day, 11 * 3600);
                self.assessment(
                    a,
                    ts,
                    Dimension::Usage,
                    7.0,
                    "seat count missing from the contract import; ~30 active users by their admin",
                    self.end + Days::new(30),
                )?;
            }
            // A glowing stakeholder assessment that has expired since; the evidence
            // (the champion left) is what counts now.
            Cohort::ChampionLeft => {
                let day = self.day(40);
                let ts = at(day, 10 * 3600);
                self.assessment(
                    a,
                    ts,
                    Dimension::Stakeholder,
                    9.0,
                    "champion very engaged, sponsor attends QBRs",
                    self.end - chrono::Duration::days(14),
                )?;
            }
            _ => {}
        }
        self.evidence(a)
    }

    /// The onboarding of a customer whose first contract began inside the data: the
    /// CSM's assessments during it (by how the account's year went, see the module
    /// docs), expiring a month after `on`, the day its stage moved on.
    fn graduation(
        &mut self,
        a: &DemoAccount,
        since: NaiveDate,
        on: NaiveDate,
        stage: LifecycleStage,
    ) -> Result<(), GenError> {
        let story = a.last_renewal.as_ref().map(|p| p.story);
        let (scores, note) = match story {
            Some(Story::ChurnedAfterDecline | Story::SlumpContracted) => {
                ([5.0, 4.0, 4.0, 5.0], "pilot team only; no sponsor beyond the admin")
            }
            Some(Story::SlumpSaved) => ([7.0, 6.5, 6.0, 7.0], "rolled out, value case still thin"),
            _ => ([9.0, 8.5, 8.5, 8.0], "rolled out to every team; sponsor signed off the value review"),
        };
        let dims = [Dimension::Technical, Dimension::Knowledge, Dimension::Value, Dimension::Stakeholder];
        for (k, (dim, score)) in dims.into_iter().zip(scores).enumerate() {
            let day = since + Days::new(40 + 5 * k as u64);
            let ts = at(day, self.rng.random_range(9 * 3600..18 * 3600));
            self.assessment(a, ts, dim, score, note, on + Days::new(30))?;
        }
        let ev = AccountEvent {
            event_id: self.id("crm"),
            account_id: a.account_id.clone(),
            timestamp: at(on, 16 * 3600),
            lifecycle_stage: Some(stage),
            ..empty_account()
        };
        self.push_event(&Event::Account(ev))
    }

    /// A CSM assessment of `a` (SPEC §3), expiring at the end of `expires_on`.
    fn assessment(
        &mut self,
        a: &DemoAccount,
        timestamp: DateTime<Utc>,
        dimension: Dimension,
        score: f64,
        note: &str,
        expires_on: NaiveDate,
    ) -> Result<(), GenError> {
        let ev = AssessmentEvent {
            event_id: self.id("crm"),
            account_id: a.account_id.clone(),
            timestamp,
            dimension,
            score,
            author: a.csm.to_string(),
            note: Some(note.to_string()),
            expires_on: Some(expires_on),
        };
        self.push_event(&Event::Assessment(ev))
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
        let items = ["sso_configured", "crm_integration_live", "data_migration_verified", "uat_signed_off"];
        if a.cohort.is_onboarding() || strong {
            for (k, item) in items.iter().enumerate() {
                let status = match (a.cohort, k) {
                    (Cohort::OnboardingNotReady, 0) => MilestoneStatus::Done,
                    (Cohort::OnboardingNotReady, 1) => MilestoneStatus::Blocked,
                    (Cohort::OnboardingNotReady, _) => MilestoneStatus::Pending,
                    (Cohort::OnboardingRecovery, 3) | (Cohort::OnboardingOverdue, 3) => MilestoneStatus::Pending,
                    _ => MilestoneStatus::Done,
                };
                let day = self.day(45 - 6 * k as i64);
                let ev = MilestoneEvent {
                    event_id: self.id("crm"),
                    account_id: id.clone(),
                    timestamp: at(day, self.rng.random_range(9 * 3600..18 * 3600)),
                    item: item.to_string(),
                    status,
                    note: (status == MilestoneStatus::Blocked).then(|| "waiting on customer IT for SCIM".to_string()),
                };
                self.push_event(&Event::Milestone(ev))?;
            }
            let (lo, hi) = match a.cohort {
                Cohort::OnboardingClose => (55.0_f64, 75.0_f64),
                Cohort::OnboardingRecovery | Cohort::OnboardingNotReady => (40.0, 85.0),
                _ => (82.0, 98.0),
            };
            for (k, module) in ["admin_essentials", "reporting_101", "workflow_builder"].iter().enumerate() {
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
            (StakeholderRole::ExecutiveSponsor, sponsor, sponsor_sentiment),
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
            Cohort::SuddenDrop => &[(TicketSeverity::High, 11, None), (TicketSeverity::Normal, 20, Some(18))],
            _ => &[(TicketSeverity::Normal, 25, Some(22)), (TicketSeverity::Low, 9, None)],
        };
        for (k, (severity, opened, resolved)) in tickets.iter().enumerate() {
            let ticket_id = format!("T-{}-{}", a.account_id.len() * 97 + k, self.next_id % 1000);
            for (days_back, status) in [(Some(*opened), TicketStatus::Open), (*resolved, TicketStatus::Resolved)] {
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
}

impl Gen {
    /// The CRM connector's weekly sync (SPEC v3 §10: account attributes older than 90
    /// days are stale): an `account` event restating the name and CSM every 7 days from
    /// the account's first day, until the end date or, for a former customer, its churn
    /// date. Ids and times come from the account and the day, not from the RNGs.
    pub(super) fn sync(&mut self, i: usize, a: &DemoAccount) -> Result<(), GenError> {
        let start = a.since.map_or(self.first, |s| s.max(self.first));
        let until = if a.cohort.is_former() { a.renewal_on.min(self.end) } else { self.end };
        let mut day = start + Days::new(7);
        while day <= until {
            let ev = AccountEvent {
                event_id: format!("crm-sync-{}-{day}", a.account_id),
                account_id: a.account_id.clone(),
                timestamp: at(day, 2 * 3600 + i as u32),
                name: Some(a.name.clone()),
                csm: Some(a.csm.to_string()),
                ..empty_account()
            };
            self.push_event(&Event::Account(ev))?;
            day = day + Days::new(7);
        }
        Ok(())
    }

    /// The trailing year's renewal, when it falls inside the data: the `renewal`
    /// outcome on the contract date, then the `account` upsert it leads to (new ARR,
    /// seats and next contract date; a churned account's ARR goes to 0 and its
    /// `renewal_on` stays the date it churned at).
    fn renewal(&mut self, a: &DemoAccount) -> Result<(), GenError> {
        let Some(p) = a.last_renewal.as_ref().filter(|p| p.renewal_on >= self.first && p.renewal_on <= self.end) else {
            return Ok(());
        };
        let secs = self.story_rng.random_range(10 * 3600..17 * 3600);
        let ts = at(p.renewal_on, secs);
        let ev = RenewalEvent {
            event_id: self.id("crm"),
            account_id: a.account_id.clone(),
            timestamp: ts,
            outcome: p.outcome,
            renewal_on: p.renewal_on,
            arr_before: p.arr_before,
            arr_after: p.arr_after,
            reason: p.reason.map(String::from),
        };
        self.push_event(&Event::Renewal(ev))?;
        let churned = p.outcome == RenewalOutcome::Churned;
        let ev = AccountEvent {
            event_id: self.id("crm"),
            account_id: a.account_id.clone(),
            timestamp: ts + chrono::Duration::minutes(5),
            licensed_seats: if p.seats_before != a.seats && !churned { a.seats } else { None },
            arr: Some(p.arr_after),
            renewal_on: (!churned).then(|| p.renewal_on + Months::new(12)),
            ..empty_account()
        };
        self.push_event(&Event::Account(ev))
    }

    /// A former customer's CRM lines: its champion and sponsor, and (when its usage
    /// fell) the CSM's notes on the way down. Nothing after the churn date.
    fn former(&mut self, a: &DemoAccount) -> Result<(), GenError> {
        let Some(p) = a.last_renewal.clone() else { return Ok(()) };
        let champion = PEOPLE[self.story_rng.random_range(0..PEOPLE.len())];
        let sponsor = PEOPLE[self.story_rng.random_range(0..PEOPLE.len())];
        for (role, person) in [(StakeholderRole::Champion, champion), (StakeholderRole::ExecutiveSponsor, sponsor)] {
            let ev = StakeholderEvent {
                event_id: self.id("crm"),
                account_id: a.account_id.clone(),
                timestamp: at(self.first, 3600),
                role,
                person: person.to_string(),
                status: StakeholderStatus::Active,
                sentiment: Some(Sentiment::Positive),
            };
            self.push_event(&Event::Stakeholder(ev))?;
        }
        if p.slump_days == 0 {
            return Ok(());
        }
        // A third of the way down the champion sours; halfway the CSM records it.
        let soured = (p.renewal_on - chrono::Duration::days(p.slump_days * 2 / 3)).max(self.first);
        let ev = StakeholderEvent {
            event_id: self.id("crm"),
            account_id: a.account_id.clone(),
            timestamp: at(soured, 15 * 3600),
            role: StakeholderRole::Champion,
            person: champion.to_string(),
            status: StakeholderStatus::Active,
            sentiment: Some(Sentiment::Negative),
        };
        self.push_event(&Event::Stakeholder(ev))?;
        let noted = (p.renewal_on - chrono::Duration::days(p.slump_days / 2)).max(self.first);
        let ts = at(noted, 11 * 3600);
        self.assessment(
            a,
            ts,
            Dimension::Stakeholder,
            3.0,
            "champion disengaged; no access to the sponsor",
            p.renewal_on + chrono::Duration::days(90),
        )
    }
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

fn note(cohort: Cohort, dim: Dimension) -> &'static str {
    match (cohort, dim) {
        (Cohort::OnboardingClose, Dimension::Knowledge) => {
            "admins still need help building reports; knowledge checks at 55-75%"
        }
        (Cohort::OnboardingNotReady, Dimension::Technical) => "SSO blocked on customer IT; migration not started",
        (Cohort::SuddenDrop, Dimension::Stakeholder) => "sponsor reorganized; team moved to a competitor trial?",
        (Cohort::Churning, _) => "low engagement, budget review announced",
        (_, Dimension::Value) => "KPI reviewed with the customer",
        (_, Dimension::Technical) => "integration logs reviewed",
        (_, Dimension::Knowledge) => "admins trained, key users independent",
        _ => "regular check-in",
    }
}
