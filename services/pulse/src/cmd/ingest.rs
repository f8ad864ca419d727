//! `pulse ingest`: config, telemetry, connectivity check, run until SIGTERM.

use anyhow::Context as _;
use pulse_ingest::{Ingest, IngestMetrics};
use pulse_runtime::http::Readiness;

use crate::settings::Settings;

pub async fn run(s: Settings) -> anyhow::Result<()> {
    // Connectivity check at start-up: fail fast with a clear message rather than retrying
    // a misconfigured URL forever. (Outages *after* start are retried, never fatal.)
    let ch = s.clickhouse.client();
    pulse_runtime::clickhouse::server_version(&ch)
        .await
        .with_context(|| format!("clickhouse.url: cannot reach ClickHouse at {}", s.clickhouse.url))?;

    let registry = prometheus::Registry::new();
    let metrics = IngestMetrics::new(&registry);
    let ready = Readiness::default();
    let listener = tokio::net::TcpListener::bind(&s.ingest.http_listen)
        .await
        .with_context(|| format!("ingest.http_listen: cannot listen on {}", s.ingest.http_listen))?;
    tracing::info!(addr = %s.ingest.http_listen, "serving /metrics, /healthz, /readyz");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let http = tokio::spawn(pulse_runtime::http::serve(listener, registry, ready.clone(), {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }));
    let ingest = Ingest { cfg: s.ingest, kafka: s.kafka, topics: s.topics, clickhouse: s.clickhouse, metrics, ready };
    let shutdown = async move {
        pulse_runtime::shutdown::signal().await;
        let _ = stop_tx.send(true);
    };
    ingest.run(shutdown).await.context("ingest failed")?;
    let _ = http.await;
    Ok(())
}
