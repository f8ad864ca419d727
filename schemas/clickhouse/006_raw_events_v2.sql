-- Raw events, second layout (replaces 001's tables, rows copied).
--
-- Online-safe (see crates/pulse-runtime/src/migrate.rs): built beside, copied, exchanged,
-- then copied again from the old table before it is dropped.
--
-- Why: 001 partitioned by month of the *event* time, so one insert of a backlog whose
-- events span more than 100 months exceeded `max_partitions_per_insert_block` and was
-- refused (ingest retried it forever); and duplicates with a different timestamp landed in
-- different partitions, where ReplacingMergeTree never collapses them.
-- Now:
-- - no partition key: any accepted timestamp (DateTime64(3): 1900-01-01 .. 2299-12-31;
--   ingest dead-letters anything outside with `timestamp_out_of_range`) can be stored in
--   one insert, and FINAL collapses every copy of an event id;
-- - `copy_rank` decides which copy wins (SPEC §1: the earliest `timestamp`; ties: the
--   smaller serialized copy): ingest writes u64::MAX - (ms since 1900 << 20 | min(len, 2^20-1)),
--   and ReplacingMergeTree keeps the largest, so the outcome never depends on arrival order;
-- - `crm_events.type` knows the `renewal` outcome event (SPEC §8).
CREATE TABLE IF NOT EXISTS usage_events_v2
(
    event_id         String,
    account_id       String,
    user_id          String,
    event            String,
    feature          String,
    timestamp        DateTime64(3, 'UTC'),
    properties       String,
    raw              String,
    source_topic     LowCardinality(String),
    source_partition Int32,
    source_offset    Int64,
    ingested_at      DateTime('UTC'),
    copy_rank        UInt64
)
ENGINE = ReplacingMergeTree(copy_rank)
ORDER BY (account_id, event_id);

INSERT INTO usage_events_v2
SELECT event_id, account_id, user_id, event, feature, toDateTime64(timestamp, 3, 'UTC'), properties,
       raw, source_topic, source_partition, source_offset, ingested_at,
       18446744073709551615 - bitOr(bitShiftLeft(toUInt64(toUnixTimestamp(timestamp) + 2208988800) * 1000, 20),
                                    least(length(raw), 1048575))
FROM usage_events;

EXCHANGE TABLES usage_events AND usage_events_v2;

-- Catch-up: rows that running services wrote into the old table between the copy above
-- and the exchange (the migrator first waits for inserts that started before it).
-- Copies of rows already copied collapse on the sort key.
INSERT INTO usage_events
SELECT event_id, account_id, user_id, event, feature, toDateTime64(timestamp, 3, 'UTC'), properties,
       raw, source_topic, source_partition, source_offset, ingested_at,
       18446744073709551615 - bitOr(bitShiftLeft(toUInt64(toUnixTimestamp(timestamp) + 2208988800) * 1000, 20),
                                    least(length(raw), 1048575))
FROM usage_events_v2;

DROP TABLE IF EXISTS usage_events_v2;

CREATE TABLE IF NOT EXISTS crm_events_v2
(
    event_id         String,
    account_id       String,
    type             Enum8('account' = 1, 'assessment' = 2, 'milestone' = 3, 'training' = 4,
                           'kpi' = 5, 'stakeholder' = 6, 'ticket' = 7, 'renewal' = 8),
    timestamp        DateTime64(3, 'UTC'),
    payload          String,
    raw              String,
    source_topic     LowCardinality(String),
    source_partition Int32,
    source_offset    Int64,
    ingested_at      DateTime('UTC'),
    copy_rank        UInt64
)
ENGINE = ReplacingMergeTree(copy_rank)
ORDER BY (account_id, event_id);

INSERT INTO crm_events_v2
SELECT event_id, account_id, CAST(toString(type), 'Enum8(\'account\' = 1, \'assessment\' = 2, \'milestone\' = 3, \'training\' = 4, \'kpi\' = 5, \'stakeholder\' = 6, \'ticket\' = 7, \'renewal\' = 8)'),
       toDateTime64(timestamp, 3, 'UTC'), payload, raw, source_topic, source_partition, source_offset, ingested_at,
       18446744073709551615 - bitOr(bitShiftLeft(toUInt64(toUnixTimestamp(timestamp) + 2208988800) * 1000, 20),
                                    least(length(raw), 1048575))
FROM crm_events;

EXCHANGE TABLES crm_events AND crm_events_v2;

-- Catch-up: rows that running services wrote into the old table between the copy above
-- and the exchange (the migrator first waits for inserts that started before it).
-- Copies of rows already copied collapse on the sort key.
INSERT INTO crm_events
SELECT event_id, account_id, CAST(toString(type), 'Enum8(\'account\' = 1, \'assessment\' = 2, \'milestone\' = 3, \'training\' = 4, \'kpi\' = 5, \'stakeholder\' = 6, \'ticket\' = 7, \'renewal\' = 8)'),
       toDateTime64(timestamp, 3, 'UTC'), payload, raw, source_topic, source_partition, source_offset, ingested_at,
       18446744073709551615 - bitOr(bitShiftLeft(toUInt64(toUnixTimestamp(timestamp) + 2208988800) * 1000, 20),
                                    least(length(raw), 1048575))
FROM crm_events_v2;

DROP TABLE IF EXISTS crm_events_v2;

-- The views resolve their table at query time by name, so they follow the exchange.
CREATE VIEW IF NOT EXISTS usage_events_dedup AS SELECT * FROM usage_events FINAL;
CREATE VIEW IF NOT EXISTS crm_events_dedup AS SELECT * FROM crm_events FINAL;
