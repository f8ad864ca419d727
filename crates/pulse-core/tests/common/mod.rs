//! Builders shared by the rule tables: events are written as the JSON producers send
//! and go through `parse_event`, so the tables also exercise parsing.
#![allow(dead_code)]

use chrono::NaiveDate;
use pulse_core::{parse_event, Engine, Evaluation, Event, ScoringConfig};

/// Day `n` of the test calendar: D0 = 2026-11-01.
pub fn d(n: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 1).expect("valid") + chrono::Duration::days(n)
}

#[derive(Default, Clone)]
pub struct Events {
    pub list: Vec<Event>,
    next: usize,
}

impl Events {
    pub fn new() -> Self {
        Self::default()
    }

    fn id(&mut self) -> String {
        self.next += 1;
        format!("e-{}", self.next)
    }

    /// Any event: `fields` is the JSON after the common fields, e.g. `,"score":9`.
    pub fn raw(&mut self, ty: &str, account: &str, day: i64, fields: &str) -> &mut Self {
        let id = self.id();
        let json = format!(
            r#"{{"type":"{ty}","event_id":"{id}","account_id":"{account}","timestamp":"{}T12:00:00Z"{fields}}}"#,
            d(day)
        );
        let ev = parse_event(json.as_bytes()).unwrap_or_else(|e| panic!("{json}: {e}"));
        self.list.push(ev);
        self
    }

    pub fn usage(&mut self, account: &str, user: &str, day: i64) -> &mut Self {
        self.raw("usage", account, day, &format!(r#","user_id":"{user}","event":"x""#))
    }

    pub fn feature(&mut self, account: &str, user: &str, day: i64, feature: &str) -> &mut Self {
        self.raw("usage", account, day, &format!(r#","user_id":"{user}","event":"x","feature":"{feature}""#))
    }

    /// Users `u0..u{n-1}` active on `day`.
    pub fn active(&mut self, account: &str, n: u32, day: i64) -> &mut Self {
        for u in 0..n {
            self.usage(account, &format!("u{u}"), day);
        }
        self
    }

    /// Users `u0..u{n-1}` active every day of `days`.
    pub fn active_days(&mut self, account: &str, n: u32, days: std::ops::RangeInclusive<i64>) -> &mut Self {
        for day in days {
            self.active(account, n, day);
        }
        self
    }

    pub fn seats(&mut self, account: &str, day: i64, seats: u64) -> &mut Self {
        self.raw("account", account, day, &format!(r#","licensed_seats":{seats}"#))
    }

    pub fn account(&mut self, account: &str, day: i64, fields: &str) -> &mut Self {
        self.raw("account", account, day, fields)
    }

    pub fn assess(&mut self, account: &str, day: i64, dim: &str, score: f64) -> &mut Self {
        self.raw("assessment", account, day, &format!(r#","dimension":"{dim}","score":{score},"author":"csm""#))
    }

    pub fn assess_until(&mut self, account: &str, day: i64, dim: &str, score: f64, expires: i64) -> &mut Self {
        self.raw(
            "assessment",
            account,
            day,
            &format!(r#","dimension":"{dim}","score":{score},"author":"csm","expires_on":"{}""#, d(expires)),
        )
    }

    /// Assess the four non-usage dimensions.
    pub fn assess4(&mut self, account: &str, day: i64, [t, k, v, s]: [f64; 4]) -> &mut Self {
        self.assess(account, day, "technical", t)
            .assess(account, day, "knowledge", k)
            .assess(account, day, "value", v)
            .assess(account, day, "stakeholder", s)
    }

    pub fn engine(&self) -> Engine {
        self.engine_with(ScoringConfig::default())
    }

    pub fn engine_with(&self, cfg: ScoringConfig) -> Engine {
        let mut e = Engine::new(cfg);
        for ev in &self.list {
            e.apply(ev);
        }
        e
    }

    pub fn eval(&self, account: &str, day: i64) -> Evaluation {
        self.engine().evaluate(account, d(day)).expect("account exists")
    }

    pub fn eval_with(&self, cfg: &ScoringConfig, account: &str, day: i64) -> Evaluation {
        self.engine_with(cfg.clone()).evaluate(account, d(day)).expect("account exists")
    }
}

pub fn cfg(toml: &str) -> ScoringConfig {
    ScoringConfig::from_toml_str(toml).unwrap_or_else(|e| panic!("{toml}: {e}"))
}
