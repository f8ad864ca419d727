-- Raw usage events: one row per (account, event id, UTC day) instead of per (account,
-- event id) (rows copied).
--
-- Online-safe (see crates/pulse-runtime/src/migrate.rs): built beside, copied, exchanged,
-- then copied again from the old table before it is dropped.
--
-- Why: SPEC v3 section 2 decides per day which copy of a repeated usage event counts:
-- for day D, among the copies dated within D-55..D the earliest wins, and copies dated
-- before D-55 take no part in D. So a later copy counts on the days D whose D-55 lies
-- past the earlier copies, and a merge that kept only the earliest copy of an id lost
-- it: a backfill, a rebuild after a config change, or an analyst's SQL over
-- `usage_events FINAL` then disagreed with the scorer and replay (seen: mau_change_pct of
-- D reads D-55..D-28, so copies one day apart were enough).
-- What the per-day rule needs is exactly the earliest copy of each day: among the copies
-- within D-55..D the winner is the earliest of the earliest day present, and a later
-- copy of the same day never wins any D. So the sort key gains the copy's UTC day
-- (`toDate32`: every day a DateTime64(3) can hold), and ReplacingMergeTree keeps the
-- largest `copy_rank` (the scored copy, 007) per (account, event id, day).
-- Rows merged before this migration keep the one copy they were merged to (a re-ingest
-- of the topic, where the broker still holds it, brings the others back).
-- Reading: `usage_events FINAL` now holds one row per day an event id was sent on;
-- docs/reconcile.md shows how a day's windows pick among them (the row counts in D
-- when the previous row of its id is dated before D-55).

CREATE TABLE IF NOT EXISTS usage_events_v4
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
ORDER BY (account_id, event_id, toDate32(timestamp));

INSERT INTO usage_events_v4
SELECT event_id, account_id, user_id, event, feature, timestamp, properties, raw, source_topic, source_partition,
       source_offset, ingested_at, copy_rank
FROM usage_events;

EXCHANGE TABLES usage_events AND usage_events_v4;

-- Catch-up: rows that running services wrote into the old table between the copy above
-- and the exchange (the migrator first waits for inserts that started before it).
-- Copies of rows already copied collapse on the sort key.
INSERT INTO usage_events
SELECT event_id, account_id, user_id, event, feature, timestamp, properties, raw, source_topic, source_partition,
       source_offset, ingested_at, copy_rank
FROM usage_events_v4;

DROP TABLE IF EXISTS usage_events_v4;
