//! What the renewal forecast and the accuracy page read (SPEC §8), loaded by
//! `pulse_storage::read::outcomes` (renewal outcomes, the daily results the backtest
//! looks up before each, the accounts as they stand now, the stage changes), kept while
//! they are current, and how an outcome is listed on a page.
//!
//! Why a cache: both pages judge every outcome of the last years against the stored
//! results before it. At 200,000 accounts that is 400,000 renewal payloads and well
//! over a million stored results to read and a few seconds of backtest to run, far more
//! than a page may take, while the inputs change only when the scorer writes or a CRM
//! outcome arrives. So the inputs are loaded once into a [`Snapshot`] and kept until
//! the tables they come from change (a [`Fingerprint`] of their parts, checked on every
//! request in a few milliseconds), and each page's answer is kept with them, per scope.
//! When the check finds newer tables, one reload runs in the background; a request waits
//! for it up to [`WAIT_FOR_NEWER`] and otherwise answers from the previous snapshot,
//! whose `as_of` says how current it is.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{
    future::{BoxFuture, Shared},
    FutureExt as _,
};

use chrono::NaiveDate;
use pulse_core::backtest;
use serde::Serialize;
use utoipa::ToSchema;

pub use pulse_storage::read::outcomes::{Current, Fingerprint, Inputs, Snapshot, StoredHistory, HORIZONS};

use crate::{
    db::Db,
    error::{ApiError, ApiResult},
};

/// Answers kept per snapshot: more distinct (page, scope) pairs than this start over.
const MAX_ANSWERS: usize = 256;

/// How long a request waits for newer inputs while older ones can answer it. A load
/// takes seconds at 200,000 accounts (under a writing scorer the tables change all the
/// time); past this, the request answers from the previous snapshot, whose `as_of`
/// says which day it is, and the load goes on for the next requests.
const WAIT_FOR_NEWER: Duration = Duration::from_secs(3);

type Loading = Shared<BoxFuture<'static, Result<Option<Arc<Snapshot>>, String>>>;

/// The loaded inputs and the answers computed from them (see the module doc).
#[derive(Default)]
pub struct Cache {
    state: Mutex<State>,
    answers: Mutex<Answers>,
}

#[derive(Default)]
struct State {
    /// The newest snapshot loaded, and the fingerprint of the tables it was read at.
    current: Option<(Fingerprint, Option<Arc<Snapshot>>)>,
    /// The load in flight, and the fingerprint it was started for.
    loading: Option<(Fingerprint, Loading)>,
}

#[derive(Default)]
struct Answers {
    of: Option<Fingerprint>,
    by_key: HashMap<String, Arc<dyn std::any::Any + Send + Sync>>,
}

/// The inputs a request answers from: the snapshot of the tables at `fingerprint`
/// (`None` before any results).
#[derive(Clone)]
pub struct Loaded {
    pub fingerprint: Fingerprint,
    pub snapshot: Option<Arc<Snapshot>>,
}

impl Cache {
    /// The snapshot of the tables as they are now, loaded when they changed since the
    /// last one (or the previous snapshot, when newer inputs take longer than
    /// [`WAIT_FOR_NEWER`], or while a load of older tables runs). One load runs at a
    /// time, as its own task: a request that gives up waiting does not cancel it, and
    /// writes arriving during a load start one more load after it, not one each.
    pub async fn current(self: &Arc<Self>, db: &Db) -> ApiResult<Loaded> {
        let fingerprint = pulse_storage::read::outcomes::fingerprint(&db.read).await?;
        let deadline = tokio::time::Instant::now() + WAIT_FOR_NEWER;
        loop {
            let (loading, ours, previous) = {
                let mut st = self.state.lock().map_err(|_| ApiError::Internal("outcomes cache poisoned".into()))?;
                if let Some((fp, snap)) = &st.current {
                    if *fp == fingerprint {
                        return Ok(Loaded { fingerprint, snapshot: snap.clone() });
                    }
                }
                let (loading, ours) = match &st.loading {
                    Some((fp, l)) => (l.clone(), *fp == fingerprint),
                    None => {
                        let l = self.load(db, fingerprint);
                        st.loading = Some((fingerprint, l.clone()));
                        (l, true)
                    }
                };
                (loading, ours, st.current.clone())
            };
            let done = match &previous {
                // A load for older tables is still running (a writer keeps writing): it
                // would not answer this request either, so the previous snapshot does,
                // now, and the next request after it starts the load of these tables.
                Some(_) if !ours => None,
                Some(_) => tokio::time::timeout_at(deadline, loading).await.ok(),
                None => Some(loading.await),
            };
            match (done, previous) {
                (Some(Ok(snapshot)), _) if ours => return Ok(Loaded { fingerprint, snapshot }),
                // An older load finished: ours starts next time round.
                (Some(Ok(_)), _) => continue,
                (Some(Err(e)), _) => return Err(ApiError::Storage(clickhouse::error::Error::Custom(e))),
                (None, Some((fingerprint, snapshot))) => return Ok(Loaded { fingerprint, snapshot }),
                (None, None) => return Err(ApiError::Timeout),
            }
        }
    }

    /// Starts loading the snapshot of the tables at `fingerprint`; it becomes the
    /// current one when loaded (loads run one at a time, so it is the newest).
    fn load(self: &Arc<Self>, db: &Db, fingerprint: Fingerprint) -> Loading {
        let (cache, read, max_rows) = (Arc::clone(self), db.read.clone(), db.max_result_rows);
        let task = tokio::spawn(async move {
            let t = std::time::Instant::now();
            let loaded = pulse_storage::read::outcomes::snapshot(&read, max_rows).await.map(|s| s.map(Arc::new));
            let Ok(mut st) = cache.state.lock() else { return Err("outcomes cache poisoned".to_owned()) };
            if st.loading.as_ref().is_some_and(|(fp, _)| *fp == fingerprint) {
                st.loading = None;
            }
            match loaded {
                Ok(snapshot) => {
                    tracing::info!(elapsed_ms = t.elapsed().as_millis() as u64, "renewal and accuracy inputs loaded");
                    st.current = Some((fingerprint, snapshot.clone()));
                    Ok(snapshot)
                }
                Err(e) => Err(e.to_string()),
            }
        });
        async move { task.await.map_err(|e| format!("loading task: {e}"))? }.boxed().shared()
    }

    /// Loads the inputs in the background (at start-up: the first request at scale
    /// then finds them ready).
    pub async fn warm(self: Arc<Self>, db: Db) {
        if let Err(e) = self.current(&db).await {
            tracing::warn!(error = %e, "loading the renewal and accuracy inputs failed");
        }
    }

    /// The answer kept for `key` over the inputs of `fingerprint`, if any.
    pub fn answer<T: Send + Sync + 'static>(&self, fingerprint: Fingerprint, key: &str) -> Option<Arc<T>> {
        let answers = self.answers.lock().ok()?;
        if answers.of != Some(fingerprint) {
            return None;
        }
        answers.by_key.get(key).cloned().and_then(|a| a.downcast::<T>().ok())
    }

    /// Keeps `value` as the answer for `key` over the inputs of `fingerprint`.
    pub fn keep<T: Send + Sync + 'static>(&self, fingerprint: Fingerprint, key: String, value: Arc<T>) {
        let Ok(mut answers) = self.answers.lock() else { return };
        if answers.of != Some(fingerprint) || answers.by_key.len() >= MAX_ANSWERS {
            answers.by_key.clear();
            answers.of = Some(fingerprint);
        }
        answers.by_key.insert(key, value);
    }
}

/// Runs `f` (the backtest over a snapshot: seconds of CPU at scale) off the async
/// workers.
pub async fn compute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| crate::error::ApiError::Internal(format!("backtest task: {e}")))
}

/// An outcome as listed on a page: who, when, what happened, what the score said.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OutcomeAccount {
    pub account_id: String,
    pub name: String,
    pub segment: String,
    pub csm: String,
    pub renewal_on: NaiveDate,
    pub outcome: &'static str,
    pub lost: bool,
    pub arr_before: f64,
    pub arr_after: f64,
    /// Color and score at each horizon (`renewal_on - h`); null: no result that day.
    pub at: Vec<AtHorizon>,
    /// For a lost outcome: the first red day of the 180 days before it.
    pub first_red: Option<NaiveDate>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AtHorizon {
    pub horizon_days: u32,
    #[schema(schema_with = crate::openapi::color_or_null)]
    pub color: Option<pulse_core::Color>,
    pub score: Option<f64>,
}

pub fn outcome_account(s: &backtest::ScoredOutcome, accounts: &HashMap<&str, &Current>) -> OutcomeAccount {
    let o = &s.outcome;
    let cur = accounts.get(o.account_id.as_str());
    OutcomeAccount {
        account_id: o.account_id.clone(),
        name: cur.map(|c| c.name.clone()).unwrap_or_default(),
        segment: cur.map(|c| c.segment.clone()).unwrap_or_default(),
        csm: cur.map(|c| c.csm.clone()).unwrap_or_default(),
        renewal_on: o.renewal_on,
        outcome: o.outcome.as_str(),
        lost: o.lost(),
        arr_before: o.arr_before,
        arr_after: o.arr_after,
        at: HORIZONS
            .iter()
            .zip(&s.at)
            .map(|(h, x)| AtHorizon { horizon_days: *h, color: x.map(|x| x.color), score: x.map(|x| x.score) })
            .collect(),
        first_red: s.first_red,
    }
}
