//! How an event's `timestamp` is written in its serde form (the normalized JSON ingest
//! forwards, the CRM payload it stores): exactly chrono's own serde bytes (RFC 3339 in
//! UTC with `Z`, fractional seconds in 0, 3, 6 or 9 digits as needed), written into a
//! stack buffer instead of through `core::fmt`. Why: chrono formats through a dozen
//! `write!` calls per timestamp, and that was about 5% of ingest's CPU per event
//! (issue 24 item 4). Years outside 0..=9999 and leap seconds, which no validated event
//! has, go through chrono itself.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Serialize, Serializer};

/// The longest form: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
const MAX_LEN: usize = 30;

/// Serializes `ts` as chrono does (`#[serde(serialize_with = ...)]`).
pub fn serialize<S: Serializer>(ts: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; MAX_LEN];
    match write(ts, &mut buf) {
        // Only ASCII digits and separators are written.
        Some(n) => match std::str::from_utf8(&buf[..n]) {
            Ok(text) => s.serialize_str(text),
            Err(_) => ts.serialize(s),
        },
        None => ts.serialize(s),
    }
}

/// Writes `ts` into `buf` and returns its length; `None` where chrono's own formatting
/// must decide (a year outside 0..=9999, a leap second).
fn write(ts: &DateTime<Utc>, buf: &mut [u8; MAX_LEN]) -> Option<usize> {
    let (date, time) = (ts.date_naive(), ts.time());
    let year = u32::try_from(date.year()).ok().filter(|y| *y <= 9999)?;
    let nano = time.nanosecond();
    if nano >= 1_000_000_000 {
        return None;
    }
    two(buf, 0, year / 100);
    two(buf, 2, year % 100);
    buf[4] = b'-';
    two(buf, 5, date.month());
    buf[7] = b'-';
    two(buf, 8, date.day());
    buf[10] = b'T';
    two(buf, 11, time.hour());
    buf[13] = b':';
    two(buf, 14, time.minute());
    buf[16] = b':';
    two(buf, 17, time.second());
    let mut n = 19;
    let (digits, value) = if nano == 0 {
        (0, 0)
    } else if nano % 1_000_000 == 0 {
        (3, nano / 1_000_000)
    } else if nano % 1_000 == 0 {
        (6, nano / 1_000)
    } else {
        (9, nano)
    };
    if digits > 0 {
        buf[n] = b'.';
        let mut v = value;
        for i in (0..digits).rev() {
            buf[n + 1 + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        n += 1 + digits;
    }
    buf[n] = b'Z';
    Some(n + 1)
}

/// Two decimal digits of `v` (< 100) at `at`.
fn two(buf: &mut [u8; MAX_LEN], at: usize, v: u32) {
    buf[at] = b'0' + (v / 10 % 10) as u8;
    buf[at + 1] = b'0' + (v % 10) as u8;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Serialize)]
    struct Ours(#[serde(serialize_with = "serialize")] DateTime<Utc>);

    fn same(ts: DateTime<Utc>) {
        let chrono = serde_json::to_string(&ts).expect("chrono serializes");
        let ours = serde_json::to_string(&Ours(ts)).expect("ours serializes");
        assert_eq!(ours, chrono, "for {ts:?}");
    }

    fn at(secs: i64, nanos: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, nanos).expect("in chrono's range")
    }

    #[test]
    fn every_fraction_width_and_the_edges_equal_chrono() {
        for nanos in [0, 1, 10, 999, 1_000, 120_000, 999_999, 1_000_000, 500_000_000, 123_456_789, 999_999_999] {
            for secs in [0, 59, 86_399, 951_782_400, 1_793_491_200, 5_680_281_599, -62_135_596_800, 253_402_300_799] {
                same(at(secs, nanos));
            }
        }
        // Year 5 and year 10000 (the fallback), a leap second (the fallback).
        same(at(-62_009_366_400, 7_000));
        same(at(253_402_300_800, 0));
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .expect("a leap second")
            .and_utc();
        same(leap);
    }

    proptest! {
        #[test]
        fn equals_chrono(secs in -62_135_596_800i64..253_402_300_800, nanos in 0u32..1_000_000_000, round in 0usize..4) {
            let nanos = [nanos, nanos / 1_000 * 1_000, nanos / 1_000_000 * 1_000_000, 0][round];
            same(at(secs, nanos));
        }
    }
}
