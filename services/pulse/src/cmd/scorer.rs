//! `pulse scorer`: config, telemetry, connectivity check, run until SIGTERM.

use std::sync::Arc;

use anyhow::Context as _;
use pulse_runtime::http::Readiness;
use pulse_scorer::{Scorer, ScorerMetrics, SystemClock};

use crate::settings::Settings;

pub async fn run(s: Settings) -> anyhow::Result<()> {
    let scoring = s.scorer.load_scoring()?;
    let ch = s.clickhouse.client();
    pulse_runtime::clickhouse::server_version(&ch)
        .await
        .with_context(|| format!("clickhouse.url: cannot reach ClickHouse at {}", s.clickhouse.url))?;
    let registry = prometheus::Registry::new();
    let metrics = ScorerMetrics::new(&registry);
    let ready = Readiness::default();
    let listener = tokio::net::TcpListener::bind(&s.scorer.http_listen)
        .await
        .with_context(|| format!("scorer.http_listen: cannot listen on {}", s.scorer.http_listen))?;
    tracing::info!(addr = %s.scorer.http_listen, "serving /metrics, /healthz, /readyz");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let http = tokio::spawn(pulse_runtime::http::serve(listener, registry, ready.clone(), {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }));
    let scorer = Scorer {
        cfg: s.scorer,
        scoring,
        kafka: s.kafka,
        topics: s.topics,
        clickhouse: s.clickhouse,
        metrics,
        ready,
        clock: Arc::new(SystemClock),
    };
    let shutdown = async move {
        pulse_runtime::shutdown::signal().await;
        let _ = stop_tx.send(true);
    };
    scorer.run(shutdown).await.context("scorer failed")?;
    let _ = http.await;
    Ok(())
}
