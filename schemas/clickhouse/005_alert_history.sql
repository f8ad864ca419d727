-- Alert history that late data can correct (SPEC §5).
--
-- `health_alerts` holds one row per alert *transition* (an alert is account/rule/opened_on;
-- its transitions are `opened` and, later, `resolved`). When late or backlogged data
-- re-derives a past day and a transition no longer holds, the scorer writes the same
-- transition again with `state = 'retracted'`: the row then names the transition it
-- withdraws (`transition`, `as_of`). ReplacingMergeTree on `version` keeps the newest word
-- on each transition, so re-emits after a crash are idempotent and a transition retracted
-- and later derived again is live again. Stored history = `FINAL WHERE state != 'retracted'`.
--
-- `alerts_current` keeps the current state of each alert (open / resolved / withdrawn),
-- so the alerts feed reads one row per alert on its sort key instead of folding the
-- whole history on every request.
--
-- The first version of `health_alerts` (opened/resolved only, second-resolution version)
-- is replaced: the new table is built beside it, filled from it, exchanged atomically, and
-- filled again from the old one before that is dropped (online-safe: migrate.rs).

CREATE TABLE IF NOT EXISTS health_alerts_v2
(
    alert_id     String,
    account_id   String,
    rule         LowCardinality(String),
    transition   Enum8('opened' = 1, 'resolved' = 2),
    state        Enum8('opened' = 1, 'resolved' = 2, 'retracted' = 3),
    opened_on    Date,
    as_of        Date,
    severity     LowCardinality(String),
    message      String,
    details      String,
    version      UInt64,
    emitted_at   DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYear(opened_on)
ORDER BY (account_id, rule, opened_on, transition);

INSERT INTO health_alerts_v2
SELECT alert_id, account_id, rule, CAST(toString(state), 'Enum8(\'opened\' = 1, \'resolved\' = 2)'),
       CAST(toString(state), 'Enum8(\'opened\' = 1, \'resolved\' = 2, \'retracted\' = 3)'),
       opened_on, as_of, severity, message, details,
       toUInt64(toUnixTimestamp(emitted_at)) * 1000000, toDateTime64(emitted_at, 3, 'UTC')
FROM health_alerts FINAL;

EXCHANGE TABLES health_alerts AND health_alerts_v2;

-- Catch-up: transitions the running scorer wrote into the old table between the copy and
-- the exchange (the migrator first waits for inserts that started before it). Rows
-- already copied carry the same version and collapse.
INSERT INTO health_alerts
SELECT alert_id, account_id, rule, CAST(toString(state), 'Enum8(\'opened\' = 1, \'resolved\' = 2)'),
       CAST(toString(state), 'Enum8(\'opened\' = 1, \'resolved\' = 2, \'retracted\' = 3)'),
       opened_on, as_of, severity, message, details,
       toUInt64(toUnixTimestamp(emitted_at)) * 1000000, toDateTime64(emitted_at, 3, 'UTC')
FROM health_alerts_v2 FINAL;

DROP TABLE IF EXISTS health_alerts_v2;

CREATE TABLE IF NOT EXISTS alerts_current
(
    alert_id     String,
    account_id   String,
    rule         LowCardinality(String),
    opened_on    Date,
    status       Enum8('open' = 1, 'resolved' = 2, 'withdrawn' = 3),
    resolved_on  Nullable(Date),
    severity     LowCardinality(String),
    message      String,
    details      String,
    version      UInt64,
    updated_at   DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (account_id, rule, opened_on);

-- opened -> open; resolved -> resolved; an opening retracted -> withdrawn (it never
-- held); a resolution retracted -> open again. The scorer writes a retraction with the
-- alert's opening severity and message, so the row stays complete.
CREATE MATERIALIZED VIEW IF NOT EXISTS alerts_current_mv TO alerts_current AS
SELECT alert_id, account_id, rule, opened_on,
       CAST(multiIf(state = 'opened', 'open', state = 'resolved', 'resolved',
                    transition = 'opened', 'withdrawn', 'open'),
            'Enum8(\'open\' = 1, \'resolved\' = 2, \'withdrawn\' = 3)') AS status,
       if(state = 'resolved', CAST(as_of, 'Nullable(Date)'), CAST(NULL, 'Nullable(Date)')) AS resolved_on,
       severity, message, details, version, emitted_at AS updated_at
FROM health_alerts;

-- Alerts that existed before this migration (the view sees only new rows). Re-running
-- it writes the same versions again: collapsed by the engine.
INSERT INTO alerts_current
SELECT alert_id, account_id, rule, opened_on,
       CAST(multiIf(state = 'opened', 'open', state = 'resolved', 'resolved',
                    transition = 'opened', 'withdrawn', 'open'),
            'Enum8(\'open\' = 1, \'resolved\' = 2, \'withdrawn\' = 3)') AS status,
       if(state = 'resolved', CAST(as_of, 'Nullable(Date)'), CAST(NULL, 'Nullable(Date)')) AS resolved_on,
       severity, message, details, version, emitted_at AS updated_at
FROM health_alerts FINAL;
