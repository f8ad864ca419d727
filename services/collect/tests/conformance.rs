//! The HTTP conformance corpus (`tests/conformance/*.json`, SPEC §9) against collectors
//! spawned in process on random ports, producing to a real broker (fresh topics).
//!
//! Each case is a request (route, auth, headers, encoding, body with placeholders) and
//! what must come back (status, a subset of the JSON body, headers) and what must be on
//! the topics afterwards (events by `event_id`, a subset of their JSON). At the end, no
//! silent loss: the rejected counters equal the dead letters on the topic (each valid
//! against the dead-letter schema), the produced counters equal the events on the input
//! topics, and the 200 answers' `accepted` and `rejected` add up to the same.
//!
//! Case fields: `name`, `collector` (`main` | `limited` | `down`), `method` (POST),
//! `path`, `auth` (`basic:USER:PASS`, `basic-nocolon:KEY`, `header:KEY`, `sign:SECRET`),
//! `headers`, `encoding` (`gzip` | `deflate`), `body` (JSON) or `body_raw` (text),
//! `expect` {`status`, `body`, `headers`}, `events` [{`event_id`, `topic`, `match`}],
//! `absent` [event ids that must not be produced]. Placeholders in bodies: `{{now}}`,
//! `{{now-90s}}` (s, m, h, d), `{{pad:N}}` (N `x`s). Matchers in expectations: `$any`,
//! `$absent`, `$prefix:TEXT`, `$time:-90s` (a timestamp within 10 s of now - 90 s).

use std::{
    collections::{BTreeMap, HashMap},
    io::Write as _,
    net::SocketAddr,
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use chrono::{DateTime, Utc};
use pulse_collect::{
    config::{CollectConfig, SourceConfig},
    CollectMetrics, Collector,
};
use pulse_e2e::TestEnv;
use pulse_runtime::{http::Readiness, kafka::KafkaConfig, Secret};
use serde_json::Value;
use sha2::Digest as _;

struct Running {
    addr: SocketAddr,
    metrics: CollectMetrics,
}

fn digest(key: &str) -> String {
    hex::encode(sha2::Sha256::digest(key.as_bytes()))
}

fn source(name: &str, key: &str) -> SourceConfig {
    SourceConfig { name: name.into(), key_sha256: digest(key), shared_secret: None, account_property: None }
}

/// The corpus's sources: `web` (key `wk-web`, account also at `properties.company.id`),
/// `hook` (key `wk-hook`, shared secret `s3cr3t`), `other` (key `wk-other`).
fn main_config() -> CollectConfig {
    CollectConfig {
        sources: vec![
            SourceConfig { account_property: Some("properties.company.id".into()), ..source("web", "wk-web") },
            SourceConfig { shared_secret: Some(Secret::new("s3cr3t")), ..source("hook", "wk-hook") },
            source("other", "wk-other"),
        ],
        ..CollectConfig::default()
    }
}

async fn spawn(cfg: CollectConfig, kafka: &KafkaConfig, env: &TestEnv) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let collector = Collector::new(cfg, kafka, env.topics.clone(), prometheus::Registry::new(), Readiness::default())
        .expect("collector");
    let metrics = collector.metrics().clone();
    tokio::spawn(Arc::new(collector).serve(listener, std::future::pending()));
    Running { addr, metrics }
}

fn corpus() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/conformance")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read case file");
        let list: Vec<Value> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let file = f.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_owned();
        cases.extend(list.into_iter().map(|c| (file.clone(), c)));
    }
    cases
}

/// `{{now}}`, `{{now-90s}}`, `{{pad:N}}` replaced.
fn expand(text: &str, now: DateTime<Utc>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").map(|e| start + e).expect("closed placeholder");
        let token = &rest[start + 2..end];
        if let Some(n) = token.strip_prefix("pad:") {
            out.push_str(&"x".repeat(n.parse().expect("pad size")));
        } else if let Some(offset) = token.strip_prefix("now") {
            let t = now + offset_of(offset);
            out.push_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        } else {
            panic!("unknown placeholder {token}");
        }
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// `""`, `-90s`, `+2d`: a signed offset.
fn offset_of(s: &str) -> chrono::Duration {
    if s.is_empty() {
        return chrono::Duration::zero();
    }
    let (sign, body) = s.split_at(1);
    let (n, unit) = body.split_at(body.len() - 1);
    let n: i64 = n.parse().expect("offset number");
    let secs = n * match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => panic!("unit {other}"),
    };
    chrono::Duration::seconds(if sign == "-" { -secs } else { secs })
}

/// `expected` is a subset of `actual` (objects by key, arrays element by element and of
/// the same length), with the matchers of the module doc.
fn check(expected: &Value, actual: Option<&Value>, path: &str, now: DateTime<Utc>) -> Result<(), String> {
    if let Value::String(s) = expected {
        if s == "$absent" {
            return match actual {
                None | Some(Value::Null) => Ok(()),
                Some(v) => Err(format!("{path}: expected absent, got {v}")),
            };
        }
        if s == "$any" {
            return actual.filter(|v| !v.is_null()).map(|_| ()).ok_or_else(|| format!("{path}: missing"));
        }
        if let Some(prefix) = s.strip_prefix("$prefix:") {
            return match actual.and_then(Value::as_str) {
                Some(a) if a.starts_with(prefix) => Ok(()),
                other => Err(format!("{path}: expected prefix {prefix}, got {other:?}")),
            };
        }
        if let Some(offset) = s.strip_prefix("$time:") {
            let want = now + offset_of(offset);
            let got = actual
                .and_then(Value::as_str)
                .and_then(|a| DateTime::parse_from_rfc3339(a).ok())
                .ok_or_else(|| format!("{path}: not a timestamp: {actual:?}"))?;
            let diff = (got.with_timezone(&Utc) - want).num_seconds().abs();
            return if diff <= 10 { Ok(()) } else { Err(format!("{path}: {got} is {diff}s from {want}")) };
        }
    }
    let Some(actual) = actual else { return Err(format!("{path}: missing, expected {expected}")) };
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                check(v, a.get(k), &format!("{path}.{k}"), now)?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!("{path}: expected {} items, got {}: {actual}", e.len(), a.len()));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                check(ev, Some(av), &format!("{path}[{i}]"), now)?;
            }
            Ok(())
        }
        (e, a) if e == a => Ok(()),
        (e, a) => Err(format!("{path}: expected {e}, got {a}")),
    }
}

fn encode(encoding: Option<&str>, body: Vec<u8>) -> Vec<u8> {
    match encoding {
        None => body,
        Some("gzip") => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&body).expect("gzip");
            e.finish().expect("gzip")
        }
        Some("deflate") => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(&body).expect("deflate");
            e.finish().expect("deflate")
        }
        // An encoding the collector does not know: the body as it is.
        Some(_) => body,
    }
}

fn counter_sum(v: &prometheus::IntCounterVec) -> u64 {
    use prometheus::core::Collector as _;
    v.collect().iter().flat_map(|f| f.get_metric()).map(|m| m.get_counter().get_value() as u64).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_corpus() {
    let env = TestEnv::new(1).await;
    let main = spawn(main_config(), &env.kafka, &env).await;
    let limited = spawn(
        CollectConfig {
            rate_limit_per_sec: 1,
            rate_limit_burst: 1,
            sources: vec![source("web", "wk-web")],
            ..CollectConfig::default()
        },
        &env.kafka,
        &env,
    )
    .await;
    let dead_broker = KafkaConfig { brokers: "127.0.0.1:1".into(), ..env.kafka.clone() };
    let down = spawn(
        CollectConfig { ack_timeout_ms: 500, sources: vec![source("web", "wk-web")], ..CollectConfig::default() },
        &dead_broker,
        &env,
    )
    .await;
    let http = reqwest::Client::new();
    let cases = corpus();
    assert!(cases.len() >= 60, "the corpus has {} cases", cases.len());
    let mut failures = Vec::new();
    let mut expected_events: Vec<(String, Value, DateTime<Utc>)> = Vec::new();
    let mut absent: Vec<(String, String)> = Vec::new();
    let (mut answered_accepted, mut answered_rejected) = (0u64, 0u64);
    for (file, case) in &cases {
        let name = format!("{file}: {}", case["name"].as_str().expect("case name"));
        let now = Utc::now();
        let target = match case["collector"].as_str().unwrap_or("main") {
            "main" => &main,
            "limited" => &limited,
            "down" => &down,
            other => panic!("{name}: collector {other}"),
        };
        let text = match (&case["body"], &case["body_raw"]) {
            (Value::Null, Value::String(raw)) => raw.clone(),
            (Value::Null, Value::Null) => String::new(),
            (body, _) => body.to_string(),
        };
        let body = expand(&text, now).into_bytes();
        let method = reqwest::Method::from_bytes(case["method"].as_str().unwrap_or("POST").as_bytes()).expect("method");
        let path = case["path"].as_str().expect("path");
        let mut req = http.request(method, format!("http://{}{path}", target.addr));
        if let Some(auth) = case["auth"].as_str() {
            use base64::Engine as _;
            let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
            req = match auth.split_once(':').expect("auth kind:value") {
                ("basic", up) | ("basic-nocolon", up) => req.header("authorization", format!("Basic {}", b64(up))),
                ("header", key) => req.header("x-write-key", key),
                ("sign", secret) => req.header("x-signature", pulse_collect::auth::sign(secret, &body)),
                (other, _) => panic!("{name}: auth {other}"),
            };
        }
        if let Some(headers) = case["headers"].as_object() {
            for (k, v) in headers {
                req = req.header(k, v.as_str().expect("header value"));
            }
        }
        let encoding = case["encoding"].as_str();
        if let Some(e) = encoding {
            req = req.header("content-encoding", e);
        }
        let resp = req.body(encode(encoding, body)).send().await.unwrap_or_else(|e| panic!("{name}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let got: Value = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
        let expect = &case["expect"];
        let mut problems = Vec::new();
        if expect["status"].as_u64() != Some(u64::from(status)) {
            problems.push(format!("status {status}, expected {}: {text}", expect["status"]));
        }
        if !expect["body"].is_null() {
            if let Err(e) = check(&expect["body"], Some(&got), "body", now) {
                problems.push(e);
            }
        }
        if let Some(want) = expect["headers"].as_object() {
            for (k, v) in want {
                let actual = headers.get(k).and_then(|h| h.to_str().ok()).map(|s| Value::String(s.to_owned()));
                if let Err(e) = check(v, actual.as_ref(), &format!("header {k}"), now) {
                    problems.push(e);
                }
            }
        }
        if status == 200 && std::ptr::eq(target, &main) {
            answered_accepted += got["accepted"].as_u64().unwrap_or(0);
            answered_rejected += got["rejected"].as_array().map_or(0, |r| r.len() as u64);
        }
        for e in case["events"].as_array().into_iter().flatten() {
            expected_events.push((name.clone(), e.clone(), now));
        }
        for id in case["absent"].as_array().into_iter().flatten() {
            absent.push((name.clone(), id.as_str().expect("absent id").to_owned()));
        }
        if !problems.is_empty() {
            failures.push(format!("{name}:\n    {}", problems.join("\n    ")));
        }
    }

    // What is on the topics: exactly what the counters say, nothing more.
    let produced: u64 = counter_sum(&main.metrics.produced) + counter_sum(&limited.metrics.produced);
    let rejected: u64 = counter_sum(&main.metrics.rejected) + counter_sum(&limited.metrics.rejected);
    let letters_acked = main.metrics.dead_letters.get() + limited.metrics.dead_letters.get();
    let wait = Duration::from_secs(8);
    let (usage, crm, dlq) = tokio::join!(
        env.consume(&env.topics.usage, produced as usize + 1, wait),
        env.consume(&env.topics.crm, produced as usize + 1, wait),
        env.consume(&env.topics.dlq, rejected as usize + 1, wait),
    );
    assert_eq!(usage.len() + crm.len(), produced as usize, "input-topic messages = produced counter");
    assert_eq!(dlq.len() as u64, rejected, "dead letters on the topic = rejected counter");
    assert_eq!(letters_acked, rejected, "dead letters acknowledged = rejected counter");
    assert_eq!(answered_rejected, counter_sum(&main.metrics.rejected), "rejected entries answered = rejected counter");
    assert_eq!(answered_accepted, counter_sum(&main.metrics.accepted), "accepted answered = accepted counter");
    let schema = pulse_e2e::dead_letter_schema::validator();
    for d in &dlq {
        pulse_e2e::dead_letter_schema::assert_valid(&schema, &d.payload);
    }

    let mut by_id: HashMap<String, Vec<(&str, Value)>> = HashMap::new();
    for (topic, list) in [("usage", &usage), ("crm", &crm)] {
        for m in list.iter() {
            let v: Value = serde_json::from_slice(&m.payload).expect("event json");
            pulse_core::parse_event(&m.payload).unwrap_or_else(|e| panic!("ingest refuses {v}: {e:?}"));
            let id = v["event_id"].as_str().expect("event_id").to_owned();
            assert_eq!(m.key.as_deref(), v["account_id"].as_str().map(str::as_bytes), "keyed by account: {v}");
            by_id.entry(id).or_default().push((topic, v));
        }
    }
    for (name, e, now) in &expected_events {
        let now = *now;
        let id = e["event_id"].as_str().expect("event_id");
        let topic = e["topic"].as_str().unwrap_or("usage");
        let Some(found) = by_id.get(id) else {
            failures.push(format!("{name}: no event {id} on the topics"));
            continue;
        };
        let matched =
            found.iter().filter(|(t, _)| *t == topic).any(|(_, v)| check(&e["match"], Some(v), "event", now).is_ok());
        if !matched {
            let why: Vec<String> =
                found.iter().map(|(t, v)| check(&e["match"], Some(v), t, now).err().unwrap_or_default()).collect();
            failures.push(format!("{name}: event {id} does not match: {}", why.join("; ")));
        }
    }
    // The two calls without a usable messageId: minted ids, counted.
    let minted: Vec<&String> = by_id.keys().filter(|id| id.starts_with("web:minted-")).collect();
    assert_eq!(minted.len(), 2, "minted ids on the topic: {minted:?}");
    assert_eq!(main.metrics.minted_ids.get(), 2, "minted ids counted");
    for (name, id) in &absent {
        if by_id.contains_key(id) {
            failures.push(format!("{name}: event {id} was produced"));
        }
    }
    let by_reason: BTreeMap<String, usize> = dlq.iter().fold(BTreeMap::new(), |mut m, d| {
        let v: Value = serde_json::from_slice(&d.payload).expect("json");
        *m.entry(v["reason"].as_str().unwrap_or("?").to_owned()).or_default() += 1;
        m
    });
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    eprintln!("{} cases passed; dead letters by reason: {by_reason:?}", cases.len());
}
