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

/// One engine per shard.
pub struct ShardedEngine {
    shards: Vec<Engine>,
}

impl ShardedEngine {
    pub fn new(config: &ScoringConfig, shards: usize) -> Self {
        ShardedEngine {
            shards: (0..shards.max(1))
                .map(|_| Engine::new(config.clone()))
                .collect(),
        }
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Applies `per_shard[s]` (batches of events, in input order) to shard `s`;
    /// shards in parallel. Events are dropped on the thread that applied them.
    pub fn apply(&mut self, per_shard: Vec<Vec<Vec<Event>>>) -> ApplyCounts {
        let per_shard: Vec<ApplyCounts> = self
            .shards
            .par_iter_mut()
            .zip(per_shard)
            .map(|(engine, batches)| {
                let mut counts = ApplyCounts::default();
                for event in batches.iter().flatten() {
                    match engine.apply(event) {
                        ApplyOutcome::Applied => counts.applied += 1,
                        ApplyOutcome::Duplicate => counts.duplicates += 1,
                        ApplyOutcome::BeyondHorizon => counts.beyond_horizon += 1,
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

    /// Evaluates every account as of `day` (shards in parallel) and renders each
    /// evaluation with `render`; results come back sorted by account id.
    pub fn evaluate_all<T, F>(&self, day: NaiveDate, render: F) -> Vec<(String, T)>
    where
        T: Send,
        F: Fn(&str, &Evaluation) -> T + Sync,
    {
        let mut all: Vec<(String, T)> = self
            .shards
            .par_iter()
            .flat_map_iter(|engine| {
                let render = &render;
                engine.account_ids().filter_map(move |id| {
                    engine
                        .evaluate(id, day)
                        .map(|ev| (id.to_owned(), render(id, &ev)))
                })
            })
            .collect();
        all.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        all
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
