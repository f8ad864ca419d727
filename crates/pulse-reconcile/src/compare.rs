//! Row-by-row comparison of stored and recomputed metrics (pure: no I/O).

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One row of [`crate::RECONCILE_SQL`]: the recomputed values, then the stored ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, clickhouse::Row)]
pub struct ReconcileRow {
    pub account_id: String,
    #[serde(with = "clickhouse::serde::chrono::date")]
    pub as_of: NaiveDate,
    pub seats: Option<u64>,
    pub dau: u32,
    pub wau: u32,
    pub mau: u32,
    /// Whether `account_health` holds a result for the day.
    pub stored: bool,
    pub stored_seats: Option<u32>,
    pub stored_dau: u32,
    pub stored_wau: u32,
    pub stored_mau: u32,
}

/// What differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// No stored result for a day with active users in its window.
    Row,
    Seats,
    Dau,
    Wau,
    Mau,
}

/// One difference: printed as one JSON line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// Always `difference` (tells the lines from the summary).
    pub kind: &'static str,
    pub account_id: String,
    pub day: NaiveDate,
    pub measure: Measure,
    /// The stored value (null: none; for `row`, no stored result).
    pub stored: Value,
    /// The recomputed value (for `row`: the recomputed metrics of the day).
    pub recomputed: Value,
}

/// Differences by measure.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByMeasure {
    pub seats: u64,
    pub dau: u64,
    pub wau: u64,
    pub mau: u64,
}

/// What a run compared and found: the last line of `pulse reconcile`, and what
/// `reconcile_runs` keeps.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ReconcileSummary))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Always `summary`.
    pub kind: String,
    pub run_at: DateTime<Utc>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Distinct accounts among the rows compared.
    pub accounts: u64,
    /// Distinct days among the rows compared.
    pub days: u64,
    /// (account, day) pairs compared: every stored result of the range, and every day
    /// with active users in its window.
    pub rows_compared: u64,
    /// Difference lines printed: `missing_rows` plus the measures that differ.
    pub differences: u64,
    /// Days with active users in their window and no stored result.
    pub missing_rows: u64,
    pub by_measure: ByMeasure,
    pub elapsed_ms: u64,
}

/// Accumulates a comparison row by row.
pub(crate) struct Comparison {
    from: NaiveDate,
    to: NaiveDate,
    accounts: HashSet<String>,
    days: BTreeSet<NaiveDate>,
    rows: u64,
    missing: u64,
    by_measure: ByMeasure,
    differences: Vec<Difference>,
}

impl Comparison {
    pub(crate) fn new(from: NaiveDate, to: NaiveDate) -> Self {
        Self {
            from,
            to,
            accounts: HashSet::new(),
            days: BTreeSet::new(),
            rows: 0,
            missing: 0,
            by_measure: ByMeasure::default(),
            differences: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, r: &ReconcileRow) {
        if !self.accounts.contains(&r.account_id) {
            self.accounts.insert(r.account_id.clone());
        }
        self.days.insert(r.as_of);
        self.rows += 1;
        let diff = |measure, stored, recomputed| Difference {
            kind: "difference",
            account_id: r.account_id.clone(),
            day: r.as_of,
            measure,
            stored,
            recomputed,
        };
        if !r.stored {
            self.missing += 1;
            self.differences.push(diff(
                Measure::Row,
                Value::Null,
                json!({"seats": r.seats, "dau": r.dau, "wau": r.wau, "mau": r.mau}),
            ));
            return;
        }
        let stored_seats = r.stored_seats.map(u64::from);
        if stored_seats != r.seats {
            self.by_measure.seats += 1;
            self.differences.push(diff(Measure::Seats, json!(stored_seats), json!(r.seats)));
        }
        for (measure, stored, recomputed, count) in [
            (Measure::Dau, r.stored_dau, r.dau, &mut self.by_measure.dau),
            (Measure::Wau, r.stored_wau, r.wau, &mut self.by_measure.wau),
            (Measure::Mau, r.stored_mau, r.mau, &mut self.by_measure.mau),
        ] {
            if stored != recomputed {
                *count += 1;
                self.differences.push(diff(measure, json!(stored), json!(recomputed)));
            }
        }
    }

    pub(crate) fn finish(self, run_at: DateTime<Utc>) -> (Vec<Difference>, Summary) {
        let summary = Summary {
            kind: "summary".into(),
            run_at,
            from: self.from,
            to: self.to,
            accounts: self.accounts.len() as u64,
            days: self.days.len() as u64,
            rows_compared: self.rows,
            differences: self.differences.len() as u64,
            missing_rows: self.missing,
            by_measure: self.by_measure,
            elapsed_ms: 0,
        };
        (self.differences, summary)
    }
}

/// Compares `rows` (what [`crate::RECONCILE_SQL`] returns for `from..=to`).
pub fn compare<'a>(
    rows: impl IntoIterator<Item = &'a ReconcileRow>,
    from: NaiveDate,
    to: NaiveDate,
    run_at: DateTime<Utc>,
) -> (Vec<Difference>, Summary) {
    let mut c = Comparison::new(from, to);
    for r in rows {
        c.push(r);
    }
    c.finish(run_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap_or_default()
    }

    /// A stored row equal to its recomputation.
    fn row(account: &str, d: u32, seats: Option<u32>, dau: u32, wau: u32, mau: u32) -> ReconcileRow {
        ReconcileRow {
            account_id: account.into(),
            as_of: day(d),
            seats: seats.map(u64::from),
            dau,
            wau,
            mau,
            stored: true,
            stored_seats: seats,
            stored_dau: dau,
            stored_wau: wau,
            stored_mau: mau,
        }
    }

    /// `(account, day, measure, stored, recomputed)` of each difference.
    type Line = (&'static str, u32, Measure, Value, Value);

    fn check(rows: &[ReconcileRow], want: &[Line], accounts: u64, days: u64) {
        let (diffs, s) = compare(rows, day(1), day(30), DateTime::<Utc>::UNIX_EPOCH);
        let got: Vec<(String, NaiveDate, Measure, Value, Value)> =
            diffs.into_iter().map(|d| (d.account_id, d.day, d.measure, d.stored, d.recomputed)).collect();
        let want: Vec<(String, NaiveDate, Measure, Value, Value)> =
            want.iter().map(|(a, d, m, s, r)| ((*a).to_owned(), day(*d), *m, s.clone(), r.clone())).collect();
        assert_eq!(got, want);
        assert_eq!(
            (s.accounts, s.days, s.rows_compared, s.differences),
            (accounts, days, rows.len() as u64, want.len() as u64)
        );
    }

    #[test]
    fn equal_rows_have_no_difference() {
        check(&[row("a", 1, Some(10), 1, 2, 3), row("a", 2, None, 0, 2, 3), row("b", 2, Some(0), 0, 0, 0)], &[], 2, 2);
    }

    #[test]
    fn each_differing_measure_is_one_line() {
        let mut r = row("a", 3, Some(10), 4, 5, 6);
        r.dau = 3;
        r.mau = 7;
        check(&[r], &[("a", 3, Measure::Dau, json!(4), json!(3)), ("a", 3, Measure::Mau, json!(6), json!(7))], 1, 1);
        let mut r = row("a", 3, Some(10), 4, 5, 6);
        r.wau = 0;
        check(&[r], &[("a", 3, Measure::Wau, json!(5), json!(0))], 1, 1);
    }

    #[test]
    fn seats_unknown_on_one_side_differs() {
        let mut r = row("a", 3, Some(10), 1, 1, 1);
        r.seats = None;
        let mut r2 = row("a", 4, None, 1, 1, 1);
        r2.seats = Some(5);
        let mut r3 = row("a", 5, Some(10), 1, 1, 1);
        r3.seats = Some(12);
        check(
            &[r, r2, r3],
            &[
                ("a", 3, Measure::Seats, json!(10), Value::Null),
                ("a", 4, Measure::Seats, Value::Null, json!(5)),
                ("a", 5, Measure::Seats, json!(10), json!(12)),
            ],
            1,
            3,
        );
    }

    #[test]
    fn a_missing_stored_result_is_one_row_line() {
        let mut r = row("c", 9, None, 0, 1, 2);
        r.stored = false;
        r.stored_wau = 0;
        r.stored_mau = 0;
        let (diffs, s) = compare([&r], day(1), day(30), DateTime::<Utc>::UNIX_EPOCH);
        assert_eq!(diffs.len(), 1, "one line, not one per measure: {diffs:?}");
        assert_eq!(diffs[0].measure, Measure::Row);
        assert_eq!(diffs[0].recomputed, json!({"seats": null, "dau": 0, "wau": 1, "mau": 2}));
        assert_eq!((s.missing_rows, s.differences, s.by_measure), (1, 1, ByMeasure::default()));
    }

    #[test]
    fn lines_are_json_with_kind() {
        let mut r = row("a", 3, Some(10), 4, 5, 6);
        r.dau = 3;
        let (diffs, s) = compare([&r], day(1), day(30), DateTime::<Utc>::UNIX_EPOCH);
        let line = serde_json::to_value(&diffs[0]).unwrap_or_default();
        assert_eq!(
            line,
            json!({"kind": "difference", "account_id": "a", "day": "2026-11-03", "measure": "dau", "stored": 4, "recomputed": 3})
        );
        let sum = serde_json::to_value(&s).unwrap_or_default();
        assert_eq!(
            (sum["kind"].clone(), sum["differences"].clone(), sum["by_measure"]["dau"].clone()),
            (json!("summary"), json!(1), json!(1))
        );
    }
}
