//! Shared fixture (one database for the read-only tests of this binary) and the
//! in-process API.
//!
//! The API needs ClickHouse only (`PULSE_TEST_CLICKHOUSE`, default
//! `http://127.0.0.1:8123`): each database is created and migrated here, without the
//! Kafka topics that `TestEnv::new` also creates.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use pulse_api::{config::parse_tokens, fixtures, ApiConfig, App};
use pulse_e2e::TestEnv;
use serde_json::Value;
use tokio::sync::OnceCell;

pub const ACCOUNTS: u32 = 20;
pub const DAYS: u32 = 40;

pub fn end() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 21).expect("date")
}

pub fn spec(accounts: u32, days: u32) -> fixtures::FixtureSpec {
    fixtures::FixtureSpec { accounts, copies: 1, days, end: end(), seed: 7 }
}

/// A database with fixture data, loaded once per test binary and only read.
pub async fn shared() -> &'static TestEnv {
    static ENV: OnceCell<TestEnv> = OnceCell::const_new();
    ENV.get_or_init(|| async { loaded(ACCOUNTS, DAYS).await }).await
}

/// A fresh, migrated database (no Kafka topics: the API does not use them).
pub async fn fresh() -> TestEnv {
    pulse_runtime::telemetry::init(&pulse_runtime::telemetry::TelemetryConfig {
        log_level: "warn".into(),
        ..Default::default()
    });
    let tag = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let clickhouse = pulse_runtime::clickhouse::ClickHouseConfig {
        url: std::env::var("PULSE_TEST_CLICKHOUSE").unwrap_or_else(|_| "http://127.0.0.1:8123".into()),
        database: format!("pulse_test_{tag}"),
        ..Default::default()
    };
    let now = u32::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
    pulse_runtime::migrate::migrate(&clickhouse, now)
        .await
        .expect("migrate test database (is ClickHouse up? PULSE_TEST_CLICKHOUSE)");
    TestEnv {
        topics: pulse_runtime::kafka::TopicsConfig::with_prefix(&format!("test.{tag}")),
        kafka: pulse_runtime::kafka::KafkaConfig::default(),
        tag,
        clickhouse,
    }
}

/// A fresh database with fixture data (for tests that write).
pub async fn loaded(accounts: u32, days: u32) -> TestEnv {
    let env = fresh().await;
    fixtures::load(&env.ch(), &spec(accounts, days), &pulse_core::ScoringConfig::default())
        .await
        .expect("load fixtures");
    env
}

/// What the core computes for the fixture's last day, independently of ClickHouse:
/// (account id, kind) -> result JSON.
pub fn expected(accounts: u32, days: u32) -> BTreeMap<(String, String), Value> {
    let mut ndjson = Vec::new();
    pulse_gen::write_demo(
        &pulse_gen::DemoSpec { accounts, days: days + 27, end: end(), seed: 7, malformed: false },
        &mut ndjson,
    )
    .expect("demo");
    pulse_e2e::replay_expected(&ndjson, end())
}

pub struct Api {
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
}

pub const TOKEN_NAME: &str = "tester";

pub async fn spawn(env: &TestEnv) -> Api {
    spawn_with(env, ApiConfig { max_page_size: 100, max_range_days: 120, ..ApiConfig::default() }).await
}

/// The in-process API with this configuration.
pub async fn spawn_with(env: &TestEnv, cfg: ApiConfig) -> Api {
    let token = format!("tok-{}", uuid::Uuid::new_v4().simple());
    let creds = parse_tokens(&format!("{TOKEN_NAME}:{token}")).expect("tokens");
    let app = App::new(cfg, creds, &env.clickhouse, pulse_core::ScoringConfig::default(), prometheus::Registry::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(app.serve(listener, std::future::pending()));
    Api { base, token, http: http_client() }
}

/// An HTTP client. reqwest is built without a default crypto provider (the workspace
/// picks rustls with ring explicitly), so `reqwest::Client::new()` would panic: hand it
/// the runtime's TLS configuration.
pub fn http_client() -> reqwest::Client {
    let tls = pulse_runtime::tls::client_config(&[], "test").expect("tls config");
    reqwest::Client::builder().use_preconfigured_tls(tls).build().expect("http client")
}

impl Api {
    pub async fn raw(&self, path: &str, auth: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        req.send().await.unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// GET with the bearer token: status and JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.raw(path, Some(&format!("Bearer {}", self.token))).await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_else(|e| panic!("GET {path}: reading the body: {e}"));
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// GET that must answer 200.
    pub async fn ok(&self, path: &str) -> Value {
        let (s, v) = self.get(path).await;
        assert_eq!(s, 200, "GET {path}: {v}");
        v
    }

    /// GET that must answer 400 with a message containing `want`.
    pub async fn bad(&self, path: &str, want: &str) {
        let (s, v) = self.get(path).await;
        assert_eq!(s, 400, "GET {path}: {v}");
        let msg = v["error"]["message"].as_str().expect("message");
        assert!(msg.contains(want), "GET {path}: message `{msg}` should contain `{want}`");
        assert_eq!(v["error"]["code"], "bad_request");
    }

    pub async fn post(&self, path: &str, content_type: &str, body: &str) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .expect("POST");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_else(|e| panic!("POST {path}: reading the body: {e}"));
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Every item of a paginated list, page by page.
    pub async fn all(&self, path: &str) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut out = Vec::new();
        for page in 1.. {
            let v = self.ok(&format!("{path}{sep}page={page}&page_size=7")).await;
            let items = v["items"].as_array().cloned().unwrap_or_else(|| panic!("{path}: no items array: {v}"));
            out.extend(items.iter().cloned());
            if items.len() < 7 {
                assert_eq!(out.len() as u64, v["total"].as_u64().expect("total"), "{path}: pages add up to total");
                break;
            }
        }
        out
    }
}

pub fn strs(items: &[Value], key: &str) -> Vec<String> {
    items.iter().map(|i| i[key].as_str().unwrap_or_else(|| panic!("{key}: {i}")).to_owned()).collect()
}

pub fn nums(items: &[Value], key: &str) -> Vec<f64> {
    items.iter().map(|i| i[key].as_f64().unwrap_or(f64::NAN)).collect()
}

pub fn is_sorted_by(v: &[f64], desc: bool) -> bool {
    v.windows(2).all(|w| if desc { w[0] >= w[1] } else { w[0] <= w[1] })
}
