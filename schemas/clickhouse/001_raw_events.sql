-- Raw events as ingested. One row per (account_id, event_id): a repeated event id is a
-- duplicate and is collapsed by ReplacingMergeTree; read with FINAL (or the *_dedup views)
-- to see each event once even before a merge has happened.
-- Partitioned by month of the event time; ordered for per-account queries.
-- `raw` keeps the original message bytes, so unknown extra fields are never lost.
CREATE TABLE IF NOT EXISTS usage_events
(
    event_id         String,
    account_id       String,
    user_id          String,
    event            String,
    feature          String,
    timestamp        DateTime('UTC'),
    properties       String,
    raw              String,
    source_topic     LowCardinality(String),
    source_partition Int32,
    source_offset    Int64,
    ingested_at      DateTime('UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (account_id, event_id);

-- CRM events (account, assessment and evidence events). `payload` is the normalized
-- event as JSON (what the scorer sees); `raw` the original bytes.
CREATE TABLE IF NOT EXISTS crm_events
(
    event_id         String,
    account_id       String,
    type             Enum8('account' = 1, 'assessment' = 2, 'milestone' = 3, 'training' = 4,
                           'kpi' = 5, 'stakeholder' = 6, 'ticket' = 7),
    timestamp        DateTime('UTC'),
    payload          String,
    raw              String,
    source_topic     LowCardinality(String),
    source_partition Int32,
    source_offset    Int64,
    ingested_at      DateTime('UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (account_id, event_id);

CREATE VIEW IF NOT EXISTS usage_events_dedup AS SELECT * FROM usage_events FINAL;
CREATE VIEW IF NOT EXISTS crm_events_dedup AS SELECT * FROM crm_events FINAL;
