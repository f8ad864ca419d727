-- Scoring outputs. Every table is idempotent under at-least-once delivery: the sorting
-- key is the deterministic identity of a result and ReplacingMergeTree keeps the most
-- recently computed version, so a re-emitted result replaces rather than duplicates.

-- Daily health history: one row per account per day (as_of).
CREATE TABLE IF NOT EXISTS account_health
(
    account_id       String,
    as_of            Date,
    score            Float64,
    color            Enum8('green' = 1, 'yellow' = 2, 'red' = 3),
    previous_color   Nullable(Enum8('green' = 1, 'yellow' = 2, 'red' = 3)),
    seats            Nullable(UInt32),
    dau              UInt32,
    wau              UInt32,
    mau              UInt32,
    dau_pct          Nullable(Float64),
    wau_pct          Nullable(Float64),
    mau_pct          Nullable(Float64),
    wau_change_pct   Nullable(Float64),
    measure_names    Array(String),
    measure_values   Array(Nullable(Float64)),
    measure_scores   Array(Float64),
    measure_weights  Array(Float64),
    reasons          Array(String),
    red_flags        Array(String),
    name             String,
    segment          LowCardinality(String),
    csm              LowCardinality(String),
    lifecycle_stage  LowCardinality(String),
    usage_profile    LowCardinality(String),
    arr              Nullable(Float64),
    renewal_on       Nullable(Date),
    config_version   String,
    result           String,
    computed_at      DateTime('UTC')
)
ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(as_of)
ORDER BY (account_id, as_of);

-- Latest health per account without scanning history: fed by a materialized view,
-- the newest as_of wins (a late re-evaluation of an older day never overwrites it).
CREATE TABLE IF NOT EXISTS account_health_latest
(
    account_id       String,
    as_of            Date,
    score            Float64,
    color            Enum8('green' = 1, 'yellow' = 2, 'red' = 3),
    previous_color   Nullable(Enum8('green' = 1, 'yellow' = 2, 'red' = 3)),
    seats            Nullable(UInt32),
    dau_pct          Nullable(Float64),
    wau_pct          Nullable(Float64),
    mau_pct          Nullable(Float64),
    wau_change_pct   Nullable(Float64),
    reasons          Array(String),
    red_flags        Array(String),
    name             String,
    segment          LowCardinality(String),
    csm              LowCardinality(String),
    lifecycle_stage  LowCardinality(String),
    arr              Nullable(Float64),
    renewal_on       Nullable(Date),
    result           String,
    computed_at      DateTime('UTC')
)
ENGINE = ReplacingMergeTree(as_of)
ORDER BY account_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS account_health_latest_mv TO account_health_latest AS
SELECT account_id, as_of, score, color, previous_color, seats, dau_pct, wau_pct, mau_pct,
       wau_change_pct, reasons, red_flags, name, segment, csm, lifecycle_stage, arr,
       renewal_on, result, computed_at
FROM account_health;

-- Graduation readiness history: one row per account per day.
CREATE TABLE IF NOT EXISTS graduation_readiness
(
    account_id            String,
    as_of                 Date,
    total                 Float64,
    verdict               Enum8('ready' = 1, 'close' = 2, 'not_ready' = 3),
    technical_score       Nullable(Float64),
    technical_source      LowCardinality(String),
    knowledge_score       Nullable(Float64),
    knowledge_source      LowCardinality(String),
    usage_score           Nullable(Float64),
    usage_source          LowCardinality(String),
    value_score           Nullable(Float64),
    value_source          LowCardinality(String),
    stakeholder_score     Nullable(Float64),
    stakeholder_source    LowCardinality(String),
    blockers              Array(String),
    red_flags             Array(String),
    lifecycle_stage       LowCardinality(String),
    days_in_stage         Nullable(Int32),
    overdue               UInt8,
    recovery_plan_needed  UInt8,
    config_version        String,
    result                String,
    computed_at           DateTime('UTC')
)
ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(as_of)
ORDER BY (account_id, as_of);

CREATE TABLE IF NOT EXISTS graduation_readiness_latest
(
    account_id            String,
    as_of                 Date,
    total                 Float64,
    verdict               Enum8('ready' = 1, 'close' = 2, 'not_ready' = 3),
    blockers              Array(String),
    lifecycle_stage       LowCardinality(String),
    days_in_stage         Nullable(Int32),
    overdue               UInt8,
    recovery_plan_needed  UInt8,
    result                String,
    computed_at           DateTime('UTC')
)
ENGINE = ReplacingMergeTree(as_of)
ORDER BY account_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS graduation_readiness_latest_mv TO graduation_readiness_latest AS
SELECT account_id, as_of, total, verdict, blockers, lifecycle_stage, days_in_stage, overdue,
       recovery_plan_needed, result, computed_at
FROM graduation_readiness;

-- Alert transitions: `opened` when a rule starts firing for an account, `resolved` when it
-- clears. alert_id = account_id/rule/opened_on identifies one alert across both rows.
CREATE TABLE IF NOT EXISTS health_alerts
(
    alert_id     String,
    account_id   String,
    rule         LowCardinality(String),
    state        Enum8('opened' = 1, 'resolved' = 2),
    opened_on    Date,
    as_of        Date,
    severity     LowCardinality(String),
    message      String,
    details      String,
    emitted_at   DateTime('UTC')
)
ENGINE = ReplacingMergeTree(emitted_at)
PARTITION BY toYYYYMM(opened_on)
ORDER BY (account_id, rule, opened_on, state);
