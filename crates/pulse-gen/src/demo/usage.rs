//! Usage lines of the demo: who is active when, sessions, late and repeated lines,
//! and the deliberately malformed ones.

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc, Weekday};
use pulse_core::event::{Event, UsageEvent, UsageProfile};
use rand::Rng;
use serde::Serialize;

use super::{at, user_id, Cohort, DemoAccount, Gen, ACTIONS};
use crate::GenError;

/// The share of seats engaged on `day`, and the rhythm they use the product in.
struct Schedule {
    profile: UsageProfile,
    /// Share of users engaged, by days before the end date.
    share: fn(i64) -> f64,
}

impl Gen {
    pub(super) fn usage(&mut self, a: &DemoAccount) -> Result<(), GenError> {
        let schedule = schedule(a.cohort);
        let mut day = a.since.map_or(self.first, |s| s.max(self.first));
        while day <= self.end {
            let back = (self.end - day).num_days();
            // The trailing year's renewal: seats before it, and the slump before it
            // (or the silence after a churn).
            let (users, factor) = match &a.last_renewal {
                Some(p) => (if day < p.renewal_on { p.users_before } else { a.users }, p.usage_factor(day)),
                None => (a.users, 1.0),
            };
            let mut engaged = ((schedule.share)(back) * factor * f64::from(users)).round() as u32;
            if factor < 1.0 && engaged <= 2 {
                // The last holdouts of a slump stop too: the account goes dark.
                engaged = 0;
            }
            if schedule.profile == UsageProfile::Periodic {
                // Users come in pairs half a fortnight apart (see below): an even
                // count keeps every week's active users the same.
                engaged &= !1;
            }
            let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
            let epoch_day = i64::from(day.num_days_from_ce());
            for k in 0..engaged.min(users) {
                let active = match schedule.profile {
                    UsageProfile::Daily => self.rng.random_bool(if weekend { 0.12 } else { 0.92 }),
                    // Each user has a fixed weekday, some a second one.
                    UsageProfile::Weekly => {
                        let wd = i64::from(day.weekday().num_days_from_monday());
                        !weekend && (wd == i64::from(k % 5) || (k % 3 == 0 && wd == i64::from((k + 2) % 5)))
                    }
                    // Every user once every 14 days; users 2j and 2j+1 are 7 days
                    // apart, so any 7 consecutive days hold exactly one of each pair.
                    UsageProfile::Periodic => epoch_day % 14 == i64::from((k / 2) % 7 + 7 * (k % 2)),
                };
                if active {
                    self.session(a, k, day, back)?;
                }
            }
            day = day + Days::new(1);
        }
        Ok(())
    }

    /// One user's session: a few actions within an hour or two (`back` days before the
    /// end; sessions thin out to one or two actions from 90 to 180 days back, which
    /// keeps long histories small without changing who was active when).
    fn session(&mut self, a: &DemoAccount, k: u32, day: NaiveDate, back: i64) -> Result<(), GenError> {
        let start = 8 * 3600 + (k * 1637) % (9 * 3600) + self.rng.random_range(0..1800);
        let detailed = back <= 90 || self.rng.random_bool((1.0 - (back - 90) as f64 / 90.0).clamp(0.0, 1.0));
        let actions = if detailed {
            1 + self.rng.random_range(0..4) + u32::from(self.rng.random_bool(0.2)) * 4
        } else {
            1 + self.rng.random_range(0..2)
        };
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
            let late = if self.rng.random_bool(0.015) { self.rng.random_range(1..=3) } else { 0 };
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
    pub(super) fn malformed(&mut self, accounts: &[DemoAccount]) {
        let acct = accounts.first().map(|a| a.account_id.as_str()).unwrap_or("acme").to_string();
        let ts = at(self.day(3), 12 * 3600).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let lines = [
            format!(
                r#"{{"type":"usage","event_id":"bad-1","account_id":"{acct}","user_id":"u-1","event":"login","timestamp":"{ts}""#
            ),
            format!(r#"{{"type":"usage","event_id":"bad-2","user_id":"u-1","event":"login","timestamp":"{ts}"}}"#),
            format!(
                r#"{{"type":"usage","event_id":"bad-3","account_id":"{acct}","user_id":"u-1","event":"login","timestamp":"yesterday at noon"}}"#
            ),
            format!(r#"{{"type":"page_view","event_id":"bad-4","account_id":"{acct}","timestamp":"{ts}"}}"#),
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

fn schedule(cohort: Cohort) -> Schedule {
    let share: fn(i64) -> f64 = match cohort {
        Cohort::PowerDaily | Cohort::CriticalTicket => |_| 0.95,
        Cohort::SteadyWeekly
        | Cohort::ChampionLeft
        | Cohort::SeatsUnknown
        | Cohort::SeatsNeverSynced
        | Cohort::StaleAssessments => |_| 0.9,
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
        // Former customers: the level before their slump (see `PastRenewal`).
        Cohort::FormerDeclined => |_| 0.85,
        Cohort::FormerBudgetCut => |_| 0.9,
    };
    Schedule { profile: cohort.profile(), share }
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
