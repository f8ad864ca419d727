//! A fast path for the common usage line: a native `usage` event or a Segment
//! `track` call written compactly, with plain ASCII strings. It borrows the ids
//! from the input (no allocation) and skips `properties` instead of building a
//! `serde_json::Value` tree (scoring never reads them).
//!
//! It is a strict *subset* recognizer: it accepts a line only when it is sure that
//! [`pulse_core::parse_event`] accepts it and yields the same account, event id,
//! user, feature and timestamp; anything else (escapes, non-ASCII, `null`, nested or
//! non-string properties, unknown or repeated keys, unusual timestamps, over-long or
//! empty values, invalid JSON) returns `None` and the caller falls back to
//! `parse_event`, which then decides, classifies errors and so on. The equivalence
//! is tested in `tests` below and in `tests/fast_parse.rs` (random lines and
//! mutations of them).

use pulse_core::event::{MAX_EVENT_NAME_CHARS, MAX_FEATURE_CHARS, MAX_ID_CHARS};

/// The fields of a usage event the engine needs, borrowed from the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FastUsage<'a> {
    pub account_id: &'a str,
    pub event_id: &'a str,
    pub user_id: &'a str,
    /// `None` when absent or empty (as `parse_event` treats it).
    pub feature: Option<&'a str>,
    /// Microseconds since the epoch (`DateTime::timestamp_micros`).
    pub ts_us: i64,
}

/// The keys the fast path knows; any other key makes it give up.
#[derive(Default)]
struct Slots<'a> {
    ty: Option<&'a str>,
    event_id: Option<&'a str>,
    account_id: Option<&'a str>,
    user_id: Option<&'a str>,
    event: Option<&'a str>,
    feature: Option<&'a str>,
    timestamp: Option<&'a str>,
    message_id: Option<&'a str>,
    seg_user_id: Option<&'a str>,
    anonymous_id: Option<&'a str>,
    /// `properties` seen (an object of plain strings): its `account_id` and `feature`.
    properties: Option<Props<'a>>,
    /// `context` seen (an object whose only key is `groupId`, a plain string).
    context: Option<Option<&'a str>>,
}

#[derive(Default, Clone, Copy)]
struct Props<'a> {
    account_id: Option<&'a str>,
    feature: Option<&'a str>,
}

/// Bytes that end the fast scan of a string: its closing quote, or what the fast
/// path leaves to serde_json (an escape, a control character).
const STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = true;
        c += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Index of the first [`STOP`] byte of `b`: eight bytes at a time (SWAR), the
/// tail one by one.
#[inline]
fn stop(b: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while let Some(word) = b.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let x = u64::from_le_bytes(w);
        // Per byte: below 0x20, or equal to `"`, or equal to `\`. The lowest flagged
        // byte is exact (borrows only propagate upwards).
        let q = x ^ (ONES * u64::from(b'"'));
        let e = x ^ (ONES * u64::from(b'\\'));
        let flags = (x.wrapping_sub(ONES * 0x20) & !x & HIGH)
            | (q.wrapping_sub(ONES) & !q & HIGH)
            | (e.wrapping_sub(ONES) & !e & HIGH);
        if flags != 0 {
            return Some(i + (flags.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i..].iter().position(|&c| STOP[usize::from(c)]).map(|p| i + p)
}

struct Cursor<'a> {
    /// The line, valid UTF-8 (checked once, as `parse_event` does).
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn ws(&mut self) {
        while let Some(c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    #[inline]
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    /// A string without escapes or control characters, so its content is exactly
    /// what serde_json would decode.
    #[inline]
    fn plain_str(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        let end = start + stop(self.b.get(start..)?)?;
        if self.b[end] != b'"' {
            return None;
        }
        self.i = end + 1;
        // Both ends are ASCII quotes: char boundaries.
        self.text.get(start..end)
    }
}

/// Recognizes a compact usage line (see the module doc); `None` means "ask
/// `parse_event`", never "invalid".
pub fn parse_usage(line: &[u8]) -> Option<FastUsage<'_>> {
    let text = std::str::from_utf8(line).ok()?;
    let mut c = Cursor { text, b: line, i: 0 };
    c.eat(b'{')?;
    let mut s = Slots::default();
    if c.peek()? == b'}' {
        return None;
    }
    loop {
        let key = c.plain_str()?;
        c.eat(b':')?;
        let slot = match key {
            "type" => &mut s.ty,
            "event_id" => &mut s.event_id,
            "account_id" => &mut s.account_id,
            "user_id" => &mut s.user_id,
            "event" => &mut s.event,
            "feature" => &mut s.feature,
            "timestamp" => &mut s.timestamp,
            "messageId" => &mut s.message_id,
            "userId" => &mut s.seg_user_id,
            "anonymousId" => &mut s.anonymous_id,
            "properties" => {
                if s.properties.is_some() {
                    return None;
                }
                s.properties = Some(props(&mut c)?);
                if !next(&mut c)? {
                    break;
                }
                continue;
            }
            "context" => {
                if s.context.is_some() {
                    return None;
                }
                s.context = Some(context(&mut c)?);
                if !next(&mut c)? {
                    break;
                }
                continue;
            }
            _ => return None,
        };
        if slot.is_some() {
            return None;
        }
        *slot = Some(c.plain_str()?);
        if !next(&mut c)? {
            break;
        }
    }
    // Only whitespace may follow the object.
    c.ws();
    if c.i != line.len() {
        return None;
    }
    match s.ty? {
        "usage" => usage(&s),
        "track" => track(&s),
        _ => None,
    }
}

/// After a value: `,` (true, another member follows) or `}` (false).
#[inline]
fn next(c: &mut Cursor<'_>) -> Option<bool> {
    match c.peek()? {
        b',' => {
            c.i += 1;
            Some(true)
        }
        b'}' => {
            c.i += 1;
            Some(false)
        }
        _ => None,
    }
}

/// `properties`: an object whose values are all plain strings, keys not repeated
/// (serde_json's map would keep the last copy; the fast path does not guess).
fn props<'a>(c: &mut Cursor<'a>) -> Option<Props<'a>> {
    c.eat(b'{')?;
    let mut p = Props::default();
    if c.peek()? == b'}' {
        c.i += 1;
        return Some(p);
    }
    let mut seen: [&str; 8] = [""; 8];
    let mut n = 0;
    loop {
        let key = c.plain_str()?;
        c.eat(b':')?;
        let value = c.plain_str()?;
        if n == seen.len() || seen[..n].contains(&key) {
            return None;
        }
        seen[n] = key;
        n += 1;
        match key {
            "account_id" => p.account_id = Some(value),
            "feature" => p.feature = Some(value),
            _ => {}
        }
        if !next(c)? {
            return Some(p);
        }
    }
}

/// `context`: `{}` or `{"groupId":"..."}`.
fn context<'a>(c: &mut Cursor<'a>) -> Option<Option<&'a str>> {
    c.eat(b'{')?;
    if c.peek()? == b'}' {
        c.i += 1;
        return Some(None);
    }
    if c.plain_str()? != "groupId" {
        return None;
    }
    c.eat(b':')?;
    let g = c.plain_str()?;
    c.eat(b'}')?;
    Some(Some(g))
}

/// A required id-like string: present, non-empty, at most `max` chars (checked on
/// bytes: longer byte strings give up, `parse_event` counts their chars).
#[inline]
fn req(v: Option<&str>, max: usize) -> Option<&str> {
    v.filter(|s| !s.is_empty() && s.len() <= max)
}

/// An optional feature: absent or empty is `None`; too long gives up.
#[inline]
fn opt_feature(v: Option<&str>) -> Option<Option<&str>> {
    match v {
        None => Some(None),
        Some(f) if f.len() > MAX_FEATURE_CHARS => None,
        Some(f) => Some(Some(f).filter(|f| !f.is_empty())),
    }
}

fn usage<'a>(s: &Slots<'a>) -> Option<FastUsage<'a>> {
    let event_id = req(s.event_id, MAX_ID_CHARS)?;
    let account_id = req(s.account_id, MAX_ID_CHARS)?;
    let ts_us = timestamp_us(s.timestamp?)?;
    let user_id = req(s.user_id, MAX_ID_CHARS)?;
    req(s.event, MAX_EVENT_NAME_CHARS)?;
    let feature = opt_feature(s.feature)?;
    Some(FastUsage { account_id, event_id, user_id, feature, ts_us })
}

fn track<'a>(s: &Slots<'a>) -> Option<FastUsage<'a>> {
    let event_id = req(s.message_id, MAX_ID_CHARS)?;
    let user_id = match (s.seg_user_id, s.anonymous_id) {
        (Some(u), _) => req(Some(u), MAX_ID_CHARS)?,
        (None, Some(a)) => req(Some(a), MAX_ID_CHARS)?,
        (None, None) => return None,
    };
    req(s.event, MAX_EVENT_NAME_CHARS)?;
    let ts_us = timestamp_us(s.timestamp?)?;
    let props = s.properties.unwrap_or_default();
    let group = match s.context {
        None | Some(None) => None,
        Some(Some(g)) if g.len() > MAX_ID_CHARS => return None,
        Some(Some(g)) => Some(g).filter(|g| !g.is_empty()),
    };
    let account_id = match group {
        Some(g) => g,
        None => req(props.account_id, MAX_ID_CHARS)?,
    };
    let feature = match props.feature {
        None => opt_feature(s.feature)?,
        Some(f) => opt_feature(Some(f))?,
    };
    Some(FastUsage { account_id, event_id, user_id, feature, ts_us })
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut n = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u32::from(c - b'0');
    }
    Some(n)
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+HH:MM|-HH:MM)`, the RFC 3339 forms the fast
/// path is sure chrono reads the same way (no leap second, no lowercase, no space).
fn timestamp_us(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let (h, m, sec) = (digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?);
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0u32;
    if b[i] == b'.' {
        let start = i + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        let n = end - start;
        if n == 0 || n > 9 {
            return None;
        }
        nanos = digits(&b[start..end])? * 10u32.pow((9 - n) as u32);
        i = end;
    }
    let offset_s: i64 = match &b[i..] {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), oh1, oh2, b':', om1, om2] => {
            let oh = digits(&[*oh1, *oh2])?;
            let om = digits(&[*om1, *om2])?;
            if oh > 23 || om > 59 {
                return None;
            }
            let s = i64::from(oh * 3600 + om * 60);
            if *sign == b'-' {
                -s
            } else {
                s
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day)?;
    let utc_s = days * 86_400 + i64::from(h * 3600 + m * 60 + sec) - offset_s;
    // Outside the storable range (SPEC v3 §1): the slow path reports `out_of_range`.
    if !(FIRST_DAY..=LAST_DAY).contains(&utc_s.div_euclid(86_400)) {
        return None;
    }
    Some(utc_s * 1_000_000 + i64::from(nanos / 1000))
}

/// [`pulse_core::event::MIN_DATE`] and [`pulse_core::event::MAX_DATE`] as day
/// numbers (checked in the tests).
const FIRST_DAY: i64 = 0;
const LAST_DAY: i64 = match days_from_civil(2149, 6, 6) {
    Some(d) => d,
    None => 0,
};

/// Days since 1970-01-01 of a proleptic Gregorian date, `None` when there is no
/// such date (month or day out of range, February 29 of a common year): the dates
/// `NaiveDate::from_ymd_opt` accepts for years 0 to 9999 (H. Hinnant's
/// `days_from_civil`, checked against chrono in the tests).
const fn days_from_civil(year: u32, month: u32, day: u32) -> Option<i64> {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > month_days {
        return None;
    }
    // Years start in March, so that the leap day is the last of its year.
    let y = year as i64 - if month <= 2 { 1 } else { 0 };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use pulse_core::event::Event;
    use pulse_core::parse_event;

    /// What `parse_event` makes of a line, in the fast path's terms.
    fn slow(line: &str) -> Option<(String, String, String, Option<String>, i64)> {
        match parse_event(line.as_bytes()).ok()? {
            Event::Usage(u) => Some((u.account_id, u.event_id, u.user_id, u.feature, u.timestamp.timestamp_micros())),
            _ => None,
        }
    }

    fn fast(line: &str) -> Option<(String, String, String, Option<String>, i64)> {
        parse_usage(line.as_bytes()).map(|f| {
            (
                f.account_id.to_owned(),
                f.event_id.to_owned(),
                f.user_id.to_owned(),
                f.feature.map(str::to_owned),
                f.ts_us,
            )
        })
    }

    /// The fast path either gives up or agrees with `parse_event`.
    pub(crate) fn check(line: &str) -> bool {
        match fast(line) {
            None => false,
            Some(f) => {
                assert_eq!(Some(&f), slow(line).as_ref(), "fast path disagrees on {line:?}");
                true
            }
        }
    }

    const NATIVE: &str = r#"{"type":"usage","event_id":"syn-1985672","account_id":"acct-03957","user_id":"u-3957","event":"dashboard.viewed","feature":"dashboards","timestamp":"2026-11-18T16:11:00Z","properties":{}}"#;
    const TRACK: &str = r#"{"type":"track","messageId":"syn-45","userId":"u-28841","event":"comment.added","timestamp":"2026-10-27T13:25:25Z","context":{"groupId":"acct-08841"},"properties":{"feature":"collaboration"}}"#;

    #[test]
    fn stop_finds_the_first_stop_byte() {
        let naive = |b: &[u8]| b.iter().position(|&c| STOP[usize::from(c)]);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..40 {
            for _ in 0..2000 {
                let b: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        // Mostly printable, some quotes, backslashes, controls, high bytes.
                        [b'a', b'"', b'\\', 0x1f, 0x20, 0x7f, 0x80, 0xff, b'!', 0x00][(x % 10) as usize]
                            .wrapping_add(if x.is_multiple_of(3) { (x >> 8) as u8 % 3 } else { 0 })
                    })
                    .collect();
                assert_eq!(stop(&b), naive(&b), "{b:?}");
            }
        }
    }

    #[test]
    fn days_from_civil_agrees_with_chrono() {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
        for year in (0..=2400).chain([9999]) {
            for month in 0..=13 {
                for day in 0..=32 {
                    let chrono = NaiveDate::from_ymd_opt(year as i32, month, day).map(|d| (d - epoch).num_days());
                    assert_eq!(days_from_civil(year, month, day), chrono, "{year}-{month}-{day}");
                }
            }
        }
        assert_eq!(NaiveDate::from_ymd_opt(1970, 1, 1), Some(pulse_core::event::MIN_DATE));
        assert_eq!(epoch.checked_add_signed(chrono::Duration::days(LAST_DAY)), Some(pulse_core::event::MAX_DATE));
    }

    #[test]
    fn timestamps_agree_with_chrono() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for _ in 0..200_000 {
            let year = [1969, 1970, 2026, 2149, 2150, 2024, 2000, 2100][next(8) as usize] + next(2) as u32;
            let frac = match next(4) {
                0 => String::new(),
                1 => format!(".{}", next(10)),
                2 => format!(".{:06}", next(1_000_000)),
                _ => format!(".{:09}", next(1_000_000_000)),
            };
            let zone = match next(3) {
                0 => "Z".to_string(),
                sign => format!("{}{:02}:{:02}", if sign == 1 { '+' } else { '-' }, next(24), next(60)),
            };
            let t = format!(
                "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}{frac}{zone}",
                1 + next(12),
                1 + next(31),
                next(24),
                next(60),
                next(60)
            );
            let slow = chrono::DateTime::parse_from_rfc3339(&t)
                .ok()
                .map(|d| d.with_timezone(&chrono::Utc))
                .filter(|d| pulse_core::event::timestamp_in_range(*d))
                .map(|d| d.timestamp_micros());
            assert_eq!(timestamp_us(&t), slow, "{t}");
        }
    }

    #[test]
    fn the_generators_lines_take_the_fast_path() {
        assert!(check(NATIVE));
        assert!(check(TRACK));
        let spaced = NATIVE.replace(',', " ,\t").replace("\":", "\" : ").replace('{', "{ ");
        assert!(check(&spaced));
    }

    #[test]
    fn variants_agree_or_fall_back() {
        let cases = [
            NATIVE.replace(r#","feature":"dashboards""#, ""),
            NATIVE.replace(r#""dashboards""#, r#""""#),
            NATIVE.replace(r#""properties":{}"#, r#""properties":{"a":"b","c":"d"}"#),
            NATIVE.replace(r#""properties":{}"#, r#""properties":{"a":"b","a":"d"}"#),
            NATIVE.replace(r#""properties":{}"#, r#""properties":[]"#),
            NATIVE.replace(r#""properties":{}"#, r#""properties":{"a":1}"#),
            NATIVE.replace(r#""properties":{}"#, r#""properties":null"#),
            NATIVE.replace(r#","properties":{}"#, ""),
            NATIVE.replace("16:11:00Z", "16:11:00.123456789Z"),
            NATIVE.replace("16:11:00Z", "16:11:00.1234567891Z"),
            NATIVE.replace("16:11:00Z", "16:11:00+05:30"),
            NATIVE.replace("16:11:00Z", "16:11:00-23:59"),
            NATIVE.replace("16:11:00Z", "16:11:60Z"),
            NATIVE.replace("16:11:00Z", "16:11:00z"),
            NATIVE.replace("2026-11-18", "2026-02-29"),
            NATIVE.replace("2026-11-18", "2024-02-29"),
            NATIVE.replace("2026-11-18", "0000-01-01"),
            // The storable range (SPEC v3 §1): outside it the slow path says `out_of_range`.
            NATIVE.replace("2026-11-18", "2150-01-01"),
            NATIVE.replace("2026-11-18", "2149-06-06"),
            NATIVE.replace("2026-11-18T16:11:00Z", "1969-12-31T23:59:59Z"),
            NATIVE.replace("2026-11-18T16:11:00Z", "1970-01-01T00:30:00+01:00"),
            NATIVE.replace("2026-11-18T16:11:00Z", "2149-06-06T23:30:00-01:00"),
            NATIVE.replace("2026-11-18T16:11:00Z", "1970-01-01T00:00:00Z"),
            NATIVE.replace("T16", " 16"),
            NATIVE.replace("acct-03957", ""),
            NATIVE.replace("acct-03957", &"a".repeat(128)),
            NATIVE.replace("acct-03957", &"a".repeat(129)),
            NATIVE.replace("acct-03957", "acct-\\u0041"),
            NATIVE.replace("acct-03957", "acct-é"),
            NATIVE.replace("u-3957", ""),
            NATIVE.replace(r#""user_id":"u-3957","#, ""),
            NATIVE.replace(r#""event":"dashboard.viewed","#, ""),
            NATIVE.replace(r#""type":"usage","#, r#""type":"usage","type":"usage","#),
            NATIVE.replace(r#""type":"usage","#, r#""x":1,"type":"usage","#),
            NATIVE.replace(r#""type":"usage","#, r#""messageId":"m","type":"usage","#),
            NATIVE.replace(r#""type":"usage""#, r#""type":"account""#),
            format!("{NATIVE} "),
            format!("{NATIVE}x"),
            format!("{NATIVE}}}"),
            NATIVE.replacen('{', "[", 1),
            NATIVE.replace("}}", "}"),
            TRACK.replace(r#""context":{"groupId":"acct-08841"},"#, ""),
            TRACK.replace(r#""context":{"groupId":"acct-08841"}"#, r#""context":{}"#),
            TRACK.replace(r#""groupId":"acct-08841""#, r#""groupId":"""#),
            TRACK.replace(r#""groupId":"acct-08841""#, r#""groupId":"","x":"y""#),
            TRACK.replace(
                r#""properties":{"feature":"collaboration"}"#,
                r#""properties":{"feature":"collaboration","account_id":"acct-1"}"#,
            ),
            TRACK
                .replace(r#""context":{"groupId":"acct-08841"},"#, "")
                .replace(r#""properties":{"feature":"collaboration"}"#, r#""properties":{"account_id":"acct-1"}"#),
            TRACK
                .replace(r#""context":{"groupId":"acct-08841"},"#, "")
                .replace(r#""properties":{"feature":"collaboration"}"#, r#""properties":{"account_id":""}"#),
            TRACK
                .replace(r#""properties":{"feature":"collaboration"}"#, r#""properties":{"feature":""},"feature":"x""#),
            TRACK.replace(r#""properties":{"feature":"collaboration"}"#, r#""properties":{},"feature":"x""#),
            TRACK.replace(r#""userId":"u-28841""#, r#""anonymousId":"anon-1""#),
            TRACK.replace(r#""userId":"u-28841""#, r#""userId":"","anonymousId":"anon-1""#),
            TRACK.replace(r#""userId":"u-28841""#, r#""userId":"u","anonymousId":"anon-1""#),
            TRACK.replace(r#""userId":"u-28841","#, ""),
            TRACK.replace(r#""messageId":"syn-45","#, r#""event_id":"e","#),
        ];
        let mut taken = 0;
        for line in &cases {
            if check(line) {
                taken += 1;
            }
            // Every prefix of a line is invalid JSON: the fast path must give up.
            for cut in [1, line.len() / 2, line.len() - 1] {
                check(&line[..line.floor_char_boundary(cut)]);
            }
        }
        assert!(taken > 15, "{taken}");
    }
}
