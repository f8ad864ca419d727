//! A slow alert webhook for fault tests: it takes `delay` per call (so a kill lands while
//! a delivery is in flight), records every call's idempotency key and, once the delay is
//! over, acts on the key (its deduplication: what a receiver honouring the key would
//! record). Shared by the notifier's and the scorer's kill tests.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{extract::State, http::HeaderMap, routing::post, Json, Router};

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
