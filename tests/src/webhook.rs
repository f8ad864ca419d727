//! A slow alert webhook for fault tests: it takes `delay` per call (so a kill lands while
//! a delivery is in flight), records every call's idempotency key and, once the delay is
//! over, acts on the key (its deduplication: what a receiver honouring the key would
//! record). Shared by the notifier's and the scorer's kill tests, with the alert messages
//! they feed the notifier.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{extract::State, http::HeaderMap, routing::post, Json, Router};
use chrono::NaiveDate;
use pulse_core::{config::Severity, AlertRule, AlertState, AlertTransition};

/// The endpoint's records.
#[derive(Clone, Default)]
pub struct SlowWebhook {
    delay: Duration,
    calls: Arc<Mutex<Vec<String>>>,
    seen: Arc<Mutex<BTreeSet<String>>>,
}

impl SlowWebhook {
    /// Serves it on a free local port; returns it and its URL.
    pub async fn serve(delay: Duration) -> (Self, String) {
        let hook = Self { delay, ..Self::default() };
        let app = Router::new().route("/hook", post(call)).with_state(hook.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (hook, url)
    }

    /// Every call's key, in arrival order (re-sends included).
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("calls").clone()
    }

    /// The keys acted on (each once).
    pub fn seen(&self) -> BTreeSet<String> {
        self.seen.lock().expect("seen").clone()
    }

    /// Calls per key.
    pub fn per_key(&self) -> BTreeMap<String, usize> {
        let mut n = BTreeMap::new();
        for k in self.calls() {
            *n.entry(k).or_default() += 1;
        }
        n
    }

    /// Waits (polling) until at least `n` calls arrived or `timeout` passed; returns the
    /// count.
    pub async fn wait_calls(&self, n: usize, timeout: Duration) -> usize {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let got = self.calls.lock().expect("calls").len();
            if got >= n || std::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn call(State(e): State<SlowWebhook>, headers: HeaderMap, Json(body): Json<serde_json::Value>) -> &'static str {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(body["idempotency_key"].as_str(), Some(key.as_str()), "the key is in the header and the body");
    e.calls.lock().expect("calls").push(key.clone());
    tokio::time::sleep(e.delay).await;
    e.seen.lock().expect("seen").insert(key);
    "ok"
}

/// An alert transition of test account `acct-NNN` (low engagement, warning), for feeding
/// the alerts topic directly.
pub fn transition(account: usize, state: AlertState, day: NaiveDate) -> AlertTransition {
    AlertTransition {
        account_id: format!("acct-{account:03}"),
        rule: AlertRule::LowEngagement,
        state,
        as_of: day,
        opened_on: day,
        severity: Severity::Warning,
        message: "engagement below 50".into(),
        details: serde_json::json!({ "engagement": 41 }),
        retracts: None,
        reason: None,
        seq: 1,
    }
}

/// `t` as the scorer publishes it on the alerts topic: with its alert id, emission
/// `version` and `notify` mark; keyed by account.
pub fn alert_message(t: &AlertTransition, version: u64, notify: bool) -> (Option<String>, Vec<u8>) {
    let mut v = serde_json::to_value(t).expect("json");
    v["alert_id"] = format!("{}/{}/{}", t.account_id, t.rule.as_str(), t.opened_on).into();
    v["version"] = version.into();
    v["notify"] = notify.into();
    (Some(t.account_id.clone()), v.to_string().into_bytes())
}
