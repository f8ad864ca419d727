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

use crate::settings::{ensure, Secret, SettingsError};

/// `[kafka]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap servers, comma separated (`host:port,host:port`).
    pub brokers: String,
    /// Client id reported to the broker.
    pub client_id: String,
    /// `PLAINTEXT` (default), `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.
    pub security_protocol: String,
    /// SASL mechanism when `security_protocol` is `SASL_*`: `PLAIN`, `SCRAM-SHA-256` or
    /// `SCRAM-SHA-512`.
    pub sasl_mechanism: Option<String>,
    /// SASL user name (e.g. `PULSE__KAFKA__SASL_USERNAME`).
    pub sasl_username: Option<String>,
    /// SASL password (e.g. `PULSE__KAFKA__SASL_PASSWORD`); never logged.
    pub sasl_password: Option<Secret>,
    /// CA bundle (PEM file) to verify the brokers' TLS certificates; default: system CAs.
    pub ssl_ca_location: Option<String>,
    /// Extra librdkafka properties, e.g. `"sasl.oauthbearer.config" = "..."`. Applied
    /// last; values are passed as they are and never logged. Properties that would break
    /// what Pulse's delivery guarantees or TLS rest on (see [`unsafe_property`]) are
    /// refused at start-up, naming the key, unless `allow_unsafe_kafka_properties`.
    pub properties: BTreeMap<String, String>,
    /// Accept `[kafka.properties]` that break at-least-once delivery or TLS verification
    /// (auto commit, `acks` other than all, certificate or host-name verification off,
    /// ...). For a test rig only: with it, a crash can lose or skip events.
    pub allow_unsafe_kafka_properties: bool,
}

/// librdkafka's default `message.max.bytes`.
pub const DEFAULT_MESSAGE_MAX_BYTES: usize = 1_000_000;

/// Why a `[kafka.properties]` entry breaks what Pulse relies on, if it does: offsets are
/// committed by hand only after outputs are durable, outputs are acknowledged by every
/// in-sync replica, a new consumer group starts at the beginning, each service has its own
/// group, a delivery always ends (acknowledged or failed), and brokers' certificates and
/// host names are verified.
pub fn unsafe_property(key: &str, value: &str) -> Option<&'static str> {
    let v = value.trim().to_ascii_lowercase();
    let is_false = matches!(v.as_str(), "false" | "0" | "f" | "no" | "off");
    match key.trim() {
        "enable.auto.commit" | "enable.auto.offset.store" if !is_false => {
            Some("commits offsets before their outputs are durable: a crash loses events (at-least-once)")
        }
        "acks" | "request.required.acks" | "topic.acks" if !matches!(v.as_str(), "all" | "-1") => {
            Some("outputs acknowledged before every in-sync replica has them can be lost")
        }
        "auto.offset.reset" if !matches!(v.as_str(), "earliest" | "smallest" | "beginning") => {
            Some("a new consumer group would skip what is already in the topics (use ingest.auto_offset_reset)")
        }
        "group.id" => Some("each service sets its own group (ingest.group_id, scorer.group_id)"),
        "message.timeout.ms" | "delivery.timeout.ms" if v == "0" => {
            Some("deliveries that never time out can hang a write forever")
        }
        "enable.ssl.certificate.verification" if is_false => Some("turns off TLS certificate verification"),
        "ssl.endpoint.identification.algorithm" if v == "none" => Some("turns off TLS host-name verification"),
        _ => None,
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            client_id: "pulse".into(),
            security_protocol: "PLAINTEXT".into(),
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
            ssl_ca_location: None,
            properties: BTreeMap::new(),
            allow_unsafe_kafka_properties: false,
        }
    }
}

impl KafkaConfig {
    pub fn validate(&self) -> Result<(), SettingsError> {
        ensure(!self.brokers.trim().is_empty(), "kafka.brokers", || "must not be empty".into())?;
        for b in self.brokers.split(',') {
            ensure(
                b.trim().rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()),
                "kafka.brokers",
                || format!("`{b}` is not host:port"),
            )?;
        }
        let proto = self.security_protocol.to_ascii_uppercase();
        ensure(
            matches!(proto.as_str(), "PLAINTEXT" | "SSL" | "SASL_PLAINTEXT" | "SASL_SSL"),
            "kafka.security_protocol",
            || format!("`{}` must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", self.security_protocol),
        )?;
        if proto.starts_with("SASL") {
            let mech = self.sasl_mechanism.as_deref().unwrap_or("");
            ensure(matches!(mech, "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512"), "kafka.sasl_mechanism", || {
                format!("`{mech}` must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 with {proto}")
            })?;
            ensure(self.sasl_username.as_deref().is_some_and(|u| !u.is_empty()), "kafka.sasl_username", || {
                format!("required with {proto}")
            })?;
            ensure(self.sasl_password.is_some(), "kafka.sasl_password", || format!("required with {proto}"))?;
        }
        if !self.allow_unsafe_kafka_properties {
            for (k, v) in &self.properties {
                if let Some(why) = unsafe_property(k, v) {
                    return Err(SettingsError::invalid(
                        format!("kafka.properties.\"{k}\""),
                        format!("{why}; set kafka.allow_unsafe_kafka_properties = true to accept it anyway"),
                    ));
                }
            }
        }
        self.message_max_bytes().map(|_| ())
    }

    /// The producers' `message.max.bytes` (`[kafka.properties]`, else librdkafka's
    /// default): what every record Pulse produces must fit.
    pub fn message_max_bytes(&self) -> Result<usize, SettingsError> {
        match self.properties.get("message.max.bytes") {
            None => Ok(DEFAULT_MESSAGE_MAX_BYTES),
            Some(v) => v.trim().parse::<usize>().ok().filter(|n| (1000..=1_000_000_000).contains(n)).ok_or_else(|| {
                SettingsError::invalid(
                    "kafka.properties.\"message.max.bytes\"",
                    format!("`{v}` is not a number in 1000..=1000000000"),
                )
            }),
        }
    }

    /// Base client config shared by consumers, producers and admin clients.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", &self.client_id)
            .set("security.protocol", &self.security_protocol);
        if let Some(m) = &self.sasl_mechanism {
            c.set("sasl.mechanism", m);
        }
        if let Some(u) = &self.sasl_username {
            c.set("sasl.username", u);
        }
        if let Some(p) = &self.sasl_password {
            c.set("sasl.password", p.expose());
        }
        if let Some(ca) = &self.ssl_ca_location {
            c.set("ssl.ca.location", ca);
        }
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }

    /// Config of a consumer-group member that commits by hand: offsets are stored and
    /// committed only by the service, after its outputs are durable. Also the group
    /// timing every Pulse consumer relies on (user `[kafka.properties]` still win):
    /// - `max.poll.interval.ms` 20 s is also the rebalance timeout a joining member waits
    ///   for a dead one; services keep polling while they retry writes
    ///   (`crate::retry`), so they never go that long without a poll;
    /// - `session.timeout.ms` 10 s: a crashed member holds its partitions until its
    ///   session expires, so keep it short and a replacement takes over within seconds.
    pub fn consumer_config(&self, group_id: &str, auto_offset_reset: &str, fetch_wait_max_ms: u32) -> ClientConfig {
        let mut c = self.client_config();
        c.set("group.id", group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", auto_offset_reset)
            .set("statistics.interval.ms", "5000")
            .set("max.poll.interval.ms", "20000")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "2000")
            .set("fetch.wait.max.ms", fetch_wait_max_ms.to_string());
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }

    /// The settings of a producer for outputs that must not be lost: acks from all
    /// in-sync replicas, idempotence off (tansu does not support it; delivery is checked
    /// per message and outputs are idempotent downstream), murmur2 partitioning so keys
    /// land where Java clients would put them.
    fn producer_config(&self) -> ClientConfig {
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
        c
    }

    /// A producer for outputs that must not be lost (see `producer_config`).
    pub fn producer(&self) -> Result<FutureProducer, KafkaError> {
        self.producer_config().create()
    }

    /// The same producer acknowledging whole batches (ingest's writes).
    pub fn batch_producer(&self) -> Result<crate::batch_producer::BatchProducer, KafkaError> {
        let p = self.producer_config().create_with_context(crate::batch_producer::AckContext)?;
        Ok(crate::batch_producer::BatchProducer::new(p))
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
    /// Every topic named `{prefix}.{role}` (throwaway topics for tests and benchmarks).
    pub fn with_prefix(prefix: &str) -> Self {
        let t = |n: &str| format!("{prefix}.{n}");
        Self {
            usage: t("usage"),
            crm: t("crm"),
            events: t("events"),
            dlq: t("dlq"),
            health: t("health"),
            readiness: t("readiness"),
            alerts: t("alerts"),
        }
    }

    pub fn all(&self) -> [&str; 7] {
        [&self.usage, &self.crm, &self.events, &self.dlq, &self.health, &self.readiness, &self.alerts]
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

/// Consumer lag of `topic` summed over the partitions this client holds, from
/// librdkafka statistics (`None` when the topic is not in them).
pub fn consumer_lag(stats: &rdkafka::statistics::Statistics, topic: &str) -> Option<i64> {
    stats.topics.get(topic).map(|t| {
        t.partitions.values().filter(|p| p.partition >= 0 && p.consumer_lag >= 0).map(|p| p.consumer_lag).sum()
    })
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
    let new: Vec<NewTopic<'_>> =
        topics.iter().map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(replication))).collect();
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

/// Sends a dead letter to `topic` (keyed like the message it stands for) and waits for
/// the broker's acknowledgement: the one way every service writes its dead letters.
pub async fn send_dead_letter(
    producer: &rdkafka::producer::FutureProducer,
    topic: &str,
    key: Option<&[u8]>,
    letter: &crate::dlq::DeadLetter,
) -> Result<(), rdkafka::error::KafkaError> {
    let payload = letter.to_json();
    let mut rec: rdkafka::producer::FutureRecord<'_, [u8], Vec<u8>> =
        rdkafka::producer::FutureRecord::to(topic).payload(&payload);
    if let Some(k) = key {
        rec = rec.key(k);
    }
    producer.send(rec, std::time::Duration::from_secs(30)).await.map(|_| ()).map_err(|(e, _)| e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_settings_are_checked_and_the_password_never_prints() {
        let mut k = KafkaConfig { security_protocol: "SASL_SSL".into(), ..KafkaConfig::default() };
        assert!(k.validate().expect_err("no mechanism").to_string().contains("kafka.sasl_mechanism"));
        k.sasl_mechanism = Some("SCRAM-SHA-512".into());
        assert!(k.validate().expect_err("no user").to_string().contains("kafka.sasl_username"));
        k.sasl_username = Some("pulse".into());
        assert!(k.validate().expect_err("no password").to_string().contains("kafka.sasl_password"));
        k.sasl_password = Some(Secret::new("s3cret-value"));
        k.validate().expect("complete SASL settings are valid");
        assert!(!format!("{k:?}").contains("s3cret-value"));
        let bad = KafkaConfig { security_protocol: "TLS".into(), ..KafkaConfig::default() };
        assert!(bad.validate().expect_err("bad protocol").to_string().contains("kafka.security_protocol"));
    }

    /// Issue 19: `[kafka.properties]` could silently turn off what the delivery
    /// guarantees rest on; each such entry is refused naming the key, unless allowed.
    #[test]
    fn properties_that_break_the_guarantees_are_refused_naming_the_key() {
        let refused = [
            ("enable.auto.commit", "true"),
            ("enable.auto.offset.store", "TRUE"),
            ("acks", "1"),
            ("acks", "0"),
            ("request.required.acks", "1"),
            ("auto.offset.reset", "latest"),
            ("group.id", "shared"),
            ("message.timeout.ms", "0"),
            ("enable.ssl.certificate.verification", "false"),
            ("ssl.endpoint.identification.algorithm", "none"),
            ("message.max.bytes", "lots"),
            ("message.max.bytes", "10"),
        ];
        for (k, v) in refused {
            let mut c = KafkaConfig::default();
            c.properties.insert(k.into(), v.into());
            let err = c.validate().expect_err(k).to_string();
            assert!(err.contains(&format!("kafka.properties.\"{k}\"")), "{err} should name {k}");
            if k != "message.max.bytes" {
                c.allow_unsafe_kafka_properties = true;
                c.validate().expect("allowed explicitly");
            }
        }
        let fine = [
            ("enable.auto.commit", "false"),
            ("acks", "all"),
            ("acks", "-1"),
            ("auto.offset.reset", "earliest"),
            ("ssl.endpoint.identification.algorithm", "https"),
            ("message.max.bytes", "2000000"),
            ("linger.ms", "20"),
        ];
        for (k, v) in fine {
            let mut c = KafkaConfig::default();
            c.properties.insert(k.into(), v.into());
            c.validate().unwrap_or_else(|e| panic!("{k}={v}: {e}"));
        }
        let mut c = KafkaConfig::default();
        assert_eq!(c.message_max_bytes().expect("default"), DEFAULT_MESSAGE_MAX_BYTES);
        c.properties.insert("message.max.bytes".into(), "2000000".into());
        assert_eq!(c.message_max_bytes().expect("set"), 2_000_000);
    }
}
