//! `pulse replay`: NDJSON events in, one `health` and one `readiness` line per
//! account (per day) out, computed by the same core as the services.
//!
//! Pipeline: the input is cut into 2 MiB chunks of whole lines: a regular file
//! ([`replay_file`]) into parts that the workers read themselves, by position
//! ([`crate::chunks::read_part`]), a stream (stdin, a pipe) by a reader thread.
//! Chunks are taken in groups (one per thread), cut into blocks of about 128 KiB on
//! line ends, and the blocks parsed in parallel (rayon) while the previous group is
//! applied. Compact usage lines take the allocation-free fast path
//! ([`crate::fast`], the account id left in the chunk, the rest reduced to a
//! [`UsageKey`]); anything else goes through `pulse_core::parse_event`. Each block
//! sorts its events by shard (stable hash of the account id); every shard applies
//! its events, in input order, to its own [`Engine`](pulse_core::engine::Engine),
//! shards in parallel and without locks. At the end accounts are evaluated in
//! parallel batches and written sorted by account id (health before readiness).
//! A series reads the input once into a [`DayByDay`] and evaluates day by day.
//! The output does not depend on the number of threads, shards or the chunk size.
//!
//! Memory: the engines' state plus a few groups of chunks in flight; a series or a
//! set of (account, day) requests also keeps the events, 32 bytes per usage event.

use std::io::{self, Read, Write};
use std::sync::mpsc;

use chrono::{DateTime, Days, NaiveDate, Utc};
use pulse_core::config::ScoringConfig;
use pulse_core::engine::{Evaluation, UsageKey};
use pulse_core::event::{parse_event, InvalidEvent};
use pulse_core::AlertTracker;
use rayon::prelude::*;

#[cfg(unix)]
use crate::chunks::{part_count, read_part};
use crate::chunks::{Chunk, ChunkReader, DEFAULT_CHUNK_BYTES};
use crate::fast;
use crate::output::write_day;
use crate::shard::{account_hash, shard_of, ApplyCounts, Blocks, EventStore, Item, Routed, ShardedEngine};

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
    /// Events an as-of replay gathers by account before applying them (output is the
    /// same for any value; memory is 32 bytes per gathered usage event).
    pub apply_batch: usize,
}

impl ReplayOptions {
    pub fn new(window: Window) -> Self {
        ReplayOptions {
            window,
            strict: false,
            shards: 0,
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            threads: None,
            apply_batch: APPLY_BATCH,
        }
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
/// The input is read once, also for a series (`--from/--to`): see [`DayByDay`].
pub fn replay<R: Read + Send>(
    input: R,
    config: &ScoringConfig,
    options: &ReplayOptions,
    out: &mut dyn Write,
    diagnostics: &mut dyn Write,
) -> Result<ReplaySummary, ReplayError> {
    replay_input(Input::Stream(input), config, options, out, diagnostics)
}

/// Where the events are read from.
enum Input<R> {
    /// Read in order by a reader thread.
    Stream(R),
    /// A regular file: its parts are read by position on the workers.
    #[cfg(unix)]
    File(std::fs::File),
}

fn replay_input<R: Read + Send>(
    input: Input<R>,
    config: &ScoringConfig,
    options: &ReplayOptions,
    out: &mut dyn Write,
    diagnostics: &mut dyn Write,
) -> Result<ReplaySummary, ReplayError> {
    if options.window.from == options.window.to {
        let mut loaded = load_input(input, config, options, diagnostics)?;
        loaded.write(out)?;
        let Loaded { engine, pool, summary, .. } = loaded;
        // Freeing the state (one table per account) in parallel, not on this thread
        // after everything else.
        pool.install(|| engine.drop_in_parallel());
        return Ok(summary);
    }
    replay_series(input, config, options, out, diagnostics)
}

/// [`replay`] from a file. A regular file is read by the workers themselves, each
/// its own parts by position (no reader thread beside them); anything else (a pipe,
/// a device) as a stream.
pub fn replay_file(
    path: &std::path::Path,
    config: &ScoringConfig,
    options: &ReplayOptions,
    out: &mut dyn Write,
    diagnostics: &mut dyn Write,
) -> Result<ReplaySummary, ReplayError> {
    let file = std::fs::File::open(path).map_err(ReplayError::Read)?;
    #[cfg(unix)]
    if file.metadata().map_err(ReplayError::Read)?.is_file() {
        return replay_input(Input::<std::fs::File>::File(file), config, options, out, diagnostics);
    }
    replay(file, config, options, out, diagnostics)
}

/// A series: one read into a [`DayByDay`], then each day from the first day of any
/// account's data (alert transitions are a function of every day since, SPEC §5,
/// §7: the days before `from` are evaluated too, silently) to `to`: its events
/// applied, then every account evaluated and the day's results and alert
/// transitions written.
fn replay_series<R: Read + Send>(
    input: Input<R>,
    config: &ScoringConfig,
    options: &ReplayOptions,
    out: &mut dyn Write,
    diagnostics: &mut dyn Write,
) -> Result<ReplaySummary, ReplayError> {
    let mut days = DayByDay::load_input(input, config, options, diagnostics)?;
    let mut alerts = AlertTracker::new(config);
    let first = days.first_day().map_or(options.window.from, |d| d.min(options.window.from));
    let window = Window { from: first, to: options.window.to };
    for day in window.days() {
        days.advance_to(day)?;
        let engine = &days.engine;
        let accounts = engine.sorted_accounts();
        let lines = write_day(engine, &days.pool, &accounts, day, day >= options.window.from, Some(&mut alerts), out)?;
        days.summary.output_lines += lines;
    }
    out.flush().map_err(ReplayError::Write)?;
    days.summary.accounts = days.engine.accounts_len() as u64;
    days.summary.tracked_users = days.engine.tracked_users() as u64;
    Ok(days.summary.clone())
}

/// Segments of a window for which one [`load`] each is exact (replay itself no longer
/// needs them: [`DayByDay`] reads the input once for any window), taking
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
pub(crate) struct Pool(Option<rayon::ThreadPool>);

impl Pool {
    pub(crate) fn new(threads: Option<usize>) -> Result<Pool, ReplayError> {
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

    pub(crate) fn install<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        match &self.0 {
            Some(p) => p.install(f),
            None => f(),
        }
    }

    /// Runs `op` on this thread; what it spawns runs on the pool's threads.
    pub(crate) fn in_place_scope<'scope, R>(&self, op: impl FnOnce(&rayon::Scope<'scope>) -> R) -> R {
        match &self.0 {
            Some(p) => p.in_place_scope(op),
            None => rayon::in_place_scope(op),
        }
    }
}

/// Reads and applies every event of `input` dated up to the end of the window's
/// last day.
pub fn load<R: Read + Send>(
    input: R,
    config: &ScoringConfig,
    options: &ReplayOptions,
    diagnostics: &mut dyn Write,
) -> Result<Loaded, ReplayError> {
    load_input(Input::Stream(input), config, options, diagnostics)
}

fn load_input<R: Read + Send>(
    input: Input<R>,
    config: &ScoringConfig,
    options: &ReplayOptions,
    diagnostics: &mut dyn Write,
) -> Result<Loaded, ReplayError> {
    let pool = Pool::new(options.threads)?;
    let shards = shard_count(options, &pool);
    let mut engine = ShardedEngine::new(config, shards);
    let mut summary = ReplaySummary::default();
    let mut counts = ApplyCounts::default();
    // Events are gathered by account and applied a batch at a time (see
    // `EventStore::apply_newest_first`: about 1.5x faster than applying them in
    // input order), so the gathered keys stay under `apply_batch` x 32 bytes.
    let mut store = EventStore::new(shards);
    read_blocks(input, config, options, shards, &pool, &mut summary, diagnostics, |blocks| {
        store.store(blocks);
        if store.len() >= options.apply_batch.max(1) {
            counts.add(store.apply_newest_first(&mut engine));
        }
    })?;
    counts.add(pool.install(|| store.apply_newest_first(&mut engine)));
    summary.applied = counts.applied;
    summary.duplicates = counts.duplicates;
    summary.beyond_horizon = counts.beyond_horizon;
    summary.accounts = engine.accounts_len() as u64;
    summary.tracked_users = engine.tracked_users() as u64;
    Ok(Loaded { engine, window: options.window, summary, pool })
}

fn shard_count(options: &ReplayOptions, pool: &Pool) -> usize {
    match options.shards {
        0 => pool.threads(),
        n => n,
    }
}

/// The input's events kept in memory (see [`EventStore`]: 32 bytes per usage
/// event), fed to sharded engines day by day: after [`Self::advance_to`] a day, the
/// engines hold exactly the events up to the end of that day, so evaluating any
/// account then equals `pulse replay --as-of` that day (the engine's "streaming
/// equals replay" invariant). One read of the input serves a whole series, or any
/// set of (account, day) pairs ([`evaluate_requests`]).
pub struct DayByDay {
    engine: ShardedEngine,
    store: EventStore,
    pool: Pool,
    /// The last day fed.
    fed: Option<NaiveDate>,
    /// Lines, invalid and ignored lines of the read; the apply counts grow as days are fed.
    pub summary: ReplaySummary,
}

impl DayByDay {
    /// Reads `input`, keeping its events dated up to the end of `options.window.to`
    /// (later ones are counted in `after_cutoff`); nothing is applied yet.
    pub fn load<R: Read + Send>(
        input: R,
        config: &ScoringConfig,
        options: &ReplayOptions,
        diagnostics: &mut dyn Write,
    ) -> Result<DayByDay, ReplayError> {
        Self::load_input(Input::Stream(input), config, options, diagnostics)
    }

    fn load_input<R: Read + Send>(
        input: Input<R>,
        config: &ScoringConfig,
        options: &ReplayOptions,
        diagnostics: &mut dyn Write,
    ) -> Result<DayByDay, ReplayError> {
        let pool = Pool::new(options.threads)?;
        let shards = shard_count(options, &pool);
        let mut store = EventStore::new(shards);
        let mut summary = ReplaySummary::default();
        read_blocks(input, config, options, shards, &pool, &mut summary, diagnostics, |blocks| store.store(blocks))?;
        pool.install(|| store.finish());
        Ok(DayByDay { engine: ShardedEngine::new(config, shards), store, pool, fed: None, summary })
    }

    /// The day of the earliest event kept.
    pub fn first_day(&self) -> Option<NaiveDate> {
        self.store.first_day()
    }

    /// The events kept that are not usage (CRM, evidence, outcomes), fed or not.
    pub fn other_events(&self) -> impl Iterator<Item = &pulse_core::Event> {
        self.store.other_events()
    }

    /// Applies the events up to the end of `day`. Days only go forward.
    pub fn advance_to(&mut self, day: NaiveDate) -> Result<(), ReplayError> {
        if let Some(fed) = self.fed.filter(|f| *f > day) {
            return Err(ReplayError::Window(format!("day {day} requested after {fed}: days only go forward")));
        }
        let (engine, store) = (&mut self.engine, &mut self.store);
        let counts = self.pool.install(|| store.feed(engine, day));
        self.summary.applied += counts.applied;
        self.summary.duplicates += counts.duplicates;
        self.summary.beyond_horizon += counts.beyond_horizon;
        self.fed = Some(day);
        Ok(())
    }

    /// Feeds the events up to the end of `day`, then evaluates `accounts` as of it
    /// (in parallel, in the order given; accounts that do not exist yet are left out)
    /// and maps each evaluation with `f`.
    pub fn evaluate_on<T, F>(&mut self, day: NaiveDate, accounts: &[&str], f: F) -> Result<Vec<T>, ReplayError>
    where
        T: Send,
        F: Fn(&Evaluation) -> T + Sync + Send,
    {
        self.advance_to(day)?;
        let engine = &self.engine;
        let shards = engine.shard_count();
        let pairs: Vec<(&str, usize)> = accounts.iter().map(|a| (*a, shard_of(a, shards))).collect();
        Ok(self.pool.install(|| engine.evaluate(&pairs, day, &f)))
    }

    /// The state after the last [`Self::advance_to`].
    pub fn engine(&self) -> &ShardedEngine {
        &self.engine
    }

    /// Runs `f` on this replay's worker threads.
    pub fn install<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.pool.install(f)
    }
}

/// Evaluates requested accounts on requested days (day -> account ids) in one read
/// of `input`, each as of the end of its day exactly as `pulse replay --as-of` that
/// day would, and maps each evaluation with `f`. Returns, per requested day in
/// order, the mapped evaluations of the requested accounts that exist on that day
/// (sorted by account id). `options.window` is ignored: events up to the last
/// requested day are read.
pub fn evaluate_requests<R, T, F>(
    input: R,
    config: &ScoringConfig,
    options: &ReplayOptions,
    requests: &std::collections::BTreeMap<NaiveDate, std::collections::BTreeSet<String>>,
    diagnostics: &mut dyn Write,
    f: F,
) -> Result<Vec<(NaiveDate, Vec<T>)>, ReplayError>
where
    R: Read + Send,
    T: Send,
    F: Fn(&Evaluation) -> T + Sync + Send,
{
    let (Some(first), Some(last)) = (requests.keys().next(), requests.keys().next_back()) else {
        return Ok(Vec::new());
    };
    let options = ReplayOptions { window: Window { from: *first, to: *last }, ..options.clone() };
    let mut days = DayByDay::load(input, config, &options, diagnostics)?;
    let mut out = Vec::with_capacity(requests.len());
    for (day, accounts) in requests {
        let ids: Vec<&str> = accounts.iter().map(String::as_str).collect();
        out.push((*day, days.evaluate_on(*day, &ids, &f)?));
    }
    Ok(out)
}

/// Default [`ReplayOptions::apply_batch`]: 4M events, 128 MiB of gathered keys.
const APPLY_BATCH: usize = 1 << 22;

/// Input lines parsed by one rayon task: a block of about this many bytes.
const BLOCK_BYTES: usize = 128 << 10;

/// Reads `input` in chunks and parses them in parallel blocks; hands each group of
/// parsed blocks (in input order) to `sink`, which runs while the next group is
/// parsed. Invalid lines are reported (or end the read when strict) in input order.
#[allow(clippy::too_many_arguments)]
fn read_blocks<R: Read + Send>(
    input: Input<R>,
    config: &ScoringConfig,
    options: &ReplayOptions,
    shards: usize,
    pool: &Pool,
    summary: &mut ReplaySummary,
    diagnostics: &mut dyn Write,
    sink: impl FnMut(Blocks<'_>) + Send,
) -> Result<(), ReplayError> {
    match input {
        Input::Stream(input) => read_stream(input, config, options, shards, pool, summary, diagnostics, sink),
        #[cfg(unix)]
        Input::File(file) => read_file(&file, config, options, shards, pool, summary, diagnostics, sink),
    }
}

/// [`read_blocks`] from a regular file, without a reader thread: each group's parts
/// ([`read_part`], one per thread) are read by the workers, each into a buffer of an
/// applied group handed back, and parsed there. The reading (the kernel's copy) is
/// then part of the parallel work instead of a thread beside the workers.
#[cfg(unix)]
#[allow(clippy::too_many_arguments)]
fn read_file(
    file: &std::fs::File,
    config: &ScoringConfig,
    options: &ReplayOptions,
    shards: usize,
    pool: &Pool,
    summary: &mut ReplaySummary,
    diagnostics: &mut dyn Write,
    mut sink: impl FnMut(Blocks<'_>) + Send,
) -> Result<(), ReplayError> {
    let cutoff = end_of_day(options.window.to);
    let group = pool.threads().max(1) as u64;
    let part_bytes = options.chunk_bytes.max(1);
    let parts = part_count(file.metadata().map_err(ReplayError::Read)?.len(), part_bytes);
    let mut next_part = 0;
    let mut free: Vec<Vec<u8>> = Vec::new();
    let mut line = 1;
    let mut previous: Option<(Vec<Chunk>, Vec<Block>)> = None;
    loop {
        let first = next_part;
        next_part = (first + group).min(parts);
        // `first_line` is not known before the earlier parts are counted; `report`
        // numbers lines by counting them in order.
        let mut chunks: Vec<Chunk> =
            (first..next_part).map(|_| Chunk { buf: free.pop().unwrap_or_default(), first_line: 0 }).collect();
        let done = chunks.is_empty();
        let previous_group = previous.take();
        let sink = &mut sink;
        let (parsed, recycled) = pool.install(|| {
            rayon::join(
                || read_parse_group(file, first, part_bytes, &mut chunks, config, shards, cutoff),
                move || match previous_group {
                    Some((chunks, blocks)) => {
                        sink(blocks.into_iter().map(|b| (&chunks[b.chunk].buf[..], b.routed)).collect());
                        chunks.into_iter().map(|c| c.buf).collect()
                    }
                    None => Vec::new(),
                },
            )
        });
        free.extend(recycled);
        let mut blocks = parsed.map_err(ReplayError::Read)?;
        report(&mut line, &mut blocks, options.strict, summary, diagnostics)?;
        if done {
            return Ok(());
        }
        previous = Some((chunks, blocks));
    }
}

/// Reads parts `first..` of `file` into `chunks` (one each) and parses them, in
/// parallel: each part is read by the task that then cuts it into blocks.
#[cfg(unix)]
fn read_parse_group(
    file: &std::fs::File,
    first: u64,
    part_bytes: usize,
    chunks: &mut [Chunk],
    config: &ScoringConfig,
    shards: usize,
    cutoff: DateTime<Utc>,
) -> io::Result<Vec<Block>> {
    let cutoff_us = cutoff.timestamp_micros();
    let per_chunk = chunks
        .par_iter_mut()
        .enumerate()
        .map(|(c, chunk)| {
            read_part(file, first + c as u64, part_bytes, &mut chunk.buf)?;
            let buf = &chunk.buf[..];
            Ok(block_ranges(buf)
                .into_par_iter()
                .map(|(start, end)| parse_block(c, buf, start, end, config, shards, cutoff, cutoff_us))
                .collect::<Vec<Block>>())
        })
        .collect::<io::Result<Vec<Vec<Block>>>>()?;
    Ok(per_chunk.into_iter().flatten().collect())
}

/// [`read_blocks`] from a stream: a reader thread cuts it into chunks.
#[allow(clippy::too_many_arguments)]
fn read_stream<R: Read + Send>(
    input: R,
    config: &ScoringConfig,
    options: &ReplayOptions,
    shards: usize,
    pool: &Pool,
    summary: &mut ReplaySummary,
    diagnostics: &mut dyn Write,
    mut sink: impl FnMut(Blocks<'_>) + Send,
) -> Result<(), ReplayError> {
    let cutoff = end_of_day(options.window.to);
    // Enough chunks per group to keep every thread parsing while the previous group
    // is applied.
    let group = pool.threads().max(1);
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<io::Result<Chunk>>(group * 2);
        // Buffers of applied chunks go back to the reader, which refills them.
        let (free_tx, free_rx) = mpsc::channel::<Vec<u8>>();
        let chunk_bytes = options.chunk_bytes;
        scope.spawn(move || {
            let mut reader = ChunkReader::new(input, chunk_bytes);
            loop {
                let next = reader.next_chunk_in(free_rx.try_recv().unwrap_or_default());
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
        let mut rx = rx.into_iter();
        let mut line = 1;
        let mut previous: Option<(Vec<Chunk>, Vec<Block>)> = None;
        loop {
            let mut chunks = Vec::with_capacity(group);
            for chunk in rx.by_ref().take(group) {
                chunks.push(chunk.map_err(ReplayError::Read)?);
            }
            let done = chunks.is_empty();
            let previous_group = previous.take();
            let sink = &mut sink;
            let free_tx = &free_tx;
            let (mut blocks, ()) = pool.install(|| {
                rayon::join(
                    || parse_group(&chunks, config, shards, cutoff),
                    move || {
                        if let Some((chunks, blocks)) = previous_group {
                            sink(blocks.into_iter().map(|b| (&chunks[b.chunk].buf[..], b.routed)).collect());
                            for chunk in chunks {
                                // The reader may be done: then the buffer is dropped.
                                let _ = free_tx.send(chunk.buf);
                            }
                        }
                    },
                )
            });
            report(&mut line, &mut blocks, options.strict, summary, diagnostics)?;
            if done {
                return Ok(());
            }
            previous = Some((chunks, blocks));
        }
    })
}

/// Counts the group's lines and reports its invalid ones, in input order. `line` is
/// the number of the group's first line (1 for the first group), advanced past the
/// group: every line, blank ones included, is in exactly one block, and the groups
/// and their blocks come in input order, so counting them numbers every line.
fn report(
    line: &mut u64,
    blocks: &mut [Block],
    strict: bool,
    summary: &mut ReplaySummary,
    diagnostics: &mut dyn Write,
) -> Result<(), ReplayError> {
    for block in blocks {
        let line0 = *line;
        summary.lines += block.lines;
        summary.after_cutoff += block.after_cutoff;
        summary.invalid += block.invalid.len() as u64;
        for (i, error) in block.invalid.drain(..) {
            if strict {
                return Err(ReplayError::Invalid { line: line0 + i, error });
            }
            writeln!(diagnostics, "line {}: {}: {}", line0 + i, error.reason.as_str(), error.detail)
                .map_err(ReplayError::Write)?;
        }
        *line += block.raw_lines;
    }
    Ok(())
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
        for day in self.window.days() {
            let lines = write_day(engine, &self.pool, &accounts, day, day >= print_from, alerts.as_deref_mut(), out)?;
            self.summary.output_lines += lines;
        }
        out.flush().map_err(ReplayError::Write)
    }

    pub fn shard_count(&self) -> usize {
        self.engine.shard_count()
    }

    /// The loaded state, e.g. to evaluate chosen (account, day) pairs.
    pub fn engine(&self) -> &ShardedEngine {
        &self.engine
    }

    /// Runs `f` on this replay's worker threads.
    pub fn install<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.pool.install(f)
    }
}

/// One parsed block of lines of a chunk.
struct Block {
    /// Index of the chunk in its group.
    chunk: usize,
    /// Lines in the block, blank ones included (for the line numbers of later blocks).
    raw_lines: u64,
    /// Non-blank lines.
    lines: u64,
    after_cutoff: u64,
    /// (line index within the block, error).
    invalid: Vec<(u64, InvalidEvent)>,
    routed: Routed,
}

/// Cuts each chunk into blocks of about [`BLOCK_BYTES`] (on line ends) and parses
/// all blocks of the group in parallel.
fn parse_group(chunks: &[Chunk], config: &ScoringConfig, shards: usize, cutoff: DateTime<Utc>) -> Vec<Block> {
    let mut ranges = Vec::new();
    for (c, chunk) in chunks.iter().enumerate() {
        ranges.extend(block_ranges(&chunk.buf).into_iter().map(|(start, end)| (c, start, end)));
    }
    let cutoff_us = cutoff.timestamp_micros();
    ranges
        .into_par_iter()
        .map(|(c, start, end)| parse_block(c, &chunks[c].buf, start, end, config, shards, cutoff, cutoff_us))
        .collect()
}

/// `buf` cut into blocks of about [`BLOCK_BYTES`] on line ends: (start, end) pairs.
fn block_ranges(buf: &[u8]) -> Vec<(usize, usize)> {
    let mut ranges = Vec::with_capacity(buf.len() / BLOCK_BYTES + 1);
    let mut start = 0;
    while start < buf.len() {
        let target = start + BLOCK_BYTES;
        let end = if target >= buf.len() {
            buf.len()
        } else {
            memchr::memchr(b'\n', &buf[target..]).map_or(buf.len(), |i| target + i + 1)
        };
        ranges.push((start, end));
        start = end;
    }
    ranges
}

#[allow(clippy::too_many_arguments)]
fn parse_block(
    chunk: usize,
    buf: &[u8],
    start: usize,
    end: usize,
    config: &ScoringConfig,
    shards: usize,
    cutoff: DateTime<Utc>,
    cutoff_us: i64,
) -> Block {
    let bytes = &buf[start..end];
    let mut out = Block {
        chunk,
        raw_lines: 0,
        lines: 0,
        after_cutoff: 0,
        invalid: Vec::new(),
        routed: Routed::new(shards, bytes.len() / 160),
    };
    let mut line_start = 0;
    let handle = |line: &[u8], out: &mut Block| {
        let index = out.raw_lines;
        out.raw_lines += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        out.lines += 1;
        if let Some(u) = fast::parse_usage(line) {
            let offset = u.account_id.as_ptr() as usize - buf.as_ptr() as usize;
            if let (Ok(start), Ok(len)) = (u32::try_from(offset), u32::try_from(u.account_id.len())) {
                if u.ts_us >= cutoff_us {
                    out.after_cutoff += 1;
                } else {
                    let key = UsageKey::new(config, u.event_id, u.user_id, u.feature, u.ts_us);
                    let hash = account_hash(u.account_id.as_bytes());
                    out.routed.push(hash, Item::Usage { start, len, hash, key });
                }
                return;
            }
        }
        match parse_event(line) {
            Ok(event) if event.timestamp() >= cutoff => out.after_cutoff += 1,
            Ok(event) => {
                let hash = account_hash(event.account_id().as_bytes());
                out.routed.push(hash, Item::Event(Box::new(event)));
            }
            Err(error) => out.invalid.push((index, error)),
        }
    };
    for nl in memchr::memchr_iter(b'\n', bytes) {
        handle(trim_cr(&bytes[line_start..nl]), &mut out);
        line_start = nl + 1;
    }
    if line_start < bytes.len() {
        handle(trim_cr(&bytes[line_start..]), &mut out);
    }
    out
}

fn trim_cr(line: &[u8]) -> &[u8] {
    match line.split_last() {
        Some((b'\r', rest)) => rest,
        _ => line,
    }
}

/// The first instant after `day` (UTC): events from it on are ignored.
fn end_of_day(day: NaiveDate) -> DateTime<Utc> {
    day.checked_add_days(Days::new(1))
        .and_then(|next| next.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}
