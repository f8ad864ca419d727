//! Per-partition scoring state: the core's engine and alert tracker for the accounts of
//! one partition of the events topic, and the offset they cover.

use std::collections::HashMap;

use chrono::NaiveDate;
use pulse_core::{AlertTracker, Engine, ScoringConfig};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartitionState {
    pub engine: Engine,
    pub alerts: AlertTracker,
    /// Last day whose daily re-evaluation of every account has run.
    pub last_tick: Option<NaiveDate>,
    /// First offset of the partition not yet applied to `engine`.
    pub next_offset: i64,
    /// Alert transitions derived while the partition was catching up, not yet released
    /// for notification (see `notify`); snapshotted so that a crash or a rebalance
    /// does not lose them.
    #[serde(default)]
    pub held: crate::notify::Held,
    /// How many snapshots of this partition were taken (this one included): among
    /// snapshots at the same `next_offset` (a daily re-evaluation or a release of held
    /// notifications changes the state without consuming), the restore takes the one
    /// with the highest count, not an arbitrary one (`created_at` has whole seconds, and
    /// the same value under a fixed clock).
    #[serde(default)]
    pub saves: u64,
    /// Per input source, the newest event time applied (`sources`): snapshotted, so a
    /// restart judges stalls as before it.
    #[serde(default)]
    pub watermarks: crate::sources::Watermarks,
    /// While a source is stalled (and after, until released): the first day whose
    /// results the alert tracker has not been fed. When every source flows again the
    /// accounts are re-evaluated from here and fed to the tracker at once.
    #[serde(default)]
    pub alerts_held_from: Option<NaiveDate>,
    /// Changed since the last snapshot.
    #[serde(skip)]
    pub dirty: bool,
    /// Hash of the latest published result per account (for "publish changed results
    /// only"); not snapshotted: after a restore the first result is simply re-published.
    #[serde(skip)]
    pub last_published: HashMap<String, (NaiveDate, u64)>,
}

impl PartitionState {
    pub fn new(config: &ScoringConfig) -> Self {
        Self {
            engine: Engine::new(config.clone()),
            alerts: AlertTracker::new(config),
            last_tick: None,
            held: crate::notify::Held::default(),
            next_offset: 0,
            saves: 0,
            watermarks: crate::sources::Watermarks::default(),
            alerts_held_from: None,
            dirty: false,
            last_published: HashMap::new(),
        }
    }
}
