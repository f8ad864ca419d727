//! An in-process `pulse collect` on a random port, producing to a test's topics.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use pulse_collect::{
    config::{CollectConfig, SourceConfig},
    CollectMetrics, Collector,
};
use pulse_runtime::{http::Readiness, kafka::KafkaConfig};
use tokio::{sync::oneshot, task::JoinHandle};

use crate::TestEnv;

/// A running collector.
pub struct CollectorHandle {
    /// Where the Tracking API (and `/metrics`) is served.
    pub addr: SocketAddr,
    pub metrics: CollectMetrics,
    stop: Option<oneshot::Sender<()>>,
    join: JoinHandle<std::io::Result<()>>,
}

impl CollectorHandle {
    /// `http://<addr>`, what an SDK's `host` is set to.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match tokio::time::timeout(Duration::from_secs(30), &mut self.join).await {
            Ok(Ok(Ok(()))) | Err(_) => {}
            Ok(Ok(Err(e))) => panic!("collector ended with an error: {e}"),
            Ok(Err(e)) => panic!("collector task failed: {e}"),
        }
    }
}

impl TestEnv {
    /// A collector for this test's topics on `kafka`, accepting `sources` as
    /// (name, write key); `tweak` adjusts the rest of the config.
    pub async fn spawn_collector_on(
        &self,
        kafka: &KafkaConfig,
        sources: &[(&str, &str)],
        tweak: impl FnOnce(&mut CollectConfig),
    ) -> CollectorHandle {
        let mut cfg = CollectConfig {
            sources: sources.iter().map(|(name, key)| SourceConfig::with_key(name, key)).collect(),
            ..CollectConfig::default()
        };
        tweak(&mut cfg);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let collector =
            Collector::new(cfg, kafka, self.topics.clone(), prometheus::Registry::new(), Readiness::default())
                .expect("collector");
        let metrics = collector.metrics().clone();
        let (stop, rx) = oneshot::channel::<()>();
        let join = tokio::spawn(Arc::new(collector).serve(listener, async move {
            let _ = rx.await;
        }));
        CollectorHandle { addr, metrics, stop: Some(stop), join }
    }

    /// [`TestEnv::spawn_collector_on`] the test's broker with the default config.
    pub async fn spawn_collector(&self, sources: &[(&str, &str)]) -> CollectorHandle {
        let kafka = self.kafka.clone();
        self.spawn_collector_on(&kafka, sources, |_| {}).await
    }
}
