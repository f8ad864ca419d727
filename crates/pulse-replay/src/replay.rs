//! `pulse replay`: NDJSON events in, one `health` and one `readiness` line per
//! account (per day) out, computed by the same core as the services.
//!
//! Pipeline: a reader thread cuts the input into 2 MiB chunks of whole lines; each
//! chunk is split on `\n` (memchr) and parsed in parallel blocks of 2048 lines
//! (rayon, `pulse_core::parse_event`), each block noting which shard (stable hash
//! of the account id) every event belongs to; then every shard applies its events,
//! in input order, to its own [`Engine`](pulse_core::engine::Engine), shards in
//! parallel and without locks; then the blocks are dropped in parallel. At the end
//! accounts are evaluated in parallel batches and written sorted by account id
//! (health before readiness), day by day for a series. The output does not depend
//! on the number of threads, shards or the chunk size.
//!
//! Memory: the engines' state (about 32 bytes per active (account, user) and 1 KiB
//! per account) plus a few chunks in flight; never the whole input.

use std::io::{self, Read, Write};
use std::sync::mpsc;

use chrono::{DateTime, Days, NaiveDate, Utc};
use pulse_core::config::ScoringConfig;
use pulse_core::engine::Evaluation;
use pulse_core::event::{parse_event, InvalidEvent};
use pulse_core::{AlertTracker, AlertTransition};
use rayon::prelude::*;
use serde::Serialize;

use crate::chunks::{Chunk, ChunkReader, DEFAULT_CHUNK_BYTES};
use crate::shard::{Routed, ShardedEngine};

/// Lines parsed by one rayon task.
const BLOCK_LINES: usize = 2048;
/// Accounts evaluated and rendered between two writes.
const EVALUATE_BATCH: usize = 1024;

/// Which days to evaluate. Events dated after the end of the last day (UTC) are
/// ignored (and counted in [`ReplaySummary::after_cutoff`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First day evaluated.
    pub from: NaiveDate,
    /// Last day evaluated.
    pub to: NaiveDate,
}

impl Window {
    /// A single evaluation as of `day` (the spec's `--as-of D`).
    pub fn as_of(day: NaiveDate) -> Window {
        Window { from: day, to: day }
    }

    /// A daily series `from..=to` (`--from/--to`). Each day is evaluated as of its
    /// own end, exactly as `--as-of` that day would.
    pub fn series(from: NaiveDate, to: NaiveDate) -> Result<Window, ReplayError> {
        if from > to {
            return Err(ReplayError::Window(format!("--from {from} is after --to {to}")));
        }
        Ok(Window { from, to })
    }

    /// Days evaluated, in order.
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> {
        let to = self.to;
        self.from.iter_days().take_while(move |d| *d <= to)
    }
}

/// How to run a replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub window: Window,
    /// Stop at the first invalid line instead of reporting it and going on.
    pub strict: bool,
    /// Number of state shards; 0 means one per rayon thread (output is the same for any value).
    pub shards: usize,
    /// Size of the chunks the input is read in.
    pub chunk_bytes: usize,
    /// Worker threads; `None` uses rayon's global pool (one per core).
    pub threads: Option<usize>,
}

impl ReplayOptions {
    pub fn new(window: Window) -> Self {
        ReplayOptions { window, strict: false, shards: 0, chunk_bytes: DEFAULT_CHUNK_BYTES, threads: None }
    }
}

/// What a replay saw; printed by the CLI as a one-line summary on stderr.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Non-blank lines read.
    pub lines: u64,
    /// Lines that did not parse as an event (reported, not applied).
    pub invalid: u64,
    /// Valid events dated after the last day evaluated (ignored).
    pub after_cutoff: u64,
    /// Events that changed the state.
    pub applied: u64,
    /// Events that changed nothing: repeated `event_id`s, and usage by a user
    /// already counted active that day (usage is kept as one bit per user and day).
    pub duplicates: u64,
    pub beyond_horizon: u64,
    pub accounts: u64,
    /// Distinct (account, user) pairs the engines track.
    pub tracked_users: u64,
    /// Lines written to the output.
    pub output_lines: u64,
}

impl std::fmt::Display for ReplaySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "replay: events_read={} invalid={} after_as_of={} applied={} duplicates_or_repeats={} beyond_horizon={} accounts={} tracked_users={} output_lines={}",
            self.lines,
            self.invalid,
            self.after_cutoff,
            self.applied,
            self.duplicates,
            self.beyond_horizon,
            self.accounts,
            self.tracked_users,
            self.output_lines
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("line {line}: {}: {}", .error.reason.as_str(), .error.detail)]
    Invalid { line: u64, error: InvalidEvent },
    #[error("reading input: {0}")]
    Read(#[source] io::Error),
    #[error("writing output: {0}")]
    Write(#[source] io::Error),
    #[error("serializing a result: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("{0}")]
    Window(String),
    #[error("starting worker threads: {0}")]
    Threads(String),
}

/// Events loaded into sharded engines, ready to be evaluated.
pub struct Loaded {
    engine: ShardedEngine,
    window: Window,
    pool: Pool,
    pub summary: ReplaySummary,
}

/// Replays `input` and writes the results to `out`; invalid lines are reported
/// on `diagnostics` as `line N: <reason>: <detail>` (or end the replay when strict).
///
/// A series (`--from/--to`) needs the input more than once (see [`passes`]): it is
/// then read into memory first; [`replay_file`] re-reads a file instead.
pub fn replay<R: Read + Send>(
    input: R,
    config: &ScoringConfig,
    options: &ReplayOptions,
    out: &mut dyn Write,
    diagnostics: &mut dyn Write,
) -> Result<ReplaySummary, ReplayError> {
    // A single day is one pass; a series reads the input more than once (first to
    // find where the accounts' histories start, then one pass per segment).
    if options.window.from == options.window.to {
        let mut input = Some(input);
        let mut open = || -> io::Result<Box<dyn Read + Send + '_>> {
            match input.take() {
                Some(r) => Ok(Box::new(r)),
                None => Err(io::Error::other("input can be read only once")),
            }
        };
        return run_passes(&mut open, config, options, out, diagnostics);
    }
    let mut buf = Vec::new();
    let mut input = input;
    input.read_to_end(&mut buf).map_err(ReplayError::Read)?;
    let mut open = || -> io::Result<Box<dyn Read + Send + '_>> { Ok(Box::new(&buf[..])) };
    run_passes(&mut open, config, options, out, diagnostics)
}

/// [`replay`] from a file, opened again for each pass.
pub fn replay_file(
    path: &std::path::Path,
    config: &ScoringConfig,
    options: &ReplayOptions,
    out: &mut dyn Write,
    diagnostics: &mut dyn Write,
) -> Result<ReplaySummary, ReplayError> {
    let mut open = || -> io::Result<Box<dyn Read + Send + '_>> { Ok(Box::new(std::fs::File::open(path)?)) };
    run_passes(&mut open, config, options, out, diagnostics)
}

/// The segments a window is evaluated in, one pass over the input each, taking
/// events up to the end of the segment's last day. The engine keeps usage for
/// `horizon_days` plus the 56 days the windows of those days look back, so with events
/// up to `b`, days from `b - horizon_days` to `b` are exact. A longer series is cut
/// into segments of that length.
pub fn passes(window: &Window, config: &ScoringConfig) -> Vec<Window> {
    if window.from == window.to {
        return vec![*window];
    }
    let span = u64::from(config.horizon_days.max(1));
    let mut out = Vec::new();
    let mut from = window.from;
    loop {
        let to = from.checked_add_days(Days::new(span - 1)).unwrap_or(NaiveDate::MAX).min(window.to);
        out.push(Window { from, to });
        if to >= window.to {
            break;
        }
        from = to + Days::new(1);
    }
    out
}

/// Where the parallel parts run: rayon's global pool, or a pool of `threads`.
struct Pool(Option<rayon::ThreadPool>);

impl Pool {
    fn new(threads: Option<usize>) -> Result<Pool, ReplayError> {
        match threads {
            None => Ok(Pool(None)),
            Some(n) => rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map(|p| Pool(Some(p)))
                .map_err(|e| ReplayError::Threads(e.to_string())),
        }
    }

    fn threads(&self) -> usize {
        match &self.0 {
            Some(p) => p.current_num_threads(),
            None => rayon::current_num_threads(),
        }
    }

    fn install<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        match &self.0 {
            Some(p) => p.install(f),
            None => f(),
        }
    }
}

type Open<'a> = dyn FnMut() -> io::Result<Box<dyn Read + Send + 'a>> + 'a;

fn run_passes<'a>(
    open: &mut Open<'a>,
    config: &ScoringConfig,
    options: &ReplayOptions,
    out: &mut dyn Write,
    diagnostics: &mut dyn Write,
) -> Result<ReplaySummary, ReplayError> {
    let mut output_lines = 0;
    let mut last = ReplaySummary::default();
    let series = options.window.from != options.window.to;
    // A series prints alert transitions, which are a function of every day since each
    // account's first (SPEC §5, §7): the days before `from` are evaluated too, silently.
    let mut alerts = series.then(|| AlertTracker::new(config));
    let mut evaluated = options.window;
    let mut diag_done = false;
    if series {
        let input = open().map_err(ReplayError::Read)?;
        let loaded = load(input, config, options, diagnostics)?;
        diag_done = true;
        if let Some(first) = loaded.engine.first_day() {
            evaluated.from = evaluated.from.min(first);
        }
    }
    for (i, window) in passes(&evaluated, config).into_iter().enumerate() {
        let input = open().map_err(ReplayError::Read)?;
        let pass = ReplayOptions { window, ..options.clone() };
        // Invalid lines are reported once, by the first pass.
        let mut sink = io::sink();
        let diag: &mut dyn Write = if i == 0 && !diag_done { &mut *diagnostics } else { &mut sink };
        let mut loaded = load(input, config, &pass, diag)?;
        loaded.write_series(out, options.window.from, alerts.as_mut())?;
        output_lines += loaded.summary.output_lines;
        last = loaded.summary;
    }
    last.output_lines = output_lines;
    Ok(last)
}

/// Reads and applies every event of `input`.
pub fn load<R: Read + Send>(
    input: R,
    config: &ScoringConfig,
    options: &ReplayOptions,
    diagnostics: &mut dyn Write,
) -> Result<Loaded, ReplayError> {
    let pool = Pool::new(options.threads)?;
    let shards = match options.shards {
        0 => pool.threads(),
        n => n,
    };
    let mut engine = ShardedEngine::new(config, shards);
    let mut summary = ReplaySummary::default();
    let cutoff = end_of_day(options.window.to);

    std::thread::scope(|scope| {
        // The reader runs ahead by at most two chunks.
        let (tx, rx) = mpsc::sync_channel::<io::Result<Chunk>>(2);
        let chunk_bytes = options.chunk_bytes;
        scope.spawn(move || {
            let mut reader = ChunkReader::new(input, chunk_bytes);
            loop {
                let next = reader.next_chunk();
                let stop = !matches!(next, Ok(Some(_)));
                let sent = match next {
                    Ok(Some(chunk)) => tx.send(Ok(chunk)),
                    Ok(None) => Ok(()),
                    Err(e) => tx.send(Err(e)),
                };
                if stop || sent.is_err() {
                    return;
                }
            }
        });
        for chunk in rx {
            let chunk = chunk.map_err(ReplayError::Read)?;
            let mut blocks = pool.install(|| parse_chunk(&chunk, shards, cutoff));
            drop(chunk);
            for block in &mut blocks {
                summary.lines += block.lines;
                summary.after_cutoff += block.after_cutoff;
                summary.invalid += block.invalid.len() as u64;
                for (line, error) in block.invalid.drain(..) {
                    if options.strict {
                        return Err(ReplayError::Invalid { line, error });
                    }
                    writeln!(diagnostics, "line {line}: {}: {}", error.reason.as_str(), error.detail)
                        .map_err(ReplayError::Write)?;
                }
            }
            let routed: Vec<&Routed> = blocks.iter().map(|b| &b.routed).collect();
            let counts = pool.install(|| engine.apply(&routed));
            drop(routed);
            // Dropped in parallel, split like the parse: mostly freed by the
            // thread that allocated them.
            pool.install(|| blocks.into_par_iter().for_each(drop));
            summary.applied += counts.applied;
            summary.duplicates += counts.duplicates;
            summary.beyond_horizon += counts.beyond_horizon;
        }
        Ok(())
    })?;

    summary.accounts = engine.accounts_len() as u64;
    summary.tracked_users = engine.tracked_users() as u64;
    Ok(Loaded { engine, window: options.window, summary, pool })
}

impl Loaded {
    /// Writes every account's evaluation for every day of the window: day by day,
    /// accounts sorted by id, health before readiness.
    pub fn write(&mut self, out: &mut dyn Write) -> Result<(), ReplayError> {
        let from = self.window.from;
        self.write_series(out, from, None)
    }

    /// Like [`Self::write`], printing only the days from `print_from` on; with `alerts`,
    /// each day's results are fed to the tracker and the day's alert transitions follow
    /// its results (`{"kind":"alert",..}`, accounts sorted by id, rules in order).
    pub fn write_series(
        &mut self,
        out: &mut dyn Write,
        print_from: NaiveDate,
        mut alerts: Option<&mut AlertTracker>,
    ) -> Result<(), ReplayError> {
        let engine = &self.engine;
        let accounts = engine.sorted_accounts();
        let with_alerts = alerts.is_some();
        for day in self.window.days() {
            let print = day >= print_from;
            let mut evaluations = Vec::new();
            // In batches, so the rendered output never piles up in memory.
            for batch in accounts.chunks(EVALUATE_BATCH) {
                let rendered = self.pool.install(|| {
                    engine.evaluate(batch, day, |ev| {
                        let lines = if print { Some(render(ev)) } else { None };
                        (lines, with_alerts.then(|| ev.clone()))
                    })
                });
                for (lines, ev) in rendered {
                    if let Some(lines) = lines {
                        out.write_all(&lines?).map_err(ReplayError::Write)?;
                        self.summary.output_lines += 2;
                    }
                    evaluations.extend(ev);
                }
            }
            if let Some(tracker) = alerts.as_deref_mut() {
                for t in tracker.update_many(&evaluations) {
                    if print {
                        let line = serde_json::to_vec(&AlertLine::of(&t))?;
                        out.write_all(&line).map_err(ReplayError::Write)?;
                        out.write_all(b"\n").map_err(ReplayError::Write)?;
                        self.summary.output_lines += 1;
                    }
                }
            }
        }
        out.flush().map_err(ReplayError::Write)
    }

    pub fn shard_count(&self) -> usize {
        self.engine.shard_count()
    }
}

struct Block {
    lines: u64,
    after_cutoff: u64,
    invalid: Vec<(u64, InvalidEvent)>,
    routed: Routed,
}

fn parse_chunk(chunk: &Chunk, shards: usize, cutoff: DateTime<Utc>) -> Vec<Block> {
    let lines = chunk.lines();
    lines
        .par_chunks(BLOCK_LINES)
        .enumerate()
        .map(|(b, block)| {
            let first = chunk.first_line + (b * BLOCK_LINES) as u64;
            let mut out =
                Block { lines: 0, after_cutoff: 0, invalid: Vec::new(), routed: Routed::new(shards, block.len()) };
            for (i, line) in block.iter().enumerate() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                out.lines += 1;
                match parse_event(line) {
                    Ok(event) if event.timestamp() >= cutoff => out.after_cutoff += 1,
                    Ok(event) => out.routed.push(event),
                    Err(error) => out.invalid.push((first + i as u64, error)),
                }
            }
            out
        })
        .collect()
}

/// The first instant after `day` (UTC): events from it on are ignored.
fn end_of_day(day: NaiveDate) -> DateTime<Utc> {
    day.checked_add_days(Days::new(1))
        .and_then(|next| next.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
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
        }
    }
}

/// The two output lines of one evaluation.
fn render(ev: &Evaluation) -> Result<Vec<u8>, ReplayError> {
    let mut out = Vec::with_capacity(2048);
    push_kinded(&mut out, "health", &ev.health)?;
    push_kinded(&mut out, "readiness", &ev.readiness)?;
    Ok(out)
}

/// Writes `{"kind":"<kind>", <fields of value>}\n`.
fn push_kinded<T: Serialize>(out: &mut Vec<u8>, kind: &str, value: &T) -> Result<(), ReplayError> {
    let body = serde_json::to_vec(value)?;
    let Some((b'{', rest)) = body.split_first() else {
        return Err(ReplayError::Serialize(serde::ser::Error::custom(format!("{kind} result is not a JSON object"))));
    };
    out.extend_from_slice(b"{\"kind\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.push(b'"');
    if rest != b"}" {
        out.push(b',');
    }
    out.extend_from_slice(rest);
    out.push(b'\n');
    Ok(())
}
