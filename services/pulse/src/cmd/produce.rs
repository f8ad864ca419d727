//! `pulse produce`: send NDJSON lines to Kafka and check every delivery report (a send to
//! a missing topic fails only there). Kafka's own console tools work too; Debian's kcat
//! does not talk to the development broker, hence this.

use std::{
    io::{BufRead, BufReader, Read},
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use futures::future::join_all;
use rdkafka::producer::FutureRecord;
use serde::Deserialize;

use crate::settings::Settings;

#[derive(clap::Args)]
pub struct ProduceArgs {
    /// NDJSON input file; `-` for standard input.
    #[arg(long, default_value = "-")]
    input: PathBuf,
    /// Target topic. Without it, use `--route`.
    #[arg(long, conflicts_with = "route")]
    topic: Option<String>,
    /// Route each line by its `type`: usage and Segment `track` to `topics.usage`,
    /// everything else (and unparseable lines, so ingest dead-letters them) to
    /// `topics.crm` or `topics.usage` respectively.
    #[arg(long)]
    route: bool,
    /// Messages per second (0 = as fast as possible).
    #[arg(long, default_value_t = 0)]
    rate: u64,
}

#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<&'a str>,
    #[serde(borrow)]
    account_id: Option<&'a str>,
    #[serde(default, borrow)]
    context: Option<PeekContext<'a>>,
}

#[derive(Deserialize)]
struct PeekContext<'a> {
    #[serde(rename = "groupId", borrow)]
    group_id: Option<&'a str>,
}

/// (topic selector, key) for a line: the account id is the key so one account's events
/// stay in one partition, in order.
fn route(line: &str) -> (bool, Option<String>) {
    match serde_json::from_str::<Peek<'_>>(line) {
        Ok(p) => {
            let usage = matches!(p.kind, Some("usage" | "track") | None);
            let key = p.account_id.or(p.context.and_then(|c| c.group_id)).map(str::to_owned);
            (usage, key)
        }
        Err(_) => (true, None),
    }
}

pub async fn run(a: ProduceArgs, s: Settings) -> anyhow::Result<()> {
    if a.topic.is_none() && !a.route {
        anyhow::bail!("give --topic NAME or --route");
    }
    let reader: Box<dyn Read> = if a.input.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(&a.input).with_context(|| format!("cannot open {}", a.input.display()))?)
    };
    let producer = s.kafka.producer().context("cannot create producer")?;
    let started = Instant::now();
    let (mut sent, mut failed) = (0u64, 0u64);
    let mut pending = Vec::new();
    let mut first_error: Option<String> = None;
    for line in BufReader::new(reader).lines() {
        let line = line.context("reading input")?;
        if line.trim().is_empty() {
            continue;
        }
        let (topic, key) = match &a.topic {
            Some(t) => (t.clone(), route(&line).1),
            None => {
                let (usage, key) = route(&line);
                (if usage { s.topics.usage.clone() } else { s.topics.crm.clone() }, key)
            }
        };
        let producer = producer.clone();
        pending.push(async move {
            let mut rec = FutureRecord::to(&topic).payload(line.as_bytes());
            if let Some(k) = &key {
                rec = rec.key(k.as_bytes());
            }
            producer.send(rec, Duration::from_secs(30)).await.map(|_| ()).map_err(|(e, _)| e)
        });
        sent += 1;
        if a.rate > 0 {
            let due = Duration::from_secs_f64(sent as f64 / a.rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        if pending.len() >= 20_000 {
            for r in join_all(pending.drain(..)).await {
                if let Err(e) = r {
                    failed += 1;
                    first_error.get_or_insert_with(|| e.to_string());
                }
            }
        }
    }
    for r in join_all(pending).await {
        if let Err(e) = r {
            failed += 1;
            first_error.get_or_insert_with(|| e.to_string());
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "produced {} message(s), {} failed, in {:.2}s ({:.0} msg/s)",
        sent - failed,
        failed,
        secs,
        sent as f64 / secs.max(1e-9)
    );
    if let Some(e) = first_error {
        anyhow::bail!("{failed} deliveries failed; first error: {e}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::route;

    #[test]
    fn routes_by_type_and_keys_by_account() {
        assert_eq!(route(r#"{"type":"usage","account_id":"a"}"#), (true, Some("a".into())));
        assert_eq!(route(r#"{"type":"track","context":{"groupId":"g"}}"#), (true, Some("g".into())));
        assert_eq!(route(r#"{"type":"account","account_id":"b"}"#), (false, Some("b".into())));
        assert_eq!(route("garbage"), (true, None));
    }
}
