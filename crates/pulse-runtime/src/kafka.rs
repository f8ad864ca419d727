//! Kafka clients from configuration, and idempotent topic creation.
//!
//! Any librdkafka property can be passed through `[kafka.properties]` (SASL, TLS, ...);
//! Pulse sets only what its delivery guarantees depend on and says so here.

use std::{collections::BTreeMap, time::Duration};

use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    config::ClientConfig,
    error::KafkaError,
    producer::FutureProducer,
    types::RDKafkaErrorCode,
};
use serde::Deserialize;

use crate::settings::{ensure, SettingsError};

/// `[kafka]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap servers, comma separated (`host:port,host:port`).
    pub brokers: String,
    /// Client id reported to the broker.
    pub client_id: String,
    /// Extra librdkafka properties, e.g. `"security.protocol" = "SASL_SSL"`.
    /// Values are passed as they are and never logged.
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            client_id: "pulse".into(),
            properties: BTreeMap::new(),
        }
    }
}

impl KafkaConfig {
    pub fn validate(&self) -> Result<(), SettingsError> {
        ensure(!self.brokers.trim().is_empty(), "kafka.brokers", || "must not be empty".into())?;
        for b in self.brokers.split(',') {
            ensure(b.trim().rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()), "kafka.brokers", || {
                format!("`{b}` is not host:port")
            })?;
        }
        Ok(())
    }

    /// Base client config shared by consumers, producers and admin clients.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers).set("client.id", &self.client_id);
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }

    /// A producer for outputs that must not be lost: acks from all in-sync replicas,
    /// idempotence off (tansu does not support it; delivery is checked per message and
    /// outputs are idempotent downstream), murmur2 partitioning so keys land where Java
    /// clients would put them.
    pub fn producer(&self) -> Result<FutureProducer, KafkaError> {
        let mut c = self.client_config();
        c.set("acks", "all")
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "5")
            .set("batch.num.messages", "10000")
            .set("queue.buffering.max.kbytes", "262144")
            .set("message.timeout.ms", "30000")
            .set("compression.type", "none");
        // user properties win
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c.create()
    }
}

/// `[topics]` section: every topic name Pulse uses.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicsConfig {
    /// Product-analytics events (native usage or Segment `track`).
    pub usage: String,
    /// CRM events: account, assessment and evidence events.
    pub crm: String,
    /// Normalized, validated events keyed by account id (ingest -> scorer).
    pub events: String,
    /// Dead letters: invalid input with its original bytes and the reason.
    pub dlq: String,
    /// Health results.
    pub health: String,
    /// Graduation-readiness results.
    pub readiness: String,
    /// Alert transitions.
    pub alerts: String,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        Self {
            usage: "pulse.usage".into(),
            crm: "pulse.crm".into(),
            events: "pulse.events".into(),
            dlq: "pulse.dlq".into(),
            health: "pulse.health".into(),
            readiness: "pulse.readiness".into(),
            alerts: "pulse.alerts".into(),
        }
    }
}

impl TopicsConfig {
    pub fn all(&self) -> [&str; 7] {
        [
            &self.usage,
            &self.crm,
            &self.events,
            &self.dlq,
            &self.health,
            &self.readiness,
            &self.alerts,
        ]
    }

    pub fn validate(&self) -> Result<(), SettingsError> {
        let names = [
            ("topics.usage", &self.usage),
            ("topics.crm", &self.crm),
            ("topics.events", &self.events),
            ("topics.dlq", &self.dlq),
            ("topics.health", &self.health),
            ("topics.readiness", &self.readiness),
            ("topics.alerts", &self.alerts),
        ];
        for (key, name) in names {
            ensure(
                !name.is_empty()
                    && name.len() <= 249
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
                key,
                || format!("`{name}` is not a valid topic name"),
            )?;
        }
        Ok(())
    }
}

/// Creates `topics` with `partitions` partitions each; topics that exist already are
/// left as they are, so this is safe to run at every start-up.
pub async fn create_topics(
    cfg: &KafkaConfig,
    topics: &[&str],
    partitions: i32,
    replication: i32,
) -> Result<Vec<String>, KafkaError> {
    let admin: AdminClient<DefaultClientContext> = cfg.client_config().create()?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(replication)))
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin.create_topics(&new, &opts).await?;
    let mut created = Vec::new();
    for r in results {
        match r {
            Ok(name) => created.push(name),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(KafkaError::AdminOp(code)).inspect_err(|_| {
                    tracing::error!(topic = %name, error = %code, "topic creation failed");
                })
            }
        }
    }
    Ok(created)
}
