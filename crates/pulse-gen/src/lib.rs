//! Seeded, deterministic event generators (`pulse gen`): the same spec and seed
//! always give the same bytes (ChaCha8 from a `u64` seed; no clock, no global RNG).
//!
//! - [`synthetic`]: the bench workload, sized by counts.
//! - [`demo`]: a few dozen B2B accounts whose cohorts exercise every verdict,
//!   color, red flag and CRM evidence kind, for demos, the API's fixtures and
//!   end-to-end tests.
//!
//! Output is NDJSON written to any `io::Write`. The crate depends on the scoring
//! core for its event types only: no Kafka, no ClickHouse, no async runtime, so the
//! read side can build fixtures without the streaming services.

pub mod demo;
pub mod synthetic;

use std::fmt;

use chrono::{Datelike, NaiveDate, Weekday};

pub use demo::{write_demo, Cohort, DemoSpec};
pub use synthetic::{write_synthetic, SyntheticSpec};

/// The end date used when a spec does not name one (a fixed date, so defaults
/// stay reproducible; the CLI passes today's date instead).
pub const DEFAULT_END: NaiveDate = match NaiveDate::from_ymd_opt(2026, 11, 30) {
    Some(d) => d,
    None => panic!("valid constant date"),
};

#[derive(Debug, thiserror::Error)]
pub enum GenError {
    #[error("invalid generator spec: {0}")]
    Invalid(String),
    #[error("writing events: {0}")]
    Io(#[from] std::io::Error),
}

/// Relative activity of a day: weekends are quiet.
pub(crate) fn day_weight(day: NaiveDate) -> f64 {
    match day.weekday() {
        Weekday::Sat | Weekday::Sun => 0.25,
        _ => 1.0,
    }
}

/// RFC 3339 UTC timestamps within one day, formatted without allocating a date each time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamp {
    ymd: [u8; 10],
}

impl Stamp {
    pub(crate) fn new(day: NaiveDate) -> Stamp {
        let s = day.format("%Y-%m-%d").to_string();
        let mut ymd = *b"0000-00-00";
        if s.len() == 10 {
            ymd.copy_from_slice(s.as_bytes());
        }
        Stamp { ymd }
    }

    /// The instant `secs` seconds after midnight (clamped to the day).
    pub(crate) fn at(self, secs: u32) -> StampAt {
        StampAt { ymd: self.ymd, secs: secs.min(86_399) }
    }
}

pub(crate) struct StampAt {
    ymd: [u8; 10],
    secs: u32,
}

impl fmt::Display for StampAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ymd = std::str::from_utf8(&self.ymd).map_err(|_| fmt::Error)?;
        let (h, m, s) = (self.secs / 3600, self.secs / 60 % 60, self.secs % 60);
        write!(f, "{ymd}T{h:02}:{m:02}:{s:02}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_rfc3339() {
        let day = NaiveDate::from_ymd_opt(2026, 1, 5).expect("date");
        assert_eq!(Stamp::new(day).at(0).to_string(), "2026-01-05T00:00:00Z");
        assert_eq!(Stamp::new(day).at(37_230).to_string(), "2026-01-05T10:20:30Z");
        assert_eq!(Stamp::new(day).at(99_999).to_string(), "2026-01-05T23:59:59Z");
    }
}
