//! `[collect]` configuration. The doc comments are the user documentation.
//!
//! ```toml
//! [collect]
//! http_listen = "0.0.0.0:8090"
//!
//! [[collect.sources]]
//! name = "web"
//! # printf '%s' "$WRITE_KEY" | sha256sum
//! key_sha256 = "0d5b...e3"
//!
//! [[collect.sources]]
//! name = "segment-webhook"
//! key_sha256 = "9f86...08"
//! shared_secret = "..."   # or PULSE__COLLECT__SOURCES... ; never logged
//! account_property = "properties.company.id"
//!
//! [collect.traits]
//! licensed_seats = ["seats", "licensed_seats", "plan_seats"]
//! ```

use pulse_runtime::{
    settings::{ensure, SettingsError},
    Secret,
};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectConfig {
    /// Listen address of the Tracking API, `/metrics`, `/healthz` and `/readyz`.
    pub http_listen: String,
    /// The sources allowed to send: each with a name (the prefix of its events' ids and
    /// the name in its dead letters) and the SHA-256 of its write key. None configured:
    /// every request gets 401.
    pub sources: Vec<SourceConfig>,
    /// Largest call (one event's JSON, decoded), in bytes; a larger one is dead-lettered
    /// (`event_too_large`) and the rest of its batch goes on. 256 ..= 1 MiB, default 32 KiB.
    pub max_event_bytes: usize,
    /// Largest request body once decoded (gzip / deflate), in bytes; a larger one gets
    /// 400. 1 KiB ..= 64 MiB, default 4 MiB.
    pub max_request_bytes: usize,
    /// How long a request waits for the broker to acknowledge its events (`acks=all`)
    /// before it is answered 503 with `Retry-After`. 100 ..= 120,000 ms, default 10 s
    /// (the SDKs time out after about 15 s).
    pub ack_timeout_ms: u64,
    /// `Retry-After` of a 503, in seconds. 1 ..= 3600.
    pub retry_after_secs: u64,
    /// Requests per second allowed per source (write key); above it 429 with
    /// `Retry-After` and `X-RateLimit-Reset`. 0 (default) turns the limit off.
    pub rate_limit_per_sec: u32,
    /// Requests a source may send at once above its rate (the bucket size); 0 means
    /// `rate_limit_per_sec`.
    pub rate_limit_burst: u32,
    /// Calls whose event time is more than this many seconds ahead of the clock are
    /// rejected (`future_timestamp`), as ingest would. 0 ..= 31,536,000, default 1 day.
    pub max_future_skew_secs: i64,
    /// How long the id of an acknowledged event is remembered, so that a retry of it
    /// (an SDK that got no 200, e.g. around a broker outage) is answered without
    /// producing a second copy. 1 ..= 86,400 s, default 600.
    pub dedup_window_secs: u64,
    /// At most this many ids are remembered (about 80 bytes each), oldest forgotten
    /// first; 0 turns the deduplication off (copies are then collapsed downstream only,
    /// by `event_id`). 0 ..= 50,000,000, default 500,000.
    pub dedup_max_ids: usize,
    /// Which `group` traits become which account attributes: for each attribute, the
    /// trait names to read, the first present and non-null one wins.
    pub traits: TraitMap,
}

/// One source (`[[collect.sources]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// 1..=63 characters of `A-Z a-z 0-9 . _ -`; events' ids are `<name>:<messageId>`.
    pub name: String,
    /// Hex SHA-256 of the write key (`printf '%s' KEY | sha256sum`): the key itself is
    /// never stored.
    pub key_sha256: String,
    /// Shared secret of a webhook destination: `/v1/webhook` then requires
    /// `X-Signature` = hex HMAC-SHA1 of the body with it. Never logged.
    #[serde(default)]
    pub shared_secret: Option<Secret>,
    /// Where the account is read when a usage call has neither `context.groupId` nor
    /// `properties.account_id`: a dotted path into the call, e.g.
    /// `properties.company.id` or `context.traits.account`.
    #[serde(default)]
    pub account_property: Option<String>,
}

impl SourceConfig {
    /// A source named `name` accepting `write_key` (stored as its digest), no shared
    /// secret, no account property: for tests, benchmarks and generated configs.
    pub fn with_key(name: &str, write_key: &str) -> Self {
        use sha2::Digest as _;
        Self {
            name: name.to_owned(),
            key_sha256: hex::encode(sha2::Sha256::digest(write_key.as_bytes())),
            shared_secret: None,
            account_property: None,
        }
    }
}

/// `[collect.traits]`: account attribute = the trait names it is read from.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TraitMap {
    pub name: Vec<String>,
    /// An integer >= 0, or a string of one.
    pub licensed_seats: Vec<String>,
    pub usage_profile: Vec<String>,
    pub segment: Vec<String>,
    /// A number, or a string of one.
    pub arr: Vec<String>,
    pub csm: Vec<String>,
    pub lifecycle_stage: Vec<String>,
    /// Dates: `YYYY-MM-DD`, or an RFC 3339 date-time (its UTC date).
    pub onboarding_started_on: Vec<String>,
    pub target_graduation_on: Vec<String>,
    pub renewal_on: Vec<String>,
}

impl Default for TraitMap {
    fn default() -> Self {
        let v = |names: &[&str]| names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        Self {
            name: v(&["name"]),
            licensed_seats: v(&["seats", "licensed_seats"]),
            usage_profile: Vec::new(),
            segment: v(&["segment"]),
            arr: v(&["arr"]),
            csm: v(&["csm"]),
            lifecycle_stage: v(&["lifecycle_stage"]),
            onboarding_started_on: Vec::new(),
            target_graduation_on: Vec::new(),
            renewal_on: v(&["renewal_on"]),
        }
    }
}

/// How a trait is converted to its attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraitKind {
    Text,
    Seats,
    Number,
    Date,
}

impl TraitMap {
    /// (attribute, its trait names, how it converts), in a fixed order.
    pub fn entries(&self) -> [(&'static str, &[String], TraitKind); 10] {
        use TraitKind::*;
        [
            ("name", &self.name, Text),
            ("licensed_seats", &self.licensed_seats, Seats),
            ("usage_profile", &self.usage_profile, Text),
            ("segment", &self.segment, Text),
            ("arr", &self.arr, Number),
            ("csm", &self.csm, Text),
            ("lifecycle_stage", &self.lifecycle_stage, Text),
            ("onboarding_started_on", &self.onboarding_started_on, Date),
            ("target_graduation_on", &self.target_graduation_on, Date),
            ("renewal_on", &self.renewal_on, Date),
        ]
    }
}

impl Default for CollectConfig {
    fn default() -> Self {
        Self {
            http_listen: "127.0.0.1:8090".into(),
            sources: Vec::new(),
            max_event_bytes: 32 * 1024,
            max_request_bytes: 4 * 1024 * 1024,
            ack_timeout_ms: 10_000,
            retry_after_secs: 5,
            rate_limit_per_sec: 0,
            rate_limit_burst: 0,
            max_future_skew_secs: 86_400,
            dedup_window_secs: 600,
            dedup_max_ids: 500_000,
            traits: TraitMap::default(),
        }
    }
}

/// Longest source name: `<name>:` plus a 64-character digest stays within 128.
pub const MAX_SOURCE_NAME_CHARS: usize = 63;
const MAX_SKEW_SECS: i64 = 365 * 86_400;

impl CollectConfig {
    pub fn validate(&self) -> Result<(), SettingsError> {
        ensure(self.http_listen.parse::<std::net::SocketAddr>().is_ok(), "collect.http_listen", || {
            format!("`{}` is not an ip:port address", self.http_listen)
        })?;
        ensure((256..=1 << 20).contains(&self.max_event_bytes), "collect.max_event_bytes", || {
            format!("{} is out of range 256..=1048576", self.max_event_bytes)
        })?;
        ensure(
            (1024..=64 << 20).contains(&self.max_request_bytes) && self.max_request_bytes >= self.max_event_bytes,
            "collect.max_request_bytes",
            || format!("{} is out of range max_event_bytes..=67108864 (and at least 1024)", self.max_request_bytes),
        )?;
        ensure((100..=120_000).contains(&self.ack_timeout_ms), "collect.ack_timeout_ms", || {
            format!("{} is out of range 100..=120000", self.ack_timeout_ms)
        })?;
        ensure((1..=3600).contains(&self.retry_after_secs), "collect.retry_after_secs", || {
            format!("{} is out of range 1..=3600", self.retry_after_secs)
        })?;
        ensure(self.rate_limit_per_sec <= 1_000_000, "collect.rate_limit_per_sec", || {
            format!("{} is out of range 0..=1000000", self.rate_limit_per_sec)
        })?;
        ensure(self.rate_limit_burst <= 1_000_000, "collect.rate_limit_burst", || {
            format!("{} is out of range 0..=1000000", self.rate_limit_burst)
        })?;
        ensure((0..=MAX_SKEW_SECS).contains(&self.max_future_skew_secs), "collect.max_future_skew_secs", || {
            format!("{} is out of range 0..={MAX_SKEW_SECS}", self.max_future_skew_secs)
        })?;
        ensure((1..=86_400).contains(&self.dedup_window_secs), "collect.dedup_window_secs", || {
            format!("{} is out of range 1..=86400", self.dedup_window_secs)
        })?;
        ensure(self.dedup_max_ids <= 50_000_000, "collect.dedup_max_ids", || {
            format!("{} is out of range 0..=50000000", self.dedup_max_ids)
        })?;
        let mut names = std::collections::HashSet::new();
        let mut keys = std::collections::HashSet::new();
        for (i, s) in self.sources.iter().enumerate() {
            let key = |k: &str| format!("collect.sources[{i}].{k}");
            ensure(
                (1..=MAX_SOURCE_NAME_CHARS).contains(&s.name.len())
                    && s.name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
                &key("name"),
                || format!("`{}` must be 1..=63 characters of A-Z a-z 0-9 . _ -", s.name),
            )?;
            ensure(names.insert(s.name.as_str()), &key("name"), || format!("`{}` is listed twice", s.name))?;
            ensure(
                s.key_sha256.len() == 64 && s.key_sha256.chars().all(|c| c.is_ascii_hexdigit()),
                &key("key_sha256"),
                || "must be the 64 hex digits of the write key's SHA-256 (printf '%s' KEY | sha256sum)".into(),
            )?;
            ensure(keys.insert(s.key_sha256.to_ascii_lowercase()), &key("key_sha256"), || {
                "the same key is given to two sources".into()
            })?;
            if let Some(secret) = &s.shared_secret {
                ensure(!secret.expose().is_empty(), &key("shared_secret"), || "must not be empty".into())?;
            }
            if let Some(path) = &s.account_property {
                ensure(!path.is_empty() && path.split('.').all(|p| !p.is_empty()), &key("account_property"), || {
                    format!("`{path}` is not a dotted path such as properties.company.id")
                })?;
            }
        }
        for (attr, names, _) in self.traits.entries() {
            ensure(names.iter().all(|n| !n.is_empty()), &format!("collect.traits.{attr}"), || {
                "trait names must not be empty".into()
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> SourceConfig {
        SourceConfig { name: "web".into(), key_sha256: "ab".repeat(32), shared_secret: None, account_property: None }
    }

    #[test]
    fn defaults_are_valid_and_follow_the_spec() {
        let c = CollectConfig::default();
        c.validate().expect("defaults valid");
        assert_eq!((c.max_event_bytes, c.max_request_bytes, c.rate_limit_per_sec), (32 * 1024, 4 << 20, 0));
        assert_eq!(c.traits.licensed_seats, vec!["seats".to_owned(), "licensed_seats".to_owned()]);
    }

    #[test]
    fn errors_name_the_key() {
        type Case = (fn(&mut CollectConfig), &'static str);
        let cases: Vec<Case> = vec![
            (|c| c.http_listen = "nope".into(), "collect.http_listen"),
            (|c| c.max_event_bytes = 10, "collect.max_event_bytes"),
            (|c| c.max_request_bytes = usize::MAX, "collect.max_request_bytes"),
            (|c| c.max_request_bytes = 2048, "collect.max_request_bytes"),
            (|c| c.ack_timeout_ms = 0, "collect.ack_timeout_ms"),
            (|c| c.retry_after_secs = 0, "collect.retry_after_secs"),
            (|c| c.rate_limit_per_sec = u32::MAX, "collect.rate_limit_per_sec"),
            (|c| c.rate_limit_burst = u32::MAX, "collect.rate_limit_burst"),
            (|c| c.max_future_skew_secs = -1, "collect.max_future_skew_secs"),
            (|c| c.dedup_window_secs = 0, "collect.dedup_window_secs"),
            (|c| c.dedup_max_ids = usize::MAX, "collect.dedup_max_ids"),
            (|c| c.sources[0].name = "a b".into(), "collect.sources[0].name"),
            (|c| c.sources[0].name = "x".repeat(64), "collect.sources[0].name"),
            (|c| c.sources[0].key_sha256 = "secret".into(), "collect.sources[0].key_sha256"),
            (|c| c.sources[0].shared_secret = Some(Secret::new("")), "collect.sources[0].shared_secret"),
            (|c| c.sources[0].account_property = Some("a..b".into()), "collect.sources[0].account_property"),
            (|c| c.sources.push(c.sources[0].clone()), "collect.sources[1].name"),
            (|c| c.traits.name = vec![String::new()], "collect.traits.name"),
        ];
        for (mutate, key) in cases {
            let mut c = CollectConfig { sources: vec![source()], ..CollectConfig::default() };
            c.validate().expect("base valid");
            mutate(&mut c);
            let err = c.validate().expect_err(key).to_string();
            assert!(err.contains(key), "{err} should name {key}");
        }
    }

    #[test]
    fn a_shared_secret_never_prints() {
        let s = SourceConfig { shared_secret: Some(Secret::new("hunter2")), ..source() };
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
