//! The output of a replay: each day's evaluations rendered as NDJSON on the workers
//! and written on the calling thread in account order (health before readiness),
//! then the day's alert transitions.
//!
//! A day's accounts are taken in batches; while the calling thread writes one batch,
//! the workers evaluate the next, each task a run of consecutive accounts rendered
//! into one buffer. The buffers go back to the workers once written
//! ([`Buffers`]), so after the first batches rendering allocates nothing and no
//! thread frees memory another thread allocated. Rendering each account into a
//! fresh `Vec` (grown line by line by `serde_json`) and freeing it on the writing
//! thread was what kept evaluation from scaling: at two threads every such free
//! takes the allocating thread's malloc arena lock, and the workers waited on it.

use std::io::Write;
use std::sync::{Mutex, PoisonError};

use chrono::NaiveDate;
use pulse_core::engine::Evaluation;
use pulse_core::{AlertTracker, AlertTransition};
use rayon::prelude::*;
use serde::Serialize;

use crate::replay::{Pool, ReplayError};
use crate::shard::ShardedEngine;

/// Accounts evaluated and rendered between two writes.
const EVALUATE_BATCH: usize = 1024;

/// Consecutive accounts one task evaluates and renders into one buffer: enough
/// tasks per batch for the workers to share it evenly, few enough buffers to write.
const RENDER_RUN: usize = 32;

/// Evaluates `accounts` as of `day` and, when `print`, writes their results (in
/// parallel batches, written in order, so the output never piles up in memory);
/// with `alerts`, feeds the day's results to the tracker and writes its
/// transitions after them. Returns the number of lines written.
pub(crate) fn write_day(
    engine: &ShardedEngine,
    pool: &Pool,
    accounts: &[(&str, usize)],
    day: NaiveDate,
    print: bool,
    alerts: Option<&mut AlertTracker>,
    out: &mut dyn Write,
) -> Result<u64, ReplayError> {
    let sizes = Sizes { batch: EVALUATE_BATCH, run: RENDER_RUN };
    write_day_in(engine, pool, accounts, day, print, alerts, out, sizes)
}

/// Batch and run sizes of [`write_day`] (small ones in tests, to cross every
/// boundary; the output does not depend on them).
#[derive(Debug, Clone, Copy)]
struct Sizes {
    batch: usize,
    run: usize,
}

#[allow(clippy::too_many_arguments)]
fn write_day_in(
    engine: &ShardedEngine,
    pool: &Pool,
    accounts: &[(&str, usize)],
    day: NaiveDate,
    print: bool,
    alerts: Option<&mut AlertTracker>,
    out: &mut dyn Write,
    sizes: Sizes,
) -> Result<u64, ReplayError> {
    let keep = alerts.is_some();
    let buffers = Buffers::default();
    let evaluate = |batch: &[(&str, usize)]| -> Vec<Rendered> {
        batch.par_chunks(sizes.run.max(1)).map(|run| render_run(engine, run, day, print, keep, &buffers)).collect()
    };
    let mut written = 0;
    let mut evaluations = Vec::new();
    let mut batches = accounts.chunks(sizes.batch.max(1));
    let mut current = batches.next().map(|batch| pool.install(|| evaluate(batch)));
    while let Some(rendered) = current.take() {
        // The next batch is evaluated on the workers while this thread writes this one.
        let next_batch = batches.next();
        let next = &mut current;
        pool.in_place_scope(|scope| {
            if let Some(batch) = next_batch {
                scope.spawn(|_| *next = Some(evaluate(batch)));
            }
            for run in rendered {
                out.write_all(&run.bytes).map_err(ReplayError::Write)?;
                written += run.lines;
                buffers.give_back(run.bytes);
                if let Some(error) = run.error {
                    return Err(error);
                }
                evaluations.extend(run.evaluations);
            }
            Ok::<(), ReplayError>(())
        })?;
    }
    if let Some(tracker) = alerts {
        for t in tracker.update_many(&evaluations) {
            if print {
                let line = serde_json::to_vec(&AlertLine::of(&t))?;
                out.write_all(&line).map_err(ReplayError::Write)?;
                out.write_all(b"\n").map_err(ReplayError::Write)?;
                written += 1;
            }
        }
    }
    Ok(written)
}

/// The rendered results of a run of consecutive accounts.
struct Rendered {
    /// Their lines, in account order.
    bytes: Vec<u8>,
    /// Lines in `bytes`.
    lines: u64,
    /// Their evaluations, in account order (only when alerts are tracked).
    evaluations: Vec<Evaluation>,
    /// A result that did not serialize: `bytes` holds the lines of the accounts
    /// before it, and the run stops there (as a serial replay would).
    error: Option<ReplayError>,
}

/// Evaluates `run` as of `day` (accounts that do not exist yet on `day` are left
/// out) and renders the results into a buffer from `buffers`.
fn render_run(
    engine: &ShardedEngine,
    run: &[(&str, usize)],
    day: NaiveDate,
    print: bool,
    keep: bool,
    buffers: &Buffers,
) -> Rendered {
    let mut out = Rendered {
        bytes: if print { buffers.take() } else { Vec::new() },
        lines: 0,
        evaluations: Vec::new(),
        error: None,
    };
    for (id, shard) in run {
        let Some(ev) = engine.evaluate_in(*shard, id, day) else {
            continue;
        };
        if print {
            if let Err(error) = render_into(&mut out.bytes, &ev) {
                out.error = Some(error);
                break;
            }
            out.lines += 2;
        }
        if keep {
            out.evaluations.push(ev);
        }
    }
    out
}

/// Output buffers written and handed back, for the next runs to render into.
#[derive(Default)]
struct Buffers(Mutex<Vec<Vec<u8>>>);

impl Buffers {
    /// An empty buffer: one handed back, or a new one.
    fn take(&self) -> Vec<u8> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).pop().unwrap_or_default()
    }

    fn give_back(&self, mut buf: Vec<u8>) {
        buf.clear();
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(buf);
    }
}

/// Appends the two output lines of one evaluation; on error `out` is left as it was.
fn render_into(out: &mut Vec<u8>, ev: &Evaluation) -> Result<(), ReplayError> {
    let start = out.len();
    let rendered = push_kinded(out, "health", &ev.health).and_then(|()| push_kinded(out, "readiness", &ev.readiness));
    if rendered.is_err() {
        out.truncate(start);
    }
    rendered
}

/// Appends `{"kind":"<kind>", <fields of value>}\n`: `value` is serialized in place
/// and its opening brace turned into the comma after the kind.
fn push_kinded<T: Serialize>(out: &mut Vec<u8>, kind: &str, value: &T) -> Result<(), ReplayError> {
    let start = out.len();
    out.extend_from_slice(b"{\"kind\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.push(b'"');
    let body = out.len();
    if let Err(e) = serde_json::to_writer(&mut *out, value) {
        out.truncate(start);
        return Err(e.into());
    }
    match &out[body..] {
        b"{}" => {
            out.truncate(body);
            out.push(b'}');
        }
        [b'{', ..] => out[body] = b',',
        _ => {
            out.truncate(start);
            return Err(ReplayError::Serialize(serde::ser::Error::custom(format!(
                "{kind} result is not a JSON object"
            ))));
        }
    }
    out.push(b'\n');
    Ok(())
}

/// One alert line of a series (SPEC §7). Replay sees all data at once, so it only
/// ever prints live `opened` / `resolved` transitions, never retractions.
#[derive(Serialize)]
struct AlertLine<'a> {
    kind: &'static str,
    account_id: &'a str,
    as_of: NaiveDate,
    rule: &'static str,
    state: &'static str,
    opened_on: NaiveDate,
    severity: pulse_core::config::Severity,
    message: &'a str,
    /// Null, or `churned` for a resolve caused by the account becoming former (v3).
    reason: Option<&'static str>,
}

impl<'a> AlertLine<'a> {
    fn of(t: &'a AlertTransition) -> Self {
        AlertLine {
            kind: "alert",
            account_id: &t.account_id,
            as_of: t.as_of,
            rule: t.rule.as_str(),
            state: t.state.as_str(),
            opened_on: t.opened_on,
            severity: t.severity,
            message: &t.message,
            reason: t.reason.map(|r| r.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::{load, ReplayOptions, Window};
    use pulse_core::config::ScoringConfig;
    use pulse_gen::{write_synthetic, SyntheticSpec};

    /// The lines of one evaluation as the replay printed them before runs were
    /// rendered in place: each result serialized on its own, `kind` spliced in front.
    fn reference_lines(ev: &Evaluation) -> Vec<u8> {
        let mut out = Vec::new();
        for (kind, body) in [
            ("health", serde_json::to_vec(&ev.health).expect("health")),
            ("readiness", serde_json::to_vec(&ev.readiness).expect("readiness")),
        ] {
            out.extend_from_slice(format!("{{\"kind\":\"{kind}\"").as_bytes());
            let rest = &body[1..];
            if rest != b"}" {
                out.push(b',');
            }
            out.extend_from_slice(rest);
            out.push(b'\n');
        }
        out
    }

    #[test]
    fn kinded_lines_splice_the_kind_into_the_object() {
        #[derive(Serialize)]
        struct Empty {}
        #[derive(Serialize)]
        struct One {
            a: u8,
        }
        let mut out = b"x".to_vec();
        push_kinded(&mut out, "health", &Empty {}).expect("empty object");
        push_kinded(&mut out, "readiness", &One { a: 1 }).expect("object");
        assert_eq!(out, b"x{\"kind\":\"health\"}\n{\"kind\":\"readiness\",\"a\":1}\n");
        let before = out.clone();
        assert!(push_kinded(&mut out, "health", &7u8).is_err(), "a number is not an object");
        assert_eq!(out, before, "a failed render leaves the buffer as it was");
    }

    /// Every account evaluated, once, in sorted order, for any batch and run size
    /// and thread count: compared with a serial evaluation of the same accounts.
    #[test]
    fn runs_and_batches_write_every_account_once_in_order() {
        let spec = SyntheticSpec { accounts: 37, users: 300, days: 10, events: 3_000, ..SyntheticSpec::default() };
        let mut input = Vec::new();
        write_synthetic(&spec, &mut input).expect("generate");
        let config = ScoringConfig::default();
        // A day before the data of some accounts too: those are left out.
        for day in [spec.end, spec.end - chrono::Days::new(8)] {
            let options = ReplayOptions::new(Window::as_of(day));
            let loaded = load(&input[..], &config, &options, &mut Vec::new()).expect("load");
            let engine = loaded.engine();
            let accounts = engine.sorted_accounts();
            let mut expected = Vec::new();
            let mut evaluated = 0;
            for (id, shard) in &accounts {
                if let Some(ev) = engine.evaluate_in(*shard, id, day) {
                    expected.extend(reference_lines(&ev));
                    evaluated += 1;
                }
            }
            assert!(evaluated > 10, "the test needs accounts to write");
            for threads in [1, 2, 3] {
                let pool = Pool::new(Some(threads)).expect("pool");
                for (batch, run) in [(1, 1), (2, 1), (3, 2), (5, 3), (8, 8), (7, 40), (1024, 32)] {
                    let mut out = Vec::new();
                    let sizes = Sizes { batch, run };
                    let lines =
                        write_day_in(engine, &pool, &accounts, day, true, None, &mut out, sizes).expect("write");
                    assert_eq!(lines, 2 * evaluated, "threads {threads} batch {batch} run {run}");
                    assert!(out == expected, "threads {threads} batch {batch} run {run}: output differs");
                }
            }
        }
    }
}
