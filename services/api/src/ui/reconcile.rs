//! The reconcile line of the Accuracy page: whether the stored daily results match the
//! raw events, as the last `pulse reconcile` run found (`/api/v1/reconcile`).

use maud::{html, Markup};

use crate::routes::reconcile::ReconcileStatus;

/// One line: the match ("stored results match the raw events: 60 accounts × 490
/// days"), the number of differences, or how to run the first check.
pub fn line(status: &ReconcileStatus) -> Markup {
    let Some(r) = &status.last_run else {
        return html! {
            p class="note reconcile" data-testid="reconcile" {
                "Stored results not yet checked against the raw events: run "
                code { "pulse reconcile --from YYYY-MM-DD --to YYYY-MM-DD" } "."
            }
        };
    };
    let scope = html! {
        b data-testid="reconcile-accounts" { (r.accounts) } " accounts × "
        b data-testid="reconcile-days" { (r.days) } " days"
    };
    let when = html! {
        " (" (r.from) " to " (r.to) ", checked " (r.run_at.format("%Y-%m-%d %H:%M UTC")) ")"
    };
    if r.differences == 0 {
        html! {
            p class="note reconcile ok" data-testid="reconcile" data-differences="0" {
                "Stored results match the raw events: " (scope) (when) "."
            }
        }
    } else {
        html! {
            p class="note reconcile bad" data-testid="reconcile" data-differences=(r.differences) {
                "Stored results differ from the raw events: "
                b data-testid="reconcile-differences" { (r.differences) }
                @if r.differences == 1 { " difference" } @else { " differences" }
                " over " (scope) (when) "; "
                code { "pulse reconcile --from " (r.from) " --to " (r.to) }
                " lists them."
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, NaiveDate, Utc};

    use super::*;
    use crate::routes::reconcile::{ByMeasure, Summary};

    fn status(differences: u64) -> ReconcileStatus {
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap_or_default();
        ReconcileStatus {
            last_run: Some(Summary {
                kind: "summary".into(),
                run_at: DateTime::<Utc>::UNIX_EPOCH,
                from: day(1),
                to: day(6),
                accounts: 60,
                days: 490,
                rows_compared: 26_873,
                differences,
                missing_rows: 0,
                by_measure: ByMeasure { seats: 0, dau: differences, wau: 0, mau: 0 },
                elapsed_ms: 1,
            }),
        }
    }

    #[test]
    fn the_line_says_match_differences_or_not_checked() {
        let ok = line(&status(0)).into_string();
        assert!(ok.contains("Stored results match the raw events: <b data-testid=\"reconcile-accounts\">60</b> accounts × <b data-testid=\"reconcile-days\">490</b> days"), "{ok}");
        let bad = line(&status(2)).into_string();
        assert!(
            bad.contains(">2</b> differences over")
                && bad.contains("pulse reconcile --from 2026-12-01 --to 2026-12-06"),
            "{bad}"
        );
        assert!(line(&status(1)).into_string().contains(">1</b> difference over"));
        let none = line(&ReconcileStatus { last_run: None }).into_string();
        assert!(none.contains("not yet checked"), "{none}");
    }
}
