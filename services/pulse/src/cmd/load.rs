//! `pulse load`: drive the running pipeline (ingest + scorer) with realistic usage at a
//! target rate and measure it end to end:
//! - sustained throughput: events produced until the scorer has applied and published
//!   all of them (from the scorer's own counters);
//! - event-to-publish latency p50/p99: from the scorer's histogram, which measures from
//!   each event's original produce time (ingest forwards it) to its results' publication;
//! - the ceiling: a bare rdkafka consumer reading the same events topic from the same
//!   broker right after, in the same run.
//!
//! It only talks to addresses from the configuration (the local stack by default), and
//! every loop is bounded by `--duration-secs` and a drain timeout.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::{stream::FuturesUnordered, StreamExt};
use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    producer::FutureRecord,
};

use crate::settings::Settings;

#[derive(clap::Args)]
pub struct LoadArgs {
    /// Target events per second.
    #[arg(long, default_value_t = 50_000)]
    rate: u64,
    /// How long to produce.
    #[arg(long, default_value_t = 30)]
    duration_secs: u64,
    /// Accounts the events spread over.
    #[arg(long, default_value_t = 2_000)]
    accounts: u64,
    /// Users per account.
    #[arg(long, default_value_t = 25)]
    users: u64,
    /// The scorer's metrics endpoint.
    #[arg(long, default_value = "http://127.0.0.1:9465/metrics")]
    scorer_metrics: String,
    /// Seconds to wait for the scorer to drain after producing.
    #[arg(long, default_value_t = 300)]
    drain_secs: u64,
}

const FEATURES: [&str; 6] = ["reports", "dashboards", "alerts", "integrations", "exports", "admin"];

fn event(i: u64, a: &LoadArgs, run: &str, ts: &str) -> (String, String) {
    // A cheap deterministic spread (no RNG state to share across the send loop).
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let account = format!("load-{:05}", h % a.accounts);
    let user = format!("u-{:03}", (h >> 20) % a.users);
    let feature = FEATURES[((h >> 40) % FEATURES.len() as u64) as usize];
    let line = format!(
        r#"{{"type":"usage","event_id":"{run}-{i}","account_id":"{account}","user_id":"{user}","event":"{feature}.viewed","feature":"{feature}","timestamp":"{ts}"}}"#
    );
    (account, line)
}

/// Sum of a counter (all label sets) and a histogram's cumulative buckets from a
/// Prometheus text page.
struct Scrape {
    events: f64,
    buckets: Vec<(f64, f64)>,
    count: f64,
}

async fn scrape(client: &reqwest::Client, url: &str) -> anyhow::Result<Scrape> {
    let text = client.get(url).send().await?.error_for_status()?.text().await?;
    let mut s = Scrape { events: 0.0, buckets: Vec::new(), count: 0.0 };
    for line in text.lines() {
        let Some((name, value)) = line.rsplit_once(' ') else { continue };
        let v: f64 = value.parse().unwrap_or(0.0);
        if name.starts_with("pulse_scorer_events_total") {
            s.events += v;
        } else if let Some(rest) = name.strip_prefix("pulse_scorer_event_to_publish_seconds_bucket{le=\"") {
            let le = rest.trim_end_matches("\"}");
            let le = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap_or(f64::INFINITY) };
            s.buckets.push((le, v));
        } else if name == "pulse_scorer_event_to_publish_seconds_count" {
            s.count = v;
        }
    }
    Ok(s)
}

/// Quantile from the difference of two cumulative histograms (linear within a bucket).
fn quantile(before: &Scrape, after: &Scrape, q: f64) -> Option<f64> {
    let total = after.count - before.count;
    if total <= 0.0 {
        return None;
    }
    let target = q * total;
    let mut prev_le = 0.0;
    let mut prev_n = 0.0;
    for (i, (le, n_after)) in after.buckets.iter().enumerate() {
        let n_before = before.buckets.get(i).map_or(0.0, |b| b.1);
        let n = n_after - n_before;
        if n >= target {
            if le.is_infinite() {
                return Some(prev_le);
            }
            let frac = if n > prev_n { (target - prev_n) / (n - prev_n) } else { 1.0 };
            return Some(prev_le + frac * (le - prev_le));
        }
        prev_le = *le;
        prev_n = n;
    }
    None
}

pub async fn run(a: LoadArgs, s: Settings) -> anyhow::Result<()> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let before = scrape(&http, &a.scorer_metrics)
        .await
        .with_context(|| format!("is the scorer running? {}", a.scorer_metrics))?;
    let producer = s.kafka.producer().context("producer")?;
    let run = format!("{:x}", chrono::Utc::now().timestamp_millis());
    let total = a.rate * a.duration_secs;
    eprintln!(
        "load: {total} events at {}/s over {} accounts x {} users into {}",
        a.rate, a.accounts, a.users, s.topics.usage
    );
    let started = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    let mut failed = 0u64;
    let tick = Duration::from_millis(10);
    let per_tick = (a.rate / 100).max(1);
    let mut i = 0u64;
    while i < total {
        let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        for _ in 0..per_tick.min(total - i) {
            let (key, line) = event(i, &a, &run, &ts);
            let p = producer.clone();
            let topic = s.topics.usage.clone();
            in_flight.push(async move {
                p.send(FutureRecord::to(&topic).key(&key).payload(&line), Duration::from_secs(60))
                    .await
                    .map(|_| ())
                    .map_err(|(e, _)| e)
            });
            i += 1;
        }
        while in_flight.len() > 200_000 {
            if let Some(Err(_)) = in_flight.next().await {
                failed += 1;
            }
        }
        let due = tick * u32::try_from(i / per_tick).unwrap_or(u32::MAX);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            // Drain acknowledgements while waiting for the next tick.
            let sleep = tokio::time::sleep(wait);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    () = &mut sleep => break,
                    r = in_flight.next(), if !in_flight.is_empty() => if let Some(Err(_)) = r { failed += 1 },
                }
            }
        }
    }
    while let Some(r) = in_flight.next().await {
        if r.is_err() {
            failed += 1;
        }
    }
    let produce_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(failed == 0, "{failed} events were not acknowledged by the broker");
    eprintln!("load: produced {total} in {produce_secs:.1}s ({:.0}/s)", total as f64 / produce_secs);

    // Drain: until the scorer has consumed every event we produced.
    let deadline = Instant::now() + Duration::from_secs(a.drain_secs);
    let after = loop {
        let now = scrape(&http, &a.scorer_metrics).await?;
        if now.events - before.events >= total as f64 {
            break now;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "scorer did not drain within {}s ({} of {total})",
            a.drain_secs,
            now.events - before.events
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Give the last batch its flush (batch_max_wait) before reading latency.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = scrape(&http, &a.scorer_metrics).await.unwrap_or(after);
    let e2e_secs = started.elapsed().as_secs_f64();
    let p50 = quantile(&before, &after, 0.50);
    let p99 = quantile(&before, &after, 0.99);

    // Ceiling: a bare consumer over the same events topic, same broker, same run.
    let (kafka, topic) = (s.kafka.clone(), s.topics.events.clone());
    let n = total;
    let bare = tokio::task::spawn_blocking(move || bare_rate(&kafka, &topic, n)).await??;
    let e2e_rate = total as f64 / e2e_secs;
    println!(
        "{{\"events\":{total},\"target_rate\":{},\"produced_per_s\":{:.0},\"end_to_end_per_s\":{e2e_rate:.0},\"p50_ms\":{},\"p99_ms\":{},\"bare_consumer_per_s\":{bare:.0},\"ratio\":{:.2}}}",
        a.rate,
        total as f64 / produce_secs,
        p50.map_or("null".into(), |v| format!("{:.0}", v * 1000.0)),
        p99.map_or("null".into(), |v| format!("{:.0}", v * 1000.0)),
        e2e_rate / bare
    );
    Ok(())
}

/// Messages per second of a bare BaseConsumer reading `n` messages of `topic` from the start.
fn bare_rate(kafka: &pulse_runtime::kafka::KafkaConfig, topic: &str, n: u64) -> anyhow::Result<f64> {
    let mut c = kafka.client_config();
    c.set("group.id", format!("load-bare-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    let consumer: BaseConsumer = c.create()?;
    consumer.subscribe(&[topic])?;
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut first = None;
    let mut count = 0u64;
    while count < n && Instant::now() < deadline {
        if let Some(r) = consumer.poll(Duration::from_millis(100)) {
            r?;
            first.get_or_insert_with(Instant::now);
            count += 1;
        }
    }
    let secs = first.map_or(0.0, |f| f.elapsed().as_secs_f64());
    Ok(count as f64 / secs.max(1e-9))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(buckets: &[(f64, f64)]) -> Scrape {
        Scrape { events: 0.0, buckets: buckets.to_vec(), count: buckets.last().map_or(0.0, |b| b.1) }
    }

    #[test]
    fn quantiles_interpolate_within_buckets() {
        let before = hist(&[(0.1, 0.0), (0.2, 0.0), (f64::INFINITY, 0.0)]);
        let after = hist(&[(0.1, 50.0), (0.2, 100.0), (f64::INFINITY, 100.0)]);
        let p50 = quantile(&before, &after, 0.5).expect("p50");
        assert!((p50 - 0.1).abs() < 1e-9, "{p50}");
        let p75 = quantile(&before, &after, 0.75).expect("p75");
        assert!((p75 - 0.15).abs() < 1e-9, "{p75}");
        assert!(quantile(&before, &before, 0.5).is_none(), "no observations");
    }
}
