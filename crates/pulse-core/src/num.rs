//! Small numeric helpers shared by the scoring modules: UTC day numbers and the one
//! rounding rule used for every published number.

use chrono::{DateTime, NaiveDate, Utc};

/// Days since 1970-01-01 (UTC). Day arithmetic on plain integers keeps the hot path
/// free of calendar math.
pub type Day = i32;

/// `NaiveDate::num_days_from_ce` of 1970-01-01.
const EPOCH_CE: i32 = 719_163;

/// The UTC day an instant belongs to.
pub fn day_of(ts: DateTime<Utc>) -> Day {
    // Valid chrono timestamps are within +-262,000 years: the quotient fits i32.
    ts.timestamp().div_euclid(86_400) as Day
}

pub fn day_from_date(d: NaiveDate) -> Day {
    chrono::Datelike::num_days_from_ce(&d) - EPOCH_CE
}

/// Inverse of [`day_from_date`]; saturates at chrono's range instead of panicking.
pub fn date_from_day(d: Day) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(d.saturating_add(EPOCH_CE)).unwrap_or(if d < 0 {
        NaiveDate::MIN
    } else {
        NaiveDate::MAX
    })
}

/// Round half away from zero to `decimals`, after absorbing binary noise: 10 x 0.7
/// is 6.999999999999999 in f64 and must publish as 7.0, and 8.25 must publish as 8.3
/// even when computed as 8.2499999999.
pub fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    let out = x.signum() * (x.abs() * f + 1e-6).round() / f;
    if out == 0.0 {
        0.0 // no "-0.0" in JSON
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding() {
        let cases = [
            (8.3, 2, 8.3),
            (10.0 * 0.7, 1, 7.0),
            (8.25, 1, 8.3),
            (8.249_999_999_9, 1, 8.3),
            (8.24, 1, 8.2),
            (-12.35, 1, -12.4),
            (-0.01, 1, 0.0),
            (1.0 / 3.0 * 100.0, 2, 33.33),
        ];
        for (x, d, want) in cases {
            assert_eq!(round(x, d), want, "round({x}, {d})");
        }
    }

    #[test]
    fn days() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 2).expect("valid");
        assert_eq!(date_from_day(day_from_date(d)), d);
        assert_eq!(day_from_date(NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid")), 0);
        let ts = DateTime::parse_from_rfc3339("1969-12-31T23:59:59Z").expect("valid").with_timezone(&Utc);
        assert_eq!(day_of(ts), -1);
    }
}
