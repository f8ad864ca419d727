-- Scorer state snapshots, one stream per events-topic partition and scoring-config
-- version. `next_offset` is the first offset NOT covered by `state`; the scorer commits a
-- Kafka offset only after a snapshot covering it is stored here, and on assignment it
-- restores the snapshot with the highest next_offset and replays the log after it
-- (applying an event twice changes nothing, so the overlap is harmless).
CREATE TABLE IF NOT EXISTS scorer_snapshots
(
    topic           String,
    partition       Int32,
    config_version  String,
    next_offset     Int64,
    state           String,
    created_at      DateTime('UTC')
)
ENGINE = ReplacingMergeTree(next_offset)
ORDER BY (topic, partition, config_version);
