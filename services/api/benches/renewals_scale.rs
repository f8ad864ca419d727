//! The renewals and accuracy pages at scale (issue 24 item 5):
//! `cargo bench -p pulse-api --bench renewals_scale`.
//!
//! Loads `pulse_api::fixtures::scale` once into `PULSE_BENCH_DATABASE` (default
//! `pulse_renewals_bench`; `PULSE_BENCH_ACCOUNTS`, default 200,000 accounts with two
//! years of renewal outcomes); a later run reuses it (drop the database to reload).
//! Then times `PULSE_BENCH_REQUESTS` (20) sequential requests of each renewals and
//! accuracy route and page, after the first (cold) one, timed apart, and GETs every
//! other page and route once, printing its status. The API is served in-process,
//! or, with `PULSE_BENCH_URL` (and `PULSE_BENCH_TOKEN`), another one is timed: a build
//! of older code serving the same database, for a baseline. An answer other than 200
//! is counted and timed, not fatal: the baseline answers 503 at this scale.
//! Numbers: docs/benchmarks.md, "API", "Renewals and accuracy at 200,000 accounts".

use std::time::{Duration, Instant};

use pulse_api::{config::parse_tokens, fixtures::scale, ApiConfig, App};
use pulse_runtime::clickhouse::ClickHouseConfig;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i.min(sorted.len().saturating_sub(1))).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return Ok(()); // `cargo test --benches` / harness probing: nothing to list
    }
    let accounts = env_u64("PULSE_BENCH_ACCOUNTS", 200_000);
    let requests = env_u64("PULSE_BENCH_REQUESTS", 20) as usize;
    let ch = ClickHouseConfig {
        url: std::env::var("PULSE_BENCH_CLICKHOUSE").unwrap_or_else(|_| "http://127.0.0.1:8123".into()),
        database: std::env::var("PULSE_BENCH_DATABASE").unwrap_or_else(|_| "pulse_renewals_bench".into()),
        ..ClickHouseConfig::default()
    };
    let now = chrono::Utc::now();
    pulse_runtime::migrate::migrate(&ch, u32::try_from(now.timestamp()).unwrap_or(0)).await?;
    let scoring = pulse_core::ScoringConfig::default();
    let have: u64 = ch.client().query("SELECT count() FROM account_health").fetch_one().await?;
    if have == 0 {
        let spec = scale::ScaleSpec { accounts, today: now.date_naive() - chrono::Days::new(1), ..Default::default() };
        let t = Instant::now();
        let stats = scale::load(&ch.client(), &spec, &scoring).await?;
        eprintln!("loaded {stats:?} in {:.0?}", t.elapsed());
    }
    let (base, token) = match std::env::var("PULSE_BENCH_URL") {
        Ok(url) => (url, std::env::var("PULSE_BENCH_TOKEN").unwrap_or_default()),
        Err(_) => {
            let token = "benchmark-token-0123456789".to_owned();
            let app = App::new(
                ApiConfig::default(),
                parse_tokens(&format!("bench:{token}")).map_err(anyhow::Error::msg)?,
                &ch,
                scoring,
                prometheus::Registry::new(),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let base = format!("http://{}", listener.local_addr()?);
            tokio::spawn(app.serve(listener, std::future::pending()));
            (base, token)
        }
    };
    let tls = pulse_runtime::tls::client_config(&[], "bench").map_err(anyhow::Error::msg)?;
    let http = reqwest::Client::builder().use_preconfigured_tls(tls).timeout(Duration::from_secs(120)).build()?;
    let get = |path: &str| {
        let (http, url, token) = (http.clone(), format!("{base}{path}"), token.clone());
        async move {
            let t = Instant::now();
            let r = http.get(&url).bearer_auth(token).send().await?;
            let status = r.status().as_u16();
            let body = r.bytes().await?;
            Ok::<_, anyhow::Error>((t.elapsed(), status, body.len()))
        }
    };
    let timed = [
        "/api/v1/renewals",
        "/api/v1/accuracy",
        "/renewals",
        "/accuracy",
        "/api/v1/renewals?segment=enterprise&quarters=8",
        "/api/v1/accuracy?csm=Marco%20Ruiz",
    ];
    println!("| route | cold ms | p50 ms | p95 ms | max ms | non-200 | body KB |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for path in timed {
        let (cold, status, _) = get(path).await?;
        let mut times = Vec::with_capacity(requests);
        let (mut failed, mut size) = (u64::from(status != 200), 0);
        for _ in 0..requests {
            let (t, status, len) = get(path).await?;
            failed += u64::from(status != 200);
            size = len;
            times.push(t);
        }
        times.sort();
        println!(
            "| `{path}` | {:.0} | {:.1} | {:.1} | {:.1} | {failed}/{} | {} |",
            cold.as_secs_f64() * 1000.0,
            pct(&times, 0.5),
            pct(&times, 0.95),
            pct(&times, 1.0),
            requests + 1,
            size / 1024
        );
    }
    // Every other page and route answers at this scale.
    let v: serde_json::Value = serde_json::from_slice(&{
        let r = http.get(format!("{base}/api/v1/accounts?page_size=1")).bearer_auth(&token).send().await?;
        r.bytes().await?
    })
    .unwrap_or_default();
    let id = v["items"][0]["account_id"].as_str().unwrap_or("acct-000001").to_owned();
    let others = [
        "/api/openapi.json".to_owned(),
        "/api/v1/filters".into(),
        "/api/v1/portfolio".into(),
        "/api/v1/portfolio/breakdown?by=segment".into(),
        "/api/v1/portfolio/breakdown?by=csm".into(),
        "/api/v1/portfolio/trend?weeks=12".into(),
        "/api/v1/portfolio/movers?window=7".into(),
        "/api/v1/accounts".into(),
        "/api/v1/accounts?color=red&sort=-arr".into(),
        "/api/v1/accounts?q=scale".into(),
        format!("/api/v1/accounts/{id}"),
        format!("/api/v1/accounts/{id}/history?days=90"),
        format!("/api/v1/accounts/{id}/readiness"),
        format!("/api/v1/accounts/{id}/alerts"),
        "/api/v1/graduation".into(),
        "/api/v1/graduation/accounts".into(),
        "/api/v1/alerts".into(),
        "/api/v1/alerts/summary".into(),
        "/api/v1/sources".into(),
        "/api/v1/reconcile".into(),
        "/".into(),
        "/accounts".into(),
        format!("/accounts/{id}"),
        "/graduation".into(),
        "/alerts".into(),
    ];
    println!();
    println!("| other route | status | ms |");
    println!("|---|---:|---:|");
    for path in &others {
        let (t, status, _) = get(path).await?;
        println!("| `{path}` | {status} | {:.0} |", t.as_secs_f64() * 1000.0);
    }
    Ok(())
}
