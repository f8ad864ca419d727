//! `pulse notify`: the alert notifier alone (webhook delivery from the alerts topic), for
//! when it should not run inside the scorers (`scorer.notify_in_scorer = false` there).

use std::sync::Arc;

use anyhow::Context as _;
use pulse_runtime::http::Readiness;
use pulse_scorer::{Notifier, ScorerMetrics, SystemClock};

use crate::settings::Settings;

pub async fn run(s: Settings) -> anyhow::Result<()> {
    anyhow::ensure!(s.scorer.webhook.url.is_some(), "scorer.webhook.url: must be set for pulse notify");
    let registry = prometheus::Registry::new();
    let metrics = ScorerMetrics::new(&registry);
    let ready = Readiness::default();
    let listen = &s.scorer.notify_http_listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("scorer.notify_http_listen: cannot listen on {listen}"))?;
    tracing::info!(addr = %listen, "serving /metrics, /healthz, /readyz");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let http = tokio::spawn(pulse_runtime::http::serve(listener, registry, ready.clone(), {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }));
    let notifier =
        Notifier { cfg: s.scorer, kafka: s.kafka, topics: s.topics, metrics, ready, clock: Arc::new(SystemClock) };
    let shutdown = async move {
        pulse_runtime::shutdown::signal().await;
        let _ = stop_tx.send(true);
    };
    notifier.run(shutdown).await.context("notifier failed")?;
    let _ = http.await;
    Ok(())
}
