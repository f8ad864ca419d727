//! State sharded by account: one [`Engine`] per shard, chosen by a stable hash of
//! the account id, so shards never share an account and can be applied to and
//! evaluated in parallel without locks. Within a shard, events are applied in
//! input order, exactly as a single engine would see them.

use chrono::NaiveDate;
use pulse_core::config::ScoringConfig;
use pulse_core::engine::{ApplyOutcome, Engine, Evaluation};
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
    fn add(&mut self, other: ApplyCounts) {
        self.applied += other.applied;
        self.duplicates += other.duplicates;
        self.beyond_horizon += other.beyond_horizon;
    }
}

/// FNV-1a, then a final mix: stable across runs, platforms and Rust versions
/// (unlike `DefaultHasher`), so a shard layout is reproducible.
pub fn shard_of(account_id: &str, shards: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in account_id.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    (h % shards.max(1) as u64) as usize
}

/// Events parsed from one block of lines, with the indexes of each shard's events.
///
/// Events stay where they were parsed instead of moving to per-shard queues: the
/// engines borrow them, and the blocks are then dropped in parallel, mostly on the
/// thread that parsed (and so allocated) them. Freeing memory on another thread
/// than the one that allocated it is what made glibc malloc the bottleneck.
#[derive(Debug, Default)]
pub struct Routed {
    pub events: Vec<Event>,
    /// `by_shard[s]`: indexes into `events` of shard `s`'s events, ascending.
    pub by_shard: Vec<Vec<u32>>,
}

impl Routed {
    pub fn new(shards: usize, capacity: usize) -> Self {
        Routed {
            events: Vec::with_capacity(capacity),
            by_shard: (0..shards).map(|_| Vec::with_capacity(capacity / shards.max(1) + 8)).collect(),
        }
    }

    /// Adds an event to the shard of its account.
    pub fn push(&mut self, event: Event) {
        let s = shard_of(event.account_id(), self.by_shard.len());
        self.by_shard[s].push(self.events.len() as u32);
        self.events.push(event);
    }
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

    /// Applies every block's events to their shards, in block order and within a
    /// block in input order; shards in parallel. Events are only borrowed: the
    /// caller drops the blocks (see `Routed`).
    pub fn apply(&mut self, blocks: &[&Routed]) -> ApplyCounts {
        let per_shard: Vec<ApplyCounts> = self
            .shards
            .par_iter_mut()
            .enumerate()
            .map(|(s, engine)| {
                let mut counts = ApplyCounts::default();
                for block in blocks {
                    for &i in &block.by_shard[s] {
                        match engine.apply(&block.events[i as usize]) {
                            ApplyOutcome::Applied => counts.applied += 1,
                            ApplyOutcome::Duplicate => counts.duplicates += 1,
                            ApplyOutcome::BeyondHorizon => counts.beyond_horizon += 1,
                        }
                    }
                }
                counts
            })
            .collect();
        let mut total = ApplyCounts::default();
        for c in per_shard {
            total.add(c);
        }
        total
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
