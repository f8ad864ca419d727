//! The engine: all accounts' state, fed one event at a time, evaluated for any day.
//!
//! Invariants (tested by property tests in `tests/properties.rs`):
//! - **Order and duplicates do not matter.** Usage is a set of (user, day) bits and
//!   core-feature bits, each usage `event_id` counted once with its winning copy
//!   (earliest timestamp) whatever the repeats carry; CRM events are a deduplicated log
//!   sorted by (timestamp, event_id). Any permutation of the same events, with any
//!   repeats, yields equal state and equal evaluations.
//! - **Streaming equals replay.** `evaluate(as_of)` reads only events up to the end
//!   of `as_of`, and the previous color is `evaluate(as_of - 1)`'s color, so
//!   evaluating day by day while feeding events equals feeding everything first, for
//!   every day within the horizon of the newest event (activity is kept for the
//!   horizon plus the 56 days its windows look back, then forgotten, see `activity`).
//! - **Shardable by account.** Nothing is shared across accounts: one engine per
//!   shard gives the same per-account results as one engine for all.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::activity::{Activity, Touch, UsageTouch};
use crate::config::{ScoringConfig, MAX_CORE_FEATURES, MAX_HORIZON_DAYS};
use crate::crm::{CrmLog, Inserted};
use crate::event::{Event, LifecycleStage, RenewalEvent, UsageEvent, UsageProfile};
use crate::facts;
use crate::hash::{hash_str, StableBuild};
use crate::health::{self, HealthResult};
use crate::num::{date_from_day, day_from_date, day_of, Day};
use crate::readiness::{self, ReadinessResult};

/// What [`Engine::apply`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyOutcome {
    /// The event changed state: results for its day onwards may change.
    Applied,
    /// The event changed nothing: its `event_id` was already applied with a copy
    /// that wins (earliest timestamp), or, for usage, the user was already counted
    /// active that day and its feature already used (repeat activity counts once).
    Duplicate,
    /// A usage event older than the days the engine keeps (`horizon_days` plus the
    /// 56-day lookback the windows of the horizon's days need) before the account's
    /// newest usage day: not scored (the caller counts it, SPEC §2).
    BeyondHorizon,
}

impl ApplyOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            ApplyOutcome::Applied => "applied",
            ApplyOutcome::Duplicate => "duplicate",
            ApplyOutcome::BeyondHorizon => "beyond_horizon",
        }
    }
}

/// An account's CRM attributes in force at the end of a day (the partial upserts
/// applied in event-time order), for display next to its results (dashboards filter
/// by segment and CSM and weigh risk by ARR).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountAttributes {
    pub name: Option<String>,
    pub licensed_seats: Option<u64>,
    pub usage_profile: UsageProfile,
    pub segment: Option<String>,
    pub arr: Option<f64>,
    pub csm: Option<String>,
    pub lifecycle_stage: Option<LifecycleStage>,
    pub onboarding_started_on: Option<NaiveDate>,
    pub target_graduation_on: Option<NaiveDate>,
    pub renewal_on: Option<NaiveDate>,
}

/// A usage event reduced to what the engine keeps of it: stable hashes of its event
/// and user ids, its timestamp and its core feature (index in the config's
/// `core_features`). 32 bytes, no allocation; it can be made on another thread than
/// the engine's (replay makes it while parsing) and kept instead of the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UsageKey {
    id: u64,
    user: u64,
    ts_us: i64,
    feature: Option<u8>,
    /// [`crate::event::feature_key`], 0 without one: the tie key of repeats (SPEC v3 §1),
    /// independent of the configured core features.
    feature_key: u64,
}

impl UsageKey {
    /// From the fields of a valid usage event (`feature` empty or absent is `None`);
    /// `ts_us` is `timestamp.timestamp_micros()`.
    pub fn new(config: &ScoringConfig, event_id: &str, user_id: &str, feature: Option<&str>, ts_us: i64) -> Self {
        // Bounds repeat validation so an unvalidated config cannot overflow a
        // bitmask: features past the 64th are ignored.
        let feature_key = crate::event::feature_key(feature);
        let feature = feature
            .and_then(|f| config.core_features.iter().position(|c| c == f))
            .filter(|&i| i < MAX_CORE_FEATURES)
            .map(|i| i as u8);
        UsageKey { id: hash_str(event_id), user: crate::event::user_key(user_id), ts_us, feature, feature_key }
    }

    pub fn of(config: &ScoringConfig, u: &UsageEvent) -> Self {
        Self::new(config, &u.event_id, &u.user_id, u.feature.as_deref(), u.timestamp.timestamp_micros())
    }

    /// Microseconds since the epoch.
    pub fn ts_us(&self) -> i64 {
        self.ts_us
    }

    /// What the account's activity records for it.
    fn touch(&self) -> UsageTouch {
        UsageTouch {
            id: self.id,
            ts_us: self.ts_us,
            day: self.day_number(),
            user: self.user,
            feature: self.feature.map(usize::from),
            feature_key: self.feature_key,
        }
    }

    /// The UTC day of the event.
    pub fn day(&self) -> NaiveDate {
        date_from_day(self.day_number())
    }

    fn day_number(&self) -> Day {
        // The quotient of a chrono timestamp's microseconds fits i32 (see `day_of`).
        self.ts_us.div_euclid(86_400_000_000) as Day
    }
}

/// Both results of one account and day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub health: HealthResult,
    pub readiness: ReadinessResult,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct AccountState {
    /// Earliest and latest day of any event seen (also duplicates and events beyond
    /// the horizon, so both are order-independent). Before `first_day` the account
    /// does not exist.
    first_day: Day,
    last_day: Day,
    activity: Activity,
    crm: CrmLog,
}

/// All accounts' scoring state. `Send`; cheap to create; serializable (serde) so a
/// streaming scorer can snapshot it per partition.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "EngineSnapshot")]
pub struct Engine {
    config: ScoringConfig,
    #[serde(skip_serializing)]
    version: String,
    accounts: HashMap<Box<str>, AccountState, StableBuild>,
}

/// The serialized form; derived fields are rebuilt on load.
#[derive(Deserialize)]
struct EngineSnapshot {
    config: ScoringConfig,
    accounts: HashMap<Box<str>, AccountState, StableBuild>,
}

impl From<EngineSnapshot> for Engine {
    fn from(s: EngineSnapshot) -> Self {
        let mut e = Engine::new(s.config);
        e.accounts = s.accounts;
        e
    }
}

impl PartialEq for Engine {
    fn eq(&self, other: &Self) -> bool {
        self.config == other.config && self.accounts == other.accounts
    }
}

/// See [`Engine::usage_memory`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageMemory {
    pub tracked_users: usize,
    pub activity_bytes: usize,
    pub event_ids: usize,
    pub event_id_bytes: usize,
    /// Differing later copies of repeated event ids (SPEC v3 §2), in `event_id_bytes`.
    pub repeats: usize,
}

impl Engine {
    /// An empty engine. The config is assumed valid
    /// ([`ScoringConfig::from_toml_str`] validates); scoring never panics on an
    /// invalid one, it just scores by it.
    pub fn new(config: ScoringConfig) -> Self {
        let version = config.version();
        Self { config, version, accounts: HashMap::default() }
    }

    pub fn config(&self) -> &ScoringConfig {
        &self.config
    }

    /// `config().version()`, cached.
    pub fn config_version(&self) -> &str {
        &self.version
    }

    /// Fold one validated event into the state. Cheap: a usage event for a known
    /// account and user allocates nothing.
    pub fn apply(&mut self, ev: &Event) -> ApplyOutcome {
        if let Event::Usage(u) = ev {
            return self.apply_usage(&u.account_id, UsageKey::of(&self.config, u));
        }
        let acct = self.account_mut(ev.account_id(), day_of(ev.timestamp()));
        match acct.crm.insert(ev) {
            Inserted::Applied => ApplyOutcome::Applied,
            Inserted::Duplicate => ApplyOutcome::Duplicate,
        }
    }

    /// [`Self::apply`] for a usage event already reduced to its [`UsageKey`] (made
    /// with this engine's config): the same outcome and state as applying the event.
    pub fn apply_usage(&mut self, account_id: &str, key: UsageKey) -> ApplyOutcome {
        let day = key.day_number();
        let horizon = self.config.horizon_days.min(MAX_HORIZON_DAYS);
        let touch = key.touch();
        // One lookup for a known account (the hot path).
        let acct = match self.accounts.get_mut(account_id) {
            Some(acct) => {
                acct.first_day = acct.first_day.min(day);
                acct.last_day = acct.last_day.max(day);
                acct
            }
            None => self.account_mut(account_id, day),
        };
        match acct.activity.record(touch, horizon) {
            Touch::Changed => ApplyOutcome::Applied,
            Touch::Unchanged => ApplyOutcome::Duplicate,
            Touch::BeyondHorizon => ApplyOutcome::BeyondHorizon,
        }
    }

    /// [`Self::apply_usage`] for many usage events of one account, looking the account
    /// up once: the same outcomes (given to `outcome` in order) and state as applying
    /// them one by one. Replay gathers events by account for this.
    pub fn apply_usage_many(&mut self, account_id: &str, keys: &[UsageKey], mut outcome: impl FnMut(ApplyOutcome)) {
        let Some(first) = keys.first() else {
            return;
        };
        let horizon = self.config.horizon_days.min(MAX_HORIZON_DAYS);
        let acct = self.account_mut(account_id, first.day_number());
        for key in keys {
            let day = key.day_number();
            acct.first_day = acct.first_day.min(day);
            acct.last_day = acct.last_day.max(day);
            let touch = key.touch();
            outcome(match acct.activity.record(touch, horizon) {
                Touch::Changed => ApplyOutcome::Applied,
                Touch::Unchanged => ApplyOutcome::Duplicate,
                Touch::BeyondHorizon => ApplyOutcome::BeyondHorizon,
            });
        }
    }

    /// The account's state, created on its first event; its span widened to `day`.
    fn account_mut(&mut self, id: &str, day: Day) -> &mut AccountState {
        if !self.accounts.contains_key(id) {
            self.accounts.insert(
                id.into(),
                AccountState { first_day: day, last_day: day, activity: Activity::default(), crm: CrmLog::default() },
            );
        }
        let acct = self.accounts.get_mut(id).expect("inserted above");
        acct.first_day = acct.first_day.min(day);
        acct.last_day = acct.last_day.max(day);
        acct
    }

    /// Health and readiness of one account as of the end of `as_of` (UTC). Pure;
    /// ignores events after `as_of`. `None` for an unknown account or a day before
    /// its first event.
    pub fn evaluate(&self, account_id: &str, as_of: NaiveDate) -> Option<Evaluation> {
        let (key, acct) = self.accounts.get_key_value(account_id)?;
        let d = day_from_date(as_of);
        if d < acct.first_day {
            return None;
        }
        let [today, yesterday] = acct.activity.windows(d);
        let previous_color = (d > acct.first_day).then(|| {
            let f = facts::compute(
                &self.config,
                &self.version,
                key,
                d - 1,
                acct.first_day,
                &yesterday,
                acct.crm.view(d - 1),
            );
            health::build(&f, None).color
        });
        let f = facts::compute(&self.config, &self.version, key, d, acct.first_day, &today, acct.crm.view(d));
        let former = acct.crm.former_on(d);
        let mut health = health::build(&f, previous_color);
        let mut readiness = readiness::build(&f);
        health.former = former;
        readiness.former = former;
        Some(Evaluation { health, readiness })
    }

    /// The account's attributes as of the end of `as_of`; `None` for an unknown
    /// account or a day before its first event.
    pub fn attributes(&self, account_id: &str, as_of: NaiveDate) -> Option<AccountAttributes> {
        let acct = self.accounts.get(account_id)?;
        let d = day_from_date(as_of);
        if d < acct.first_day {
            return None;
        }
        let view = acct.crm.view(d);
        let a = &view.attrs;
        Some(AccountAttributes {
            name: a.name.map(str::to_owned),
            licensed_seats: a.licensed_seats,
            usage_profile: a.usage_profile,
            segment: a.segment.map(str::to_owned),
            arr: a.arr,
            csm: a.csm.map(str::to_owned),
            lifecycle_stage: a.lifecycle_stage,
            onboarding_started_on: a.onboarding_started_on,
            target_graduation_on: a.target_graduation_on,
            renewal_on: a.renewal_on,
        })
    }

    /// The account's renewal outcomes (SPEC §8), one per contract date, sorted by
    /// `renewal_on`; empty for an unknown account.
    pub fn outcomes(&self, account_id: &str) -> Vec<&RenewalEvent> {
        self.accounts.get(account_id).map(|a| a.crm.outcomes()).unwrap_or_default()
    }

    /// The lifecycle stage at the end of each day an `account` event set one, in day
    /// order (see [`crate::backtest::last_onboarding_day`]).
    pub fn stage_changes(&self, account_id: &str) -> Vec<(NaiveDate, LifecycleStage)> {
        self.accounts.get(account_id).map(|a| a.crm.stage_changes()).unwrap_or_default()
    }

    /// Every account's evaluation as of `as_of`, sorted by account id (accounts
    /// whose first event is after `as_of` are skipped).
    pub fn evaluate_all(&self, as_of: NaiveDate) -> Vec<Evaluation> {
        let mut ids: Vec<&str> = self.account_ids().collect();
        ids.sort_unstable();
        ids.into_iter().filter_map(|id| self.evaluate(id, as_of)).collect()
    }

    /// Account ids in unspecified (but deterministic) order.
    pub fn account_ids(&self) -> impl Iterator<Item = &str> {
        self.accounts.keys().map(|k| &**k)
    }

    pub fn accounts_len(&self) -> usize {
        self.accounts.len()
    }

    /// Tracked (account, user) pairs: users active within the horizon.
    pub fn tracked_users(&self) -> usize {
        self.accounts.values().map(|a| a.activity.users_len()).sum()
    }

    /// Usage event ids remembered for deduplication (those of the retention's days).
    pub fn usage_event_ids(&self) -> usize {
        self.accounts.values().map(|a| a.activity.ids_len()).sum()
    }

    /// What the usage state costs: heap bytes of the day masks (per tracked user) and
    /// of the event-id tables (per usage event of the horizon's days), from the
    /// tables' capacities. Event ids are forgotten once their day is more than
    /// `horizon_days` before the account's newest day, so the id bytes are bounded by
    /// the usage events of the last `horizon_days` days.
    pub fn usage_memory(&self) -> UsageMemory {
        let mut m = UsageMemory::default();
        for a in self.accounts.values() {
            let (activity, ids) = a.activity.table_bytes();
            m.activity_bytes += activity;
            m.event_id_bytes += ids;
            m.tracked_users += a.activity.users_len();
            m.event_ids += a.activity.ids_len();
            m.repeats += a.activity.repeats_len();
        }
        m
    }

    /// Stored CRM and evidence events (after deduplication).
    pub fn crm_events(&self) -> usize {
        self.accounts.values().map(|a| a.crm.len()).sum()
    }

    /// First and last day of the account's events (any type), e.g. to know which
    /// days a streaming scorer must re-evaluate.
    pub fn account_span(&self, account_id: &str) -> Option<(NaiveDate, NaiveDate)> {
        self.accounts.get(account_id).map(|a| (date_from_day(a.first_day), date_from_day(a.last_day)))
    }
}
