//! State sharded by account: one [`Engine`] per shard, chosen by a stable hash of
//! the account id, so shards never share an account and can be applied to and
//! evaluated in parallel without locks. Within a shard, events are applied in
//! input order, exactly as a single engine would see them.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use chrono::NaiveDate;
use pulse_core::config::ScoringConfig;
use pulse_core::engine::{ApplyOutcome, Engine, Evaluation, UsageKey};
use pulse_core::event::Event;
use rayon::prelude::*;

/// Outcome counts of applying events.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ApplyCounts {
    pub applied: u64,
    pub duplicates: u64,
    pub beyond_horizon: u64,
}

impl ApplyCounts {
    fn count(&mut self, outcome: ApplyOutcome) {
        match outcome {
            ApplyOutcome::Applied => self.applied += 1,
            ApplyOutcome::Duplicate => self.duplicates += 1,
            ApplyOutcome::BeyondHorizon => self.beyond_horizon += 1,
        }
    }

    pub fn add(&mut self, other: ApplyCounts) {
        self.applied += other.applied;
        self.duplicates += other.duplicates;
        self.beyond_horizon += other.beyond_horizon;
    }
}

/// FNV-1a, then a final mix: stable across runs, platforms and Rust versions
/// (unlike `DefaultHasher`), so a shard layout is reproducible. Computed once per
/// event while parsing (in parallel): it picks the shard and is the key of the
/// shard's account table ([`EventStore`]), which compares the id bytes only to
/// confirm a match.
#[inline]
pub fn account_hash(account_id: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in account_id {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

/// The shard of an account hash.
#[inline]
pub fn shard_of_hash(hash: u64, shards: usize) -> usize {
    (hash % shards.max(1) as u64) as usize
}

/// The shard of an account: [`shard_of_hash`] of its [`account_hash`].
pub fn shard_of(account_id: &str, shards: usize) -> usize {
    shard_of_hash(account_hash(account_id.as_bytes()), shards)
}

/// One parsed event, routed to its shard.
#[derive(Debug)]
pub enum Item {
    /// A usage event read by the fast path ([`crate::fast`]): its account id is
    /// `buf[start..start + len]` of the chunk it was parsed from (no allocation),
    /// `hash` its [`account_hash`].
    Usage { start: u32, len: u32, hash: u64, key: UsageKey },
    /// Any other event (and usage the fast path left to `parse_event`).
    Event(Box<Event>),
}

/// Events parsed from one block of lines, already split by shard (input order kept
/// within each shard). Usage items borrow their account id from the chunk's buffer,
/// so a block allocates only its vectors, and applying or dropping it frees almost
/// nothing (freeing on another thread than the allocating one is what made glibc
/// malloc the bottleneck before).
#[derive(Debug, Default)]
pub struct Routed {
    pub by_shard: Vec<Vec<Item>>,
}

impl Routed {
    pub fn new(shards: usize, capacity: usize) -> Self {
        Routed { by_shard: (0..shards.max(1)).map(|_| Vec::with_capacity(capacity / shards.max(1) + 8)).collect() }
    }

    /// Adds an event to the shard of its account, given the account's [`account_hash`].
    #[inline]
    pub fn push(&mut self, hash: u64, item: Item) {
        let s = shard_of_hash(hash, self.by_shard.len());
        self.by_shard[s].push(item);
    }
}

/// Blocks of one or more chunks: (the chunk's bytes, a block parsed from it), in input order.
pub type Blocks<'a> = Vec<(&'a [u8], Routed)>;

/// Transposes blocks into per-shard lists, keeping input order.
fn by_shard(blocks: Blocks<'_>, shards: usize) -> Vec<Vec<(&[u8], Vec<Item>)>> {
    let mut out: Vec<Vec<(&[u8], Vec<Item>)>> = (0..shards).map(|_| Vec::with_capacity(blocks.len())).collect();
    for (buf, routed) in blocks {
        for (s, items) in routed.by_shard.into_iter().enumerate() {
            if !items.is_empty() {
                out[s].push((buf, items));
            }
        }
    }
    out
}

/// One engine per shard.
pub struct ShardedEngine {
    shards: Vec<Engine>,
}

impl ShardedEngine {
    pub fn new(config: &ScoringConfig, shards: usize) -> Self {
        ShardedEngine { shards: (0..shards.max(1)).map(|_| Engine::new(config.clone())).collect() }
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Drops the shards in parallel (on the current rayon pool): freeing millions of
    /// table entries is otherwise a serial tail of a replay.
    pub fn drop_in_parallel(self) {
        self.shards.into_par_iter().for_each(drop);
    }

    /// The engine holding `account_id`'s state (its CRM log, outcomes, stages).
    pub fn shard(&self, account_id: &str) -> &Engine {
        &self.shards[shard_of(account_id, self.shards.len())]
    }

    pub fn accounts_len(&self) -> usize {
        self.shards.iter().map(|e| e.accounts_len()).sum()
    }

    pub fn tracked_users(&self) -> usize {
        self.shards.iter().map(|e| e.tracked_users()).sum()
    }

    /// The earliest day of any account's events.
    pub fn first_day(&self) -> Option<NaiveDate> {
        self.shards
            .iter()
            .flat_map(|e| {
                e.account_ids().filter_map(|id| e.account_span(id).map(|(first, _)| first)).collect::<Vec<_>>()
            })
            .min()
    }

    /// Every account id with its shard, sorted by id.
    pub fn sorted_accounts(&self) -> Vec<(&str, usize)> {
        let mut ids: Vec<(&str, usize)> = self
            .shards
            .iter()
            .enumerate()
            .flat_map(|(s, engine)| engine.account_ids().map(move |id| (id, s)))
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Evaluates `account_id`, held by `shard` (from [`Self::sorted_accounts`]), as of
    /// `day`; `None` if it does not exist yet on `day` (or the shard does not exist).
    pub fn evaluate_in(&self, shard: usize, account_id: &str, day: NaiveDate) -> Option<Evaluation> {
        self.shards.get(shard)?.evaluate(account_id, day)
    }

    /// Evaluates `accounts` (from [`Self::sorted_accounts`]) as of `day` in parallel
    /// and renders each evaluation with `render`, keeping their order; accounts
    /// that do not exist yet on `day` are left out.
    pub fn evaluate<T, F>(&self, accounts: &[(&str, usize)], day: NaiveDate, render: F) -> Vec<T>
    where
        T: Send,
        F: Fn(&Evaluation) -> T + Sync,
    {
        accounts.par_iter().filter_map(|(id, s)| self.shards[*s].evaluate(id, day).map(|ev| render(&ev))).collect()
    }
}

/// Every event of an input kept in memory for a day-by-day replay (a series, or
/// many (account, day) pairs): by shard and account, each account's events sorted by
/// day (input order within a day). A usage event costs its [`UsageKey`], 32 bytes;
/// other events are kept whole (they are few).
pub struct EventStore {
    shards: Vec<ShardStore>,
    /// Events kept since the store was made or last emptied.
    kept: usize,
}

/// One shard's events by account. Gathering touches, per event, the account table
/// (keyed by the precomputed [`account_hash`]), the account's id bytes and its
/// usage vector: these are kept in dense arrays of their own (`id_bytes`, `usage`)
/// so that they stay in cache while 10,000 interleaved accounts are gathered.
#[derive(Default)]
struct ShardStore {
    /// Account hash -> index of the first account with that hash; the others with
    /// the same hash (a collision: never seen in practice, but possible) follow
    /// through `next`.
    index: HashMap<u64, u32, BuildHasherDefault<HashIsKey>>,
    /// The accounts' ids end to end; account `i`'s ends at `id_ends[i]` and starts
    /// where account `i - 1`'s ends.
    id_bytes: Vec<u8>,
    id_ends: Vec<usize>,
    /// Next account with the same hash, [`NONE`] for none.
    next: Vec<u32>,
    /// Each account's usage keys.
    usage: Vec<Vec<UsageKey>>,
    accounts: Vec<StoredAccount>,
}

const NONE: u32 = u32::MAX;

/// Hashes a `u64` key to itself: the key is already an [`account_hash`].
#[derive(Default)]
struct HashIsKey(u64);

impl std::hash::Hasher for HashIsKey {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

struct StoredAccount {
    id: Box<str>,
    events: Vec<(i64, Event)>,
    /// How many of its usage keys / `events` were fed to the engine.
    usage_fed: usize,
    events_fed: usize,
}

/// UTC day number (days since 1970-01-01) of a timestamp in microseconds.
fn day_of_us(ts_us: i64) -> i64 {
    ts_us.div_euclid(86_400_000_000)
}

fn day_number(d: NaiveDate) -> i64 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN)).num_days()
}

impl ShardStore {
    fn id(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.id_ends[i - 1] };
        &self.id_bytes[start..self.id_ends[i]]
    }

    /// The index of the account with id `id` and hash `hash` (its
    /// [`account_hash`]), added on first sight.
    #[inline]
    fn account(&mut self, hash: u64, id: &[u8]) -> usize {
        let head = self.index.get(&hash).copied();
        let mut at = head.unwrap_or(NONE);
        while at != NONE {
            if self.id(at as usize) == id {
                return at as usize;
            }
            at = self.next[at as usize];
        }
        let i = self.accounts.len();
        // At most one account per event, and an input's events are counted in
        // `usize`: an index past `u32` would need over 4 billion accounts in one shard.
        let i32 = u32::try_from(i).unwrap_or(NONE - 1);
        match head {
            // Chained right after the head: the head stays the table's entry.
            Some(h) => {
                self.next.push(self.next[h as usize]);
                self.next[h as usize] = i32;
            }
            None => {
                self.index.insert(hash, i32);
                self.next.push(NONE);
            }
        }
        self.id_bytes.extend_from_slice(id);
        self.id_ends.push(self.id_bytes.len());
        self.usage.push(Vec::new());
        self.accounts.push(StoredAccount {
            id: String::from_utf8_lossy(id).into(),
            events: Vec::new(),
            usage_fed: 0,
            events_fed: 0,
        });
        i
    }
}

impl EventStore {
    pub fn new(shards: usize) -> Self {
        EventStore { shards: (0..shards.max(1)).map(|_| ShardStore::default()).collect(), kept: 0 }
    }

    /// Keeps the blocks' events (shards in parallel).
    pub fn store(&mut self, blocks: Blocks<'_>) {
        self.kept += blocks.iter().flat_map(|(_, r)| &r.by_shard).map(Vec::len).sum::<usize>();
        let per_shard = by_shard(blocks, self.shards.len());
        self.shards.par_iter_mut().zip(per_shard).for_each(|(store, lists)| {
            for (buf, items) in lists {
                for item in items {
                    match item {
                        Item::Usage { start, len, hash, key } => {
                            let i = store.account(hash, &buf[start as usize..(start + len) as usize]);
                            store.usage[i].push(key);
                        }
                        Item::Event(ev) => {
                            let day = day_of_us(ev.timestamp().timestamp_micros());
                            let id = ev.account_id().as_bytes();
                            let i = store.account(account_hash(id), id);
                            store.accounts[i].events.push((day, *ev));
                        }
                    }
                }
            }
        });
    }

    /// Sorts each account's events by day (stable: input order within a day).
    pub fn finish(&mut self) {
        self.shards.par_iter_mut().for_each(|store| {
            store.index = HashMap::default();
            for (a, usage) in store.accounts.iter_mut().zip(&mut store.usage) {
                usage.sort_by_key(|k| day_of_us(k.ts_us()));
                usage.shrink_to_fit();
                a.events.sort_by_key(|(day, _)| *day);
            }
        });
    }

    /// The day of the earliest event (after [`Self::finish`]).
    pub fn first_day(&self) -> Option<NaiveDate> {
        let first = self
            .shards
            .iter()
            .flat_map(|s| s.accounts.iter().zip(&s.usage))
            .flat_map(|(a, usage)| {
                usage.first().map(|k| day_of_us(k.ts_us())).into_iter().chain(a.events.first().map(|e| e.0))
            })
            .min()?;
        NaiveDate::from_ymd_opt(1970, 1, 1)?.checked_add_signed(chrono::Duration::days(first))
    }

    /// Every stored event that is not usage (CRM, evidence, outcomes), in no
    /// particular order: few, and what a backtest plans from before feeding.
    pub fn other_events(&self) -> impl Iterator<Item = &Event> {
        self.shards.iter().flat_map(|s| &s.accounts).flat_map(|a| a.events.iter().map(|(_, e)| e))
    }

    /// Events kept (fed or not; none after [`Self::apply_newest_first`]).
    pub fn len(&self) -> usize {
        self.kept
    }

    pub fn is_empty(&self) -> bool {
        self.kept == 0
    }

    /// Applies every stored event to `engine` (made with as many shards), account by
    /// account, each account's usage newest day first; the store is left empty. For an
    /// as-of replay: results do not depend on the order of events (the engine's
    /// invariant), so the order is chosen for speed: one account's tables stay in
    /// cache while its events are applied, and with the newest day first the
    /// account's day masks never shift (no pass over its users and event ids per new
    /// day).
    pub fn apply_newest_first(&mut self, engine: &mut ShardedEngine) -> ApplyCounts {
        self.kept = 0;
        self.per_shard(engine, |engine, store| {
            let mut counts = ApplyCounts::default();
            let taken = std::mem::take(store);
            for (a, mut usage) in taken.accounts.into_iter().zip(taken.usage) {
                for (_, ev) in &a.events {
                    counts.count(engine.apply(ev));
                }
                usage.sort_unstable_by_key(|k| std::cmp::Reverse(day_of_us(k.ts_us())));
                engine.apply_usage_many(&a.id, &usage, |o| counts.count(o));
            }
            counts
        })
    }

    /// Runs `f` on each (engine shard, store shard) pair in parallel; the counts summed.
    fn per_shard<F>(&mut self, engine: &mut ShardedEngine, f: F) -> ApplyCounts
    where
        F: Fn(&mut Engine, &mut ShardStore) -> ApplyCounts + Sync + Send,
    {
        engine.shards.par_iter_mut().zip(&mut self.shards).map(|(e, s)| f(e, s)).reduce(
            ApplyCounts::default,
            |mut a, b| {
                a.add(b);
                a
            },
        )
    }

    /// Applies to `engine` (made with as many shards) every event not yet fed up to
    /// the end of `through`, shards in parallel; per account its other events first,
    /// then its usage, each in day order. Feeding day by day and evaluating each day
    /// after its events equals a replay as of that day (the engine's "streaming equals
    /// replay" invariant).
    pub fn feed(&mut self, engine: &mut ShardedEngine, through: NaiveDate) -> ApplyCounts {
        let last = day_number(through);
        self.per_shard(engine, |engine, store| {
            let mut counts = ApplyCounts::default();
            for (a, usage) in store.accounts.iter_mut().zip(&store.usage) {
                while let Some((day, ev)) = a.events.get(a.events_fed) {
                    if *day > last {
                        break;
                    }
                    counts.count(engine.apply(ev));
                    a.events_fed += 1;
                }
                while let Some(key) = usage.get(a.usage_fed) {
                    if day_of_us(key.ts_us()) > last {
                        break;
                    }
                    counts.count(engine.apply_usage(&a.id, *key));
                    a.usage_fed += 1;
                }
            }
            counts
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_of_is_stable_and_in_range() {
        assert_eq!(shard_of("acme", 1), 0);
        assert_eq!(shard_of("acme", 8), shard_of("acme", 8));
        for n in 1..10 {
            for id in ["a", "b", "acct-00001", ""] {
                assert!(shard_of(id, n) < n);
            }
        }
    }

    #[test]
    fn shard_of_spreads_accounts() {
        let mut counts = [0u32; 4];
        for i in 0..10_000 {
            counts[shard_of(&format!("acct-{i:05}"), 4)] += 1;
        }
        for c in counts {
            assert!((2_300..2_700).contains(&c), "{counts:?}");
        }
    }
}
