-- Raw events: `copy_rank` becomes the key pulse-core scores by (UInt256; rows copied).
--
-- Online-safe (see crates/pulse-runtime/src/migrate.rs): built beside, copied, exchanged,
-- then copied again from the old table before it is dropped.
--
-- Why: SPEC v3 section 1, "the raw tables keep the copy that was scored". 006 ranked copies
-- of an event id by (milliseconds, raw length), so copies within one millisecond kept the
-- shorter raw, not the copy the core counts (the earliest to the microsecond; ties: usage
-- by user key then feature key, CRM by canonical JSON). Now `copy_rank` is
-- UInt256::MAX - `pulse_core::event::CopyKey` (ReplacingMergeTree keeps the largest), the
-- one key the core itself orders copies by; ingest computes it
-- (`pulse_storage::raw::copy_rank`):
-- - usage: microseconds since 1900 << 192 | user key << 128 | feature key << 64 | raw
--   length (the length only breaks ties between copies the core treats as equal); the
--   keys are FNV-1a 64 finished with murmur3's fmix64 of `user_id` / `feature` (none: 0);
-- - CRM: microseconds since 1900 << 192 | the first 24 bytes of the canonical JSON less
--   `account_id` and `event_id` (the same in every copy), zero-padded. CRM copies equal in
--   their microsecond and in those 24 bytes keep an arbitrary one of them (the core
--   decides on the whole JSON).
--
-- Rows stored before this migration are ranked here in SQL, exactly for usage rows (the
-- microseconds come from `raw`, whose timestamp the parser read, when it agrees with the
-- stored millisecond, else the millisecond is used). For CRM rows the canonical JSON is
-- rebuilt from `payload` with ClickHouse's raw values, which write numbers and strings as
-- serde_json does in the common cases; where they do not (e.g. -0.0, numbers written with
-- an exponent past 2^53) an old row's rank can differ from what ingest would write now,
-- which matters only between differing copies of one CRM event within one microsecond.
-- New rows get the exact rank from ingest.

CREATE TABLE IF NOT EXISTS usage_events_v3
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
    copy_rank        UInt256
)
ENGINE = ReplacingMergeTree(copy_rank)
ORDER BY (account_id, event_id);

-- The rank of a stored row: microseconds from `raw`'s timestamp (where it agrees with the
-- stored millisecond), the user and feature keys hashed here as pulse-core hashes them, the
-- raw length last.
INSERT INTO usage_events_v3
SELECT event_id, account_id, user_id, event, feature, timestamp, properties, raw, source_topic, source_partition,
       source_offset, ingested_at,
       bitNot(bitOr(bitOr(bitOr(bitShiftLeft(toUInt256(us_1900), 192), bitShiftLeft(toUInt256(user_key), 128)),
                          bitShiftLeft(toUInt256(feature_key), 64)),
                    toUInt256(length(raw))))
FROM
(
    SELECT *,
        ifNull(parseDateTime64BestEffortOrNull(JSONExtractString(raw, 'timestamp'), 6, 'UTC'),
               toDateTime64(timestamp, 6, 'UTC')) AS parsed_ts,
        toUInt64(toUnixTimestamp64Micro(if(toUnixTimestamp64Milli(parsed_ts) = toUnixTimestamp64Milli(timestamp),
                                           parsed_ts, toDateTime64(timestamp, 6, 'UTC'))) + 2208988800000000) AS us_1900,
        arrayFold((acc, b) -> bitXor(acc, toUInt64(b)) * 1099511628211,
                  arrayMap(i -> reinterpretAsUInt8(substring(user_id, i, 1)), range(1, length(user_id) + 1)),
                  toUInt64(14695981039346656037)) AS uk_0,
        bitXor(uk_0, bitShiftRight(uk_0, 33)) * 18397679294719823053 AS uk_1,
        bitXor(uk_1, bitShiftRight(uk_1, 33)) * 14181476777654086739 AS uk_2,
        bitXor(uk_2, bitShiftRight(uk_2, 33)) AS user_key,
        arrayFold((acc, b) -> bitXor(acc, toUInt64(b)) * 1099511628211,
                  arrayMap(i -> reinterpretAsUInt8(substring(feature, i, 1)), range(1, length(feature) + 1)),
                  toUInt64(14695981039346656037)) AS fk_0,
        bitXor(fk_0, bitShiftRight(fk_0, 33)) * 18397679294719823053 AS fk_1,
        bitXor(fk_1, bitShiftRight(fk_1, 33)) * 14181476777654086739 AS fk_2,
        if(feature = '', toUInt64(0), bitXor(fk_2, bitShiftRight(fk_2, 33))) AS feature_key
    FROM usage_events
);

EXCHANGE TABLES usage_events AND usage_events_v3;

-- Catch-up: rows that running services wrote into the old table between the copy above
-- and the exchange (the migrator first waits for inserts that started before it), ranked
-- the same way. Copies of rows already copied collapse on the sort key.
INSERT INTO usage_events
SELECT event_id, account_id, user_id, event, feature, timestamp, properties, raw, source_topic, source_partition,
       source_offset, ingested_at,
       bitNot(bitOr(bitOr(bitOr(bitShiftLeft(toUInt256(us_1900), 192), bitShiftLeft(toUInt256(user_key), 128)),
                          bitShiftLeft(toUInt256(feature_key), 64)),
                    toUInt256(length(raw))))
FROM
(
    SELECT *,
        ifNull(parseDateTime64BestEffortOrNull(JSONExtractString(raw, 'timestamp'), 6, 'UTC'),
               toDateTime64(timestamp, 6, 'UTC')) AS parsed_ts,
        toUInt64(toUnixTimestamp64Micro(if(toUnixTimestamp64Milli(parsed_ts) = toUnixTimestamp64Milli(timestamp),
                                           parsed_ts, toDateTime64(timestamp, 6, 'UTC'))) + 2208988800000000) AS us_1900,
        arrayFold((acc, b) -> bitXor(acc, toUInt64(b)) * 1099511628211,
                  arrayMap(i -> reinterpretAsUInt8(substring(user_id, i, 1)), range(1, length(user_id) + 1)),
                  toUInt64(14695981039346656037)) AS uk_0,
        bitXor(uk_0, bitShiftRight(uk_0, 33)) * 18397679294719823053 AS uk_1,
        bitXor(uk_1, bitShiftRight(uk_1, 33)) * 14181476777654086739 AS uk_2,
        bitXor(uk_2, bitShiftRight(uk_2, 33)) AS user_key,
        arrayFold((acc, b) -> bitXor(acc, toUInt64(b)) * 1099511628211,
                  arrayMap(i -> reinterpretAsUInt8(substring(feature, i, 1)), range(1, length(feature) + 1)),
                  toUInt64(14695981039346656037)) AS fk_0,
        bitXor(fk_0, bitShiftRight(fk_0, 33)) * 18397679294719823053 AS fk_1,
        bitXor(fk_1, bitShiftRight(fk_1, 33)) * 14181476777654086739 AS fk_2,
        if(feature = '', toUInt64(0), bitXor(fk_2, bitShiftRight(fk_2, 33))) AS feature_key
    FROM usage_events_v3
);

DROP TABLE IF EXISTS usage_events_v3;

CREATE TABLE IF NOT EXISTS crm_events_v3
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
    copy_rank        UInt256
)
ENGINE = ReplacingMergeTree(copy_rank)
ORDER BY (account_id, event_id);

-- The rank of a stored row: microseconds from the payload's timestamp, then 24 bytes of
-- the payload's members sorted by key, less timestamp, account_id, event_id and nulls
-- (the canonical JSON, as far as ClickHouse's raw values write it: see the header).
INSERT INTO crm_events_v3
SELECT event_id, account_id, type, timestamp, payload, raw, source_topic, source_partition, source_offset,
       ingested_at,
       bitNot(bitOr(bitShiftLeft(toUInt256(us_1900), 192),
                    reinterpretAsUInt256(reverse(rightPad(substring(copy_json, 1, 24), 24, '\0')))))
FROM
(
    SELECT *,
        ifNull(parseDateTime64BestEffortOrNull(JSONExtractString(payload, 'timestamp'), 6, 'UTC'),
               toDateTime64(timestamp, 6, 'UTC')) AS parsed_ts,
        toUInt64(toUnixTimestamp64Micro(if(toUnixTimestamp64Milli(parsed_ts) = toUnixTimestamp64Milli(timestamp),
                                           parsed_ts, toDateTime64(timestamp, 6, 'UTC'))) + 2208988800000000) AS us_1900,
        concat('{',
               arrayStringConcat(
                   arrayMap(kv -> concat('"', kv.1, '":', kv.2),
                            arraySort(kv -> kv.1,
                                      arrayFilter(kv -> kv.1 NOT IN ('timestamp', 'account_id', 'event_id') AND kv.2 != 'null',
                                                  JSONExtractKeysAndValuesRaw(payload)))),
                   ','),
               '}') AS copy_json
    FROM crm_events
);

EXCHANGE TABLES crm_events AND crm_events_v3;

-- Catch-up: rows that running services wrote into the old table between the copy above
-- and the exchange (the migrator first waits for inserts that started before it), ranked
-- the same way. Copies of rows already copied collapse on the sort key.
INSERT INTO crm_events
SELECT event_id, account_id, type, timestamp, payload, raw, source_topic, source_partition, source_offset,
       ingested_at,
       bitNot(bitOr(bitShiftLeft(toUInt256(us_1900), 192),
                    reinterpretAsUInt256(reverse(rightPad(substring(copy_json, 1, 24), 24, '\0')))))
FROM
(
    SELECT *,
        ifNull(parseDateTime64BestEffortOrNull(JSONExtractString(payload, 'timestamp'), 6, 'UTC'),
               toDateTime64(timestamp, 6, 'UTC')) AS parsed_ts,
        toUInt64(toUnixTimestamp64Micro(if(toUnixTimestamp64Milli(parsed_ts) = toUnixTimestamp64Milli(timestamp),
                                           parsed_ts, toDateTime64(timestamp, 6, 'UTC'))) + 2208988800000000) AS us_1900,
        concat('{',
               arrayStringConcat(
                   arrayMap(kv -> concat('"', kv.1, '":', kv.2),
                            arraySort(kv -> kv.1,
                                      arrayFilter(kv -> kv.1 NOT IN ('timestamp', 'account_id', 'event_id') AND kv.2 != 'null',
                                                  JSONExtractKeysAndValuesRaw(payload)))),
                   ','),
               '}') AS copy_json
    FROM crm_events_v3
);

DROP TABLE IF EXISTS crm_events_v3;

-- The views resolve their table at query time by name, so they follow the exchange.
CREATE VIEW IF NOT EXISTS usage_events_dedup AS SELECT * FROM usage_events FINAL;
CREATE VIEW IF NOT EXISTS crm_events_dedup AS SELECT * FROM crm_events FINAL;
