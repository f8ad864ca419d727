//! `pulse consume`: print a topic's messages, one per line, from the beginning, with a
//! throwaway consumer group (nothing is committed).

use std::time::Duration;

use anyhow::Context as _;
use rdkafka::{
    consumer::{Consumer, StreamConsumer},
    Message,
};

use crate::settings::Settings;

#[derive(clap::Args)]
pub struct ConsumeArgs {
    /// Topic to read.
    #[arg(long)]
    topic: String,
    /// Stop after this many messages (0 = no limit).
    #[arg(long, default_value_t = 0)]
    max: u64,
    /// Stop after this many seconds without a message.
    #[arg(long, default_value_t = 5)]
    idle_secs: u64,
    /// Prefix each line with partition, offset and key.
    #[arg(long)]
    verbose: bool,
}

pub async fn run(a: ConsumeArgs, s: Settings) -> anyhow::Result<()> {
    let mut c = s.kafka.client_config();
    c.set("group.id", format!("pulse-consume-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    let consumer: StreamConsumer = c.create().context("cannot create consumer")?;
    consumer.subscribe(&[a.topic.as_str()]).context("subscribe")?;
    let mut n = 0u64;
    loop {
        match tokio::time::timeout(Duration::from_secs(a.idle_secs), consumer.recv()).await {
            Err(_) => break,
            Ok(Err(e)) => anyhow::bail!("consume failed: {e}"),
            Ok(Ok(m)) => {
                let payload = String::from_utf8_lossy(m.payload().unwrap_or(&[]));
                if a.verbose {
                    let key = m.key().map(String::from_utf8_lossy).unwrap_or_default();
                    println!("{}\t{}\t{}\t{}", m.partition(), m.offset(), key, payload);
                } else {
                    println!("{payload}");
                }
                n += 1;
                if a.max > 0 && n >= a.max {
                    break;
                }
            }
        }
    }
    eprintln!("{n} message(s)");
    Ok(())
}
