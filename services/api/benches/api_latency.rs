//! API latency over a large portfolio: `cargo bench -p pulse-api --bench api_latency`.
//!
//! Loads fixtures once into `PULSE_BENCH_DATABASE` (default `pulse_api_bench`):
//! `PULSE_BENCH_ACCOUNTS` (200) distinct demo accounts x `PULSE_BENCH_COPIES` (50) =
//! 10,000 accounts, `PULSE_BENCH_DAYS` (90) days of history, scored by the real core.
//! A later run reuses the database (drop it to reload). Then serves the API in-process
//! on a loopback port and times `PULSE_BENCH_REQUESTS` (200) sequential HTTP requests
//! per endpoint (after 20 warm-up requests), printing p50 / p95 / p99 / max in ms.
//! Needs the local stack's ClickHouse (`PULSE_BENCH_CLICKHOUSE`, default
//! `http://127.0.0.1:8123`). Numbers: docs/benchmarks.md, "API".

use std::time::{Duration, Instant};

use pulse_api::{config::parse_tokens, fixtures, ApiConfig, App};
use pulse_runtime::clickhouse::ClickHouseConfig;

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return Ok(()); // `cargo test --benches` / harness probing: nothing to list
    }
    let accounts = env_u32("PULSE_BENCH_ACCOUNTS", 200);
    let copies = env_u32("PULSE_BENCH_COPIES", 50);
    let days = env_u32("PULSE_BENCH_DAYS", 90);
    let requests = env_u32("PULSE_BENCH_REQUESTS", 200) as usize;
    let ch = ClickHouseConfig {
        url: std::env::var("PULSE_BENCH_CLICKHOUSE").unwrap_or_else(|_| "http://127.0.0.1:8123".into()),
        database: std::env::var("PULSE_BENCH_DATABASE").unwrap_or_else(|_| "pulse_api_bench".into()),
        ..ClickHouseConfig::default()
    };
    let now = chrono::Utc::now();
    pulse_runtime::migrate::migrate(&ch, u32::try_from(now.timestamp()).unwrap_or(0)).await?;
    let scoring = pulse_core::ScoringConfig::default();
    let have: u64 = ch.client().query("SELECT count() FROM account_health").fetch_one().await?;
    if have == 0 {
        let spec =
            fixtures::FixtureSpec { accounts, copies, days, end: now.date_naive() - chrono::Days::new(1), seed: 42 };
        let t = Instant::now();
        let stats = fixtures::load(&ch.client(), &spec, &scoring).await?;
        eprintln!("loaded {stats:?} in {:.0?}", t.elapsed());
    }
    let n_accounts: u64 = ch.client().query("SELECT count() FROM account_health_latest FINAL").fetch_one().await?;
    let n_rows: u64 = ch.client().query("SELECT count() FROM account_health").fetch_one().await?;
    eprintln!("database {}: {n_accounts} accounts, {n_rows} health rows", ch.database);

    let token = "benchmark-token-0123456789";
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
    // reqwest has no default crypto provider in this workspace: the runtime's rustls.
    let tls = pulse_runtime::tls::client_config(&[], "bench").map_err(anyhow::Error::msg)?;
    let http = reqwest::Client::builder().use_preconfigured_tls(tls).build()?;
    let get = |path: String| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move {
            let t = Instant::now();
            let r = http.get(&url).bearer_auth(token).send().await?;
            let status = r.status();
            let _ = r.bytes().await?;
            anyhow::ensure!(status.is_success(), "{url}: {status}");
            Ok::<_, anyhow::Error>(t.elapsed())
        }
    };
    let ids: Vec<String> = {
        let v: serde_json::Value = http
            .get(format!("{base}/api/v1/accounts?page_size=200&sort=change"))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        v["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["account_id"].as_str().map(str::to_owned))
            .collect()
    };
    anyhow::ensure!(!ids.is_empty(), "no accounts");
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    type PathFn<'a> = Box<dyn Fn(usize) -> String + 'a>;
    let endpoints: Vec<(&str, PathFn<'_>)> = vec![
        ("portfolio summary", Box::new(|_| "/api/v1/portfolio".into())),
        ("portfolio by segment", Box::new(|_| "/api/v1/portfolio/breakdown?by=segment".into())),
        ("portfolio by csm", Box::new(|_| "/api/v1/portfolio/breakdown?by=csm".into())),
        ("portfolio trend 12 weeks", Box::new(|_| "/api/v1/portfolio/trend?weeks=12".into())),
        ("movers 7 days", Box::new(|_| "/api/v1/portfolio/movers?window=7".into())),
        ("movers 30 days", Box::new(|_| "/api/v1/portfolio/movers?window=30".into())),
        ("account detail", Box::new(|i| format!("/api/v1/accounts/{}", enc(&ids[i % ids.len()])))),
        (
            "account history 90 days",
            Box::new(|i| format!("/api/v1/accounts/{}/history?days=90", enc(&ids[i % ids.len()]))),
        ),
        ("account readiness", Box::new(|i| format!("/api/v1/accounts/{}/readiness", enc(&ids[i % ids.len()])))),
        ("account alerts", Box::new(|i| format!("/api/v1/accounts/{}/alerts", enc(&ids[i % ids.len()])))),
        ("accounts list (score)", Box::new(|_| "/api/v1/accounts".into())),
        ("accounts list (red, -arr)", Box::new(|_| "/api/v1/accounts?color=red&sort=-arr".into())),
        ("accounts search", Box::new(|i| format!("/api/v1/accounts?q={}", ["acme", "labs", "north", "xyz"][i % 4]))),
        ("graduation summary", Box::new(|_| "/api/v1/graduation".into())),
        ("graduation list", Box::new(|_| "/api/v1/graduation/accounts".into())),
        ("alerts feed", Box::new(|_| "/api/v1/alerts".into())),
        ("alerts summary", Box::new(|_| "/api/v1/alerts/summary".into())),
        ("page: portfolio", Box::new(|_| "/".into())),
        ("page: account", Box::new(|i| format!("/accounts/{}", enc(&ids[i % ids.len()])))),
    ];
    println!("| endpoint | p50 ms | p95 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|");
    for (name, path) in &endpoints {
        for i in 0..20 {
            get(path(i)).await?;
        }
        let mut times = Vec::with_capacity(requests);
        for i in 0..requests {
            times.push(get(path(i)).await?);
        }
        times.sort();
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1} |",
            pct(&times, 0.5),
            pct(&times, 0.95),
            pct(&times, 0.99),
            times.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        );
    }
    Ok(())
}
