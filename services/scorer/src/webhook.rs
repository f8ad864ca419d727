//! Optional alert webhook (Slack-compatible `{"text": ...}` plus the transition itself).
//!
//! Runs beside the scorer so a slow or failing endpoint never holds up scoring: each
//! transition is retried with backoff up to `max_attempts`, then written to the DLQ
//! topic (`reason: webhook_failed`) so it is never lost silently. A full queue also
//! dead-letters (`webhook_queue_full`).

use std::time::Duration;

use pulse_core::AlertTransition;
use pulse_runtime::Secret;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::mpsc;

use crate::{config::WebhookConfig, metrics::ScorerMetrics, rows::alert_id};

pub struct Webhook {
    tx: mpsc::Sender<AlertTransition>,
    producer: FutureProducer,
    dlq: String,
    metrics: ScorerMetrics,
}

/// The JSON body: Slack shows `text`; other receivers read the structured fields.
pub fn body(t: &AlertTransition) -> serde_json::Value {
    let verb = t.state.as_str();
    serde_json::json!({
        "text": format!("[{}] {} {} for {}: {}", verb, t.rule.as_str(), verb, t.account_id, t.message),
        "alert_id": alert_id(t),
        "alert": t,
    })
}

/// The webhook's HTTP client: rustls with Mozilla's roots plus `ca_file`, and the
/// configured timeout. Shared with the TLS test, so what is tested is what runs.
pub fn http_client(cfg: &WebhookConfig) -> Result<reqwest::Client, pulse_runtime::settings::SettingsError> {
    let tls = pulse_runtime::tls::client_config_for(cfg.ca_file.as_deref(), "scorer.webhook.ca_file")?;
    reqwest::Client::builder()
        .timeout(Duration::from_millis(cfg.timeout_ms))
        .use_preconfigured_tls(tls)
        .build()
        .map_err(|e| pulse_runtime::settings::SettingsError::invalid("scorer.webhook", format!("HTTP client: {e}")))
}

impl Webhook {
    pub fn spawn(
        url: Secret,
        cfg: WebhookConfig,
        producer: FutureProducer,
        dlq: String,
        metrics: ScorerMetrics,
    ) -> Self {
        let (tx, mut rx) = mpsc::channel::<AlertTransition>(10_000);
        let client = http_client(&cfg).unwrap_or_else(|e| {
            // validate() refused an unusable ca_file at start-up; this is a last resort.
            tracing::error!(error = %e, "webhook TLS setup failed; using the default client");
            reqwest::Client::default()
        });
        let (p2, d2, m2) = (producer.clone(), dlq.clone(), metrics.clone());
        tokio::spawn(async move {
            while let Some(t) = rx.recv().await {
                let b = body(&t);
                let mut delay = Duration::from_millis(200);
                let mut delivered = false;
                let mut last_error = String::new();
                for attempt in 1..=cfg.max_attempts {
                    match client.post(url.expose()).json(&b).send().await {
                        Ok(r) if r.status().is_success() => {
                            delivered = true;
                            break;
                        }
                        Ok(r) => last_error = format!("HTTP {}", r.status()),
                        Err(e) => last_error = e.without_url().to_string(),
                    }
                    tracing::warn!(attempt, error = %last_error, alert = %alert_id(&t), "alert webhook delivery failed");
                    if attempt < cfg.max_attempts {
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(30));
                    }
                }
                if delivered {
                    m2.webhook.with_label_values(&["delivered"]).inc();
                } else {
                    m2.webhook.with_label_values(&["dead_lettered"]).inc();
                    dead_letter(&p2, &d2, &t, "webhook_failed", &last_error).await;
                }
            }
        });
        Self { tx, producer, dlq, metrics }
    }

    /// Queues a transition; never blocks the scorer.
    pub fn send(&self, t: AlertTransition) {
        if let Err(mpsc::error::TrySendError::Full(t) | mpsc::error::TrySendError::Closed(t)) = self.tx.try_send(t) {
            self.metrics.webhook.with_label_values(&["dead_lettered"]).inc();
            let (p, d) = (self.producer.clone(), self.dlq.clone());
            tokio::spawn(async move { dead_letter(&p, &d, &t, "webhook_queue_full", "queue full").await });
        }
    }
}

async fn dead_letter(producer: &FutureProducer, dlq: &str, t: &AlertTransition, reason: &str, detail: &str) {
    let payload =
        serde_json::json!({ "reason": reason, "detail": detail, "alert": t, "alert_id": alert_id(t) }).to_string();
    let key = t.account_id.clone();
    if let Err((e, _)) = producer.send(FutureRecord::to(dlq).key(&key).payload(&payload), Duration::from_secs(30)).await
    {
        tracing::error!(error = %e, alert = %alert_id(t), "alert could not be delivered nor dead-lettered");
    }
}
