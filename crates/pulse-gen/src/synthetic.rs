//! The bench workload: many accounts and users, mostly usage events (a tenth in
//! the Segment `track` format), one `account` event per account carrying its seats,
//! a few seat changes, late events and exact duplicates. Shapes are plausible, not
//! a story: the `demo` generator is the one whose accounts mean something.

use std::io::{self, Write};

use chrono::{Days, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{day_weight, GenError, Stamp};

/// What to generate; `Default` is the bench size (10k accounts, 200k users,
/// 35 days, 3M events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticSpec {
    pub accounts: u32,
    pub users: u32,
    pub days: u32,
    /// Total number of lines written (account events included).
    pub events: u64,
    /// Last day of the data (UTC).
    pub end: NaiveDate,
    pub seed: u64,
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        SyntheticSpec {
            accounts: 10_000,
            users: 200_000,
            days: 35,
            events: 3_000_000,
            end: super::DEFAULT_END,
            seed: 42,
        }
    }
}

const EVENT_NAMES: [(&str, &str); 12] = [
    ("report.viewed", "reports"),
    ("report.exported", "reports"),
    ("dashboard.viewed", "dashboards"),
    ("dashboard.created", "dashboards"),
    ("alert.created", "alerts"),
    ("integration.synced", "integrations"),
    ("workflow.run", "workflows"),
    ("workflow.edited", "workflows"),
    ("comment.added", "collaboration"),
    ("user.invited", "admin"),
    ("search.performed", "search"),
    ("login", "core"),
];

const PROFILES: [&str; 3] = ["daily", "weekly", "periodic"];
const SEGMENTS: [&str; 3] = ["smb", "mid_market", "enterprise"];

/// Data sets of at least this many days carry renewal outcomes.
const RENEWAL_MIN_DAYS: u32 = 180;

/// Share of usage lines in the Segment `track` format.
const TRACK_SHARE: f64 = 0.10;
/// Share of usage lines that are exact repeats of an earlier line.
const DUPLICATE_SHARE: f64 = 0.002;
/// Share of usage lines stamped 1..=5 days before the day they are written in.
const LATE_SHARE: f64 = 0.005;

/// Writes the synthetic NDJSON to `out`; returns the number of lines written.
pub fn write_synthetic<W: Write>(spec: &SyntheticSpec, out: W) -> Result<u64, GenError> {
    if spec.accounts == 0 || spec.days == 0 {
        return Err(GenError::Invalid("accounts and days must be at least 1".into()));
    }
    let users = spec.users.max(spec.accounts);
    let first_day = spec
        .end
        .checked_sub_days(Days::new(u64::from(spec.days - 1)))
        .ok_or_else(|| GenError::Invalid("days reach before the first representable date".into()))?;
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut out = io::BufWriter::with_capacity(1 << 20, out);
    let mut written = 0u64;

    // Per account: activity weight (a few heavy accounts, a long tail).
    let weights: Vec<f64> = (0..spec.accounts).map(|_| 0.2 + rng.random::<f64>().powi(3) * 4.0).collect();
    let cumulative = cumulate(&weights);
    let per_account = users / spec.accounts;

    // One account event per account at the start of day one, with seats.
    let stamp0 = Stamp::new(first_day);
    for a in 0..spec.accounts {
        let account_users = per_account + u32::from(a < users % spec.accounts);
        let seats = (f64::from(account_users) * rng.random_range(1.0..1.6)).round() as u32;
        let profile = PROFILES[weighted_index(&mut rng, &[5, 4, 1])];
        let segment = SEGMENTS[weighted_index(&mut rng, &[6, 3, 1])];
        let arr = rng.random_range(5..400) * 1000;
        writeln!(
            out,
            r#"{{"type":"account","event_id":"syn-a-{a}","account_id":"acct-{a:05}","timestamp":"{}","name":"Account {a}","licensed_seats":{seats},"usage_profile":"{profile}","segment":"{segment}","arr":{arr}}}"#,
            stamp0.at(a % 3600)
        )?;
        written += 1;
    }
    if written >= spec.events {
        out.flush()?;
        return Ok(written);
    }

    // Seat changes for ~5% of accounts, somewhere in the period.
    let changes = (spec.accounts / 20).min((spec.events - written) as u32 / 10);
    let mut change_days: Vec<(u32, u32)> =
        (0..changes).map(|i| (rng.random_range(0..spec.days), (i * 20) % spec.accounts)).collect();
    change_days.sort_unstable();

    // A year-long (or any >= RENEWAL_MIN_DAYS) data set also carries one renewal
    // outcome per account (SPEC §8), on a day after its first 90, so `pulse backtest`
    // has outcomes to score: lost more often for the least active accounts. Shorter
    // sets are unchanged (no draws), so the replay benchmark file stays the same.
    let mut renewals: Vec<(u32, u32)> = Vec::new();
    if spec.days >= RENEWAL_MIN_DAYS {
        let n = spec.accounts.min((spec.events - written - u64::from(changes)) as u32 / 10);
        renewals = (0..n).map(|a| (rng.random_range(90..spec.days), a)).collect();
        renewals.sort_unstable();
    }
    let mut next_renewal = 0;

    let budget = spec.events - written - u64::from(changes) - renewals.len() as u64;
    let day_weights: Vec<f64> = (0..spec.days).map(|d| day_weight(first_day + Days::new(u64::from(d)))).collect();
    let total_weight: f64 = day_weights.iter().sum();
    let mut remaining = budget;
    let mut recent: Vec<String> = Vec::with_capacity(256);
    let mut n = 0u64;
    let mut next_change = 0;
    for (d, weight) in day_weights.iter().enumerate() {
        let day = first_day + Days::new(d as u64);
        let stamp = Stamp::new(day);
        while next_change < change_days.len() && change_days[next_change].0 as usize == d {
            let a = change_days[next_change].1;
            let seats = per_account + rng.random_range(0..per_account.max(1) * 2);
            writeln!(
                out,
                r#"{{"type":"account","event_id":"syn-s-{next_change}","account_id":"acct-{a:05}","timestamp":"{}","licensed_seats":{seats}}}"#,
                stamp.at(rng.random_range(28_800..64_800))
            )?;
            written += 1;
            next_change += 1;
        }
        while next_renewal < renewals.len() && renewals[next_renewal].0 as usize == d {
            let a = renewals[next_renewal].1;
            let p_lost = if weights[a as usize] < 0.4 { 0.35 } else { 0.08 };
            let lost = rng.random_bool(p_lost);
            let outcome = match (lost, rng.random_bool(0.5)) {
                (true, true) => "churned",
                (true, false) => "contracted",
                (false, true) => "renewed",
                (false, false) => "expanded",
            };
            let before = rng.random_range(5..400) * 1000;
            let after = match outcome {
                "churned" => 0,
                "contracted" => before / 2,
                "expanded" => before * 3 / 2,
                _ => before,
            };
            writeln!(
                out,
                r#"{{"type":"renewal","event_id":"syn-r-{a}","account_id":"acct-{a:05}","timestamp":"{}","outcome":"{outcome}","renewal_on":"{day}","arr_before":{before},"arr_after":{after}}}"#,
                stamp.at(61_200)
            )?;
            written += 1;
            next_renewal += 1;
        }
        let today = if d + 1 == day_weights.len() {
            remaining
        } else {
            ((budget as f64) * weight / total_weight).round().min(remaining as f64) as u64
        };
        remaining -= today;
        for _ in 0..today {
            if !recent.is_empty() && rng.random_bool(DUPLICATE_SHARE) {
                let line = &recent[rng.random_range(0..recent.len())];
                out.write_all(line.as_bytes())?;
                written += 1;
                continue;
            }
            let a = pick(&cumulative, rng.random::<f64>() * cumulative[cumulative.len() - 1]);
            // Users of account a are a, a + accounts, a + 2*accounts, ...; the first
            // ones of each account are the most active.
            let account_users = per_account + u32::from(a < users % spec.accounts);
            let k = (rng.random::<f64>().powi(2) * f64::from(account_users)) as u32;
            let user = a + k.min(account_users - 1) * spec.accounts;
            let (event, feature) = EVENT_NAMES[rng.random_range(0..EVENT_NAMES.len())];
            let event_day = if d > 0 && rng.random_bool(LATE_SHARE) {
                let back = rng.random_range(1..=5.min(d as u64));
                Stamp::new(day - Days::new(back))
            } else {
                stamp
            };
            // Office hours mostly.
            let secs =
                if rng.random_bool(0.85) { rng.random_range(28_800..64_800) } else { rng.random_range(0..86_400) };
            let line = if rng.random_bool(TRACK_SHARE) {
                format!(
                    r#"{{"type":"track","messageId":"syn-{n}","userId":"u-{user}","event":"{event}","timestamp":"{}","context":{{"groupId":"acct-{a:05}"}},"properties":{{"feature":"{feature}"}}}}"#,
                    event_day.at(secs)
                )
            } else {
                format!(
                    r#"{{"type":"usage","event_id":"syn-{n}","account_id":"acct-{a:05}","user_id":"u-{user}","event":"{event}","feature":"{feature}","timestamp":"{}","properties":{{}}}}"#,
                    event_day.at(secs)
                )
            };
            n += 1;
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
            written += 1;
            if recent.len() < 256 {
                recent.push(line + "\n");
            } else if rng.random_bool(0.01) {
                let slot = rng.random_range(0..recent.len());
                recent[slot] = line + "\n";
            }
        }
    }
    out.flush()?;
    Ok(written)
}

fn cumulate(weights: &[f64]) -> Vec<f64> {
    let mut sum = 0.0;
    weights
        .iter()
        .map(|w| {
            sum += w;
            sum
        })
        .collect()
}

/// Index of the first cumulative weight above `x`.
fn pick(cumulative: &[f64], x: f64) -> u32 {
    cumulative.partition_point(|c| *c <= x).min(cumulative.len() - 1) as u32
}

fn weighted_index(rng: &mut ChaCha8Rng, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut x = rng.random_range(0..total);
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SyntheticSpec {
        SyntheticSpec { accounts: 20, users: 200, days: 10, events: 5_000, ..SyntheticSpec::default() }
    }

    #[test]
    fn writes_exactly_the_requested_number_of_lines() {
        let mut buf = Vec::new();
        let n = write_synthetic(&small(), &mut buf).expect("generate");
        assert_eq!(n, 5_000);
        assert_eq!(buf.iter().filter(|b| **b == b'\n').count(), 5_000);
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let gen = |seed| {
            let mut buf = Vec::new();
            write_synthetic(&SyntheticSpec { seed, ..small() }, &mut buf).expect("generate");
            buf
        };
        assert_eq!(gen(7), gen(7));
        assert_ne!(gen(7), gen(8));
    }

    #[test]
    fn a_year_carries_one_renewal_outcome_per_account() {
        let spec = SyntheticSpec { accounts: 50, users: 200, days: 365, events: 20_000, ..SyntheticSpec::default() };
        let mut buf = Vec::new();
        assert_eq!(write_synthetic(&spec, &mut buf).expect("generate"), 20_000);
        let outcomes: Vec<pulse_core::Event> = buf
            .split(|b| *b == b'\n')
            .filter(|l| l.windows(9).any(|w| w == b"\"renewal\""))
            .map(|l| pulse_core::parse_event(l).expect("valid renewal"))
            .collect();
        assert_eq!(outcomes.len(), 50);
        assert!(outcomes.iter().all(|e| e.type_name() == "renewal"));
    }

    #[test]
    fn every_line_is_json() {
        let mut buf = Vec::new();
        write_synthetic(&small(), &mut buf).expect("generate");
        for line in buf.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            serde_json::from_slice::<serde_json::Value>(line).expect("json line");
        }
    }
}
