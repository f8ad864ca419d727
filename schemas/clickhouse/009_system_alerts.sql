-- System alerts (SPEC v3 §10): `source_stalled`, one per stall of a source (usage, crm),
-- with `account_id` null on the topic. A stall is identified by (rule, source,
-- opened_at); its `opened` row is written when the scorer sees the source's newest event
-- time lag the wall clock by more than the source's limit, its `resolved` row when the
-- source flows again. Re-writes after a restart carry the same key and collapse
-- (ReplacingMergeTree on `emitted_at`, the newest word wins).
--
-- A source is stalled now when its newest row (by `at`) is an `opened` one:
--   SELECT source, argMax(transition, at) = 'opened' AS stalled, argMax(since, at)
--   FROM system_alerts FINAL WHERE rule = 'source_stalled' GROUP BY source
-- System alerts are outside SPEC §5's equality with replay (they follow the wall clock).

CREATE TABLE IF NOT EXISTS system_alerts
(
    rule          LowCardinality(String),
    source        LowCardinality(String),
    -- Wall-clock time the stall was detected: with rule and source, the alert's identity.
    opened_at     DateTime64(3, 'UTC'),
    transition    Enum8('opened' = 1, 'resolved' = 2),
    -- Wall-clock time of this transition (equal to opened_at for `opened`).
    at            DateTime64(3, 'UTC'),
    -- The source's newest event time when the stall was detected: data is complete up
    -- to here ("usage feed 6 h behind since 09:12").
    since         DateTime64(3, 'UTC'),
    -- now - since at this transition, and the configured limit it exceeded.
    lag_seconds   Float64,
    limit_seconds Float64,
    message       String,
    emitted_at    DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(emitted_at)
ORDER BY (rule, source, opened_at, transition);
