//! `pulse collect`: config, connectivity check, serve the Tracking API until SIGTERM.

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use pulse_collect::Collector;
use pulse_runtime::http::Readiness;
use rdkafka::producer::Producer as _;

use crate::settings::Settings;

pub async fn run(s: Settings) -> anyhow::Result<()> {
    // Connectivity check at start-up: a wrong broker address fails here with the key
    // named; an outage later is answered 503 (the SDKs retry), never fatal.
    let probe = s.kafka.producer().context("kafka: cannot create a producer")?;
    tokio::task::spawn_blocking(move || probe.client().fetch_metadata(None, Duration::from_secs(10)).map(|_| ()))
        .await
        .context("kafka metadata check")?
        .with_context(|| format!("kafka.brokers: cannot reach the broker at {}", s.kafka.brokers))?;
    if s.collect.sources.is_empty() {
        tracing::warn!("no collect.sources configured: every request will get 401");
    }
    let listener = tokio::net::TcpListener::bind(&s.collect.http_listen)
        .await
        .with_context(|| format!("collect.http_listen: cannot listen on {}", s.collect.http_listen))?;
    tracing::info!(addr = %s.collect.http_listen, sources = s.collect.sources.len(), "serving the tracking api");
    let collector = Collector::new(s.collect, &s.kafka, s.topics, prometheus::Registry::new(), Readiness::default())
        .context("collect")?;
    Arc::new(collector).serve(listener, pulse_runtime::shutdown::signal()).await.context("collect failed")
}
