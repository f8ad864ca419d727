//! A scoring-config change loses nothing (issue 20 item 2): the scorer rebuilds each
//! partition from the raw events in ClickHouse and the log after its last snapshot, not
//! from the start of the events topic, whose retention is shorter than CRM history.
//!
//! The events topic "with its oldest CRM events gone" is a second topic holding the same
//! messages at the same offsets, except that the CRM events of its first half are
//! replaced by filler (the broker used here cannot delete records); the old config's
//! snapshots are copied to it, as if the partition had always been that topic.

use std::{path::PathBuf, sync::Arc, time::Duration};

use chrono::NaiveTime;
use futures::future::join_all;
use pulse_e2e::{replay_expected_with, scenario, scorer_config, stored_results, TestEnv};
use pulse_scorer::FixedClock;
use rdkafka::{
    consumer::{BaseConsumer, CommitMode, Consumer},
    producer::{FutureProducer, FutureRecord},
    Offset, TopicPartitionList,
};

/// Produces in order (one partition, one request in flight).
async fn produce_in_order(env: &TestEnv, topic: &str, events: &[(Option<String>, Vec<u8>)]) {
    let mut c = env.kafka.client_config();
    c.set("max.in.flight.requests.per.connection", "1");
    let producer: FutureProducer = c.create().expect("producer");
    for chunk in events.chunks(500) {
        let sends = chunk.iter().map(|(k, v)| {
            let mut rec = FutureRecord::to(topic).payload(v.as_slice()).partition(0);
            if let Some(k) = k {
                rec = rec.key(k.as_bytes());
            }
            producer.send(rec, Duration::from_secs(30))
        });
        for r in join_all(sends).await {
            r.map_err(|(e, _)| e).expect("delivered");
        }
    }
}

fn changed_weights() -> (PathBuf, pulse_core::ScoringConfig) {
    let text = std::fs::read_to_string(pulse_e2e::repo_root().join("config/scoring.toml")).expect("scoring.toml");
    let changed = text.replacen("adoption = 40", "adoption = 20", 1).replacen("trend = 25", "trend = 45", 1);
    assert_ne!(changed, text, "the weights were found");
    let path = std::env::temp_dir().join(format!("pulse-scoring-{}.toml", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, &changed).expect("write config");
    let cfg = pulse_core::ScoringConfig::from_toml_str(&changed).expect("changed config parses");
    (path, cfg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weight_change_rebuilds_from_clickhouse_and_keeps_every_accounts_seats() {
    let env = TestEnv::new(1).await;
    let (ndjson, events, day) = scenario(6, 23);
    let clock = || Arc::new(FixedClock::new(day.and_time(NaiveTime::from_hms_opt(23, 0, 0).expect("time")).and_utc()));

    // Ingest stores the raw events (its forwarded copy goes to a topic nobody reads);
    // the normalized events are produced to the events topic in a known order.
    let throwaway = format!("{}.forwarded", env.topics.events);
    pulse_runtime::kafka::create_topics(&env.kafka, &[throwaway.as_str()], 1, 1).await.expect("topic");
    let ingest_env = TestEnv {
        tag: env.tag.clone(),
        kafka: env.kafka.clone(),
        topics: pulse_runtime::kafka::TopicsConfig { events: throwaway, ..env.topics.clone() },
        clickhouse: env.clickhouse.clone(),
    };
    let ingest = ingest_env.spawn_ingest(env.ingest_config());
    env.produce_routed(&ndjson).await;
    let distinct: std::collections::BTreeSet<String> = events
        .iter()
        .map(|(_, v)| serde_json::from_slice::<serde_json::Value>(v).expect("json")["event_id"].to_string())
        .collect();
    let stored = env
        .wait_scalar(
            "SELECT count() FROM (SELECT event_id FROM usage_events FINAL UNION ALL SELECT event_id FROM crm_events FINAL)",
            distinct.len() as u64,
            Duration::from_secs(120),
        )
        .await;
    assert_eq!(stored, distinct.len() as u64, "every event stored raw");
    ingest.stop().await;

    // The old config scores the whole log.
    produce_in_order(&env, &env.topics.events, &events).await;
    let old_cfg = pulse_core::ScoringConfig::default();
    let scorer = env.spawn_scorer(scorer_config(&env), clock());
    let expected_old = replay_expected_with(&ndjson, day, &old_cfg);
    let got = pulse_e2e::wait_for_results(&env, day, &expected_old, Duration::from_secs(120)).await;
    pulse_e2e::assert_same_results(&got, &expected_old);
    scorer.stop().await;

    // The same partition with the CRM events of its first half expired.
    let expired = format!("{}.expired", env.topics.events);
    pulse_runtime::kafka::create_topics(&env.kafka, &[expired.as_str()], 1, 1).await.expect("topic");
    let half = events.len() / 2;
    let mut gone = 0;
    let tail: Vec<(Option<String>, Vec<u8>)> = events
        .iter()
        .enumerate()
        .map(|(i, (k, v))| {
            let is_usage = serde_json::from_slice::<serde_json::Value>(v).expect("json")["type"] == "usage";
            if i < half && !is_usage {
                gone += 1;
                let filler = format!(
                    r#"{{"type":"usage","event_id":"filler-{i}","account_id":"filler","user_id":"f","event":"x","timestamp":"{day}T00:00:00Z"}}"#
                );
                (Some("filler".to_owned()), filler.into_bytes())
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    assert!(gone > 6, "CRM history expired from the topic: {gone} events");
    produce_in_order(&env, &expired, &tail).await;
    env.ch()
        .query(&format!(
            "INSERT INTO scorer_snapshots (topic, partition, config_version, next_offset, state, created_at) \
             SELECT '{expired}', partition, config_version, next_offset, state, created_at FROM scorer_snapshots \
             WHERE topic = '{}'",
            env.topics.events
        ))
        .execute()
        .await
        .expect("copy snapshots");
    let copied = env.scalar(&format!("SELECT count() FROM scorer_snapshots WHERE topic = '{expired}'")).await;
    assert_eq!(copied, 1, "the old config's snapshot is the expired topic's");
    // The new scorer's group has consumed the whole log (as the old one had).
    let mut new_cfg = scorer_config(&env);
    new_cfg.group_id = format!("{}-new-config", new_cfg.group_id);
    {
        let mut c = env.kafka.client_config();
        c.set("group.id", &new_cfg.group_id).set("enable.auto.commit", "false");
        let consumer: BaseConsumer = c.create().expect("consumer");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&expired, 0, Offset::Offset(events.len() as i64)).expect("offset");
        consumer.commit(&tpl, CommitMode::Sync).expect("commit");
    }

    // One weight changes; the scorer restarts on the expired topic.
    let (path, changed) = changed_weights();
    new_cfg.scoring_config = Some(path.clone());
    let env_new = TestEnv {
        tag: env.tag.clone(),
        kafka: env.kafka.clone(),
        topics: pulse_runtime::kafka::TopicsConfig { events: expired, ..env.topics.clone() },
        clickhouse: env.clickhouse.clone(),
    };
    let scorer = env_new.spawn_scorer(new_cfg, clock());
    // Traffic goes on: a repeat of the last usage event (changes no result).
    let repeat =
        events.iter().rev().find(|(_, v)| v.starts_with(br#"{"type":"usage""#)).cloned().expect("a usage event");
    produce_in_order(&env_new, &env_new.topics.events, &[repeat]).await;
    let expected_new = replay_expected_with(&ndjson, day, &changed);
    assert_ne!(expected_new, expected_old, "the change changes scores");
    let got = pulse_e2e::wait_for_results(&env, day, &expected_new, Duration::from_secs(120)).await;
    // Every account keeps its seats, and the results are the whole history's under the
    // new config.
    for ((account, kind), v) in &got {
        if kind == "health" && account != "filler" {
            assert!(v["metrics"]["seats"].as_u64().is_some(), "{account} lost its seats: {v}");
        }
    }
    pulse_e2e::assert_same_results(&got, &expected_new);
    let restored = scorer.metrics.restores.with_label_values(&["clickhouse"]).get();
    assert_eq!(restored, 1, "the partition was rebuilt from ClickHouse");
    scorer.stop().await;
    let _ = stored_results(&env, day).await;
    let _ = std::fs::remove_file(path);
    env.drop_database().await;
}
