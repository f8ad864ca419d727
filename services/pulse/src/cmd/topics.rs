//! `pulse topics create`: create every configured topic (existing ones are left alone).

use anyhow::Context as _;

use crate::settings::Settings;

#[derive(clap::Subcommand)]
pub enum TopicsCmd {
    /// Create all topics named in `[topics]`.
    Create {
        #[arg(long, default_value_t = 6)]
        partitions: i32,
        #[arg(long, default_value_t = 1)]
        replication: i32,
    },
}

pub async fn run(c: TopicsCmd, s: Settings) -> anyhow::Result<()> {
    match c {
        TopicsCmd::Create { partitions, replication } => {
            let created = pulse_runtime::kafka::create_topics(&s.kafka, &s.topics.all(), partitions, replication)
                .await
                .with_context(|| format!("creating topics on {}", s.kafka.brokers))?;
            println!("created {} topic(s): {:?}", created.len(), created);
            Ok(())
        }
    }
}
