-- SPEC v3 §8 (former customers) and §10 (data quality) on the stored results and alerts.
--
-- New columns only, each with a default that makes a row written before this migration
-- read as it was meant: not former, data_status 'ok', coverage 1, every measure and
-- dimension state 'ok' with no as_of, no alert reason. Old rows are not rewritten
-- (ClickHouse fills a missing column from its default on read), so the migration is
-- quick on any amount of history.
--
-- Online-safe and re-runnable (see crates/pulse-runtime/src/migrate.rs): `ADD COLUMN IF
-- NOT EXISTS` changes metadata only; a writer of the previous release keeps inserting
-- its columns and gets the defaults for the rest. The materialized views that feed the
-- `_latest` tables and `alerts_current` name their columns, so each is given its new
-- query in place (`MODIFY QUERY`, atomic: no insert between two statements can miss
-- the view, as a drop and re-create would let it). Order: the history table, then the
-- target table, then the view, so the view never selects a column that is not there.

-- Health history: former, data quality, and per measure (parallel to measure_names) the
-- newest input behind it and its state. The measure defaults follow measure_names, so
-- the parallel arrays stay parallel on old rows.
ALTER TABLE account_health
    ADD COLUMN IF NOT EXISTS former          Bool DEFAULT false,
    ADD COLUMN IF NOT EXISTS data_status     LowCardinality(String) DEFAULT 'ok',
    ADD COLUMN IF NOT EXISTS coverage        Float64 DEFAULT 1,
    ADD COLUMN IF NOT EXISTS measure_as_of   Array(Nullable(Date)) DEFAULT arrayMap(x -> CAST(NULL, 'Nullable(Date)'), measure_names),
    ADD COLUMN IF NOT EXISTS measure_states  Array(LowCardinality(String)) DEFAULT arrayMap(x -> 'ok', measure_names);

ALTER TABLE account_health_latest
    ADD COLUMN IF NOT EXISTS former          Bool DEFAULT false,
    ADD COLUMN IF NOT EXISTS data_status     LowCardinality(String) DEFAULT 'ok',
    ADD COLUMN IF NOT EXISTS coverage        Float64 DEFAULT 1;

ALTER TABLE account_health_latest_mv MODIFY QUERY
SELECT account_id, as_of, score, color, previous_color, seats, dau_pct, wau_pct, mau_pct,
       wau_change_pct, reasons, red_flags, name, segment, csm, lifecycle_stage, arr,
       renewal_on, result, computed_at, former, data_status, coverage
FROM account_health;

-- Readiness history: former, data quality, and per dimension its newest input and state.
ALTER TABLE graduation_readiness
    ADD COLUMN IF NOT EXISTS former             Bool DEFAULT false,
    ADD COLUMN IF NOT EXISTS data_status        LowCardinality(String) DEFAULT 'ok',
    ADD COLUMN IF NOT EXISTS coverage           Float64 DEFAULT 1,
    ADD COLUMN IF NOT EXISTS technical_as_of    Nullable(Date),
    ADD COLUMN IF NOT EXISTS technical_state    LowCardinality(String) DEFAULT 'ok',
    ADD COLUMN IF NOT EXISTS knowledge_as_of    Nullable(Date),
    ADD COLUMN IF NOT EXISTS knowledge_state    LowCardinality(String) DEFAULT 'ok',
    ADD COLUMN IF NOT EXISTS usage_as_of        Nullable(Date),
    ADD COLUMN IF NOT EXISTS usage_state        LowCardinality(String) DEFAULT 'ok',
    ADD COLUMN IF NOT EXISTS value_as_of        Nullable(Date),
    ADD COLUMN IF NOT EXISTS value_state        LowCardinality(String) DEFAULT 'ok',
    ADD COLUMN IF NOT EXISTS stakeholder_as_of  Nullable(Date),
    ADD COLUMN IF NOT EXISTS stakeholder_state  LowCardinality(String) DEFAULT 'ok';

ALTER TABLE graduation_readiness_latest
    ADD COLUMN IF NOT EXISTS former          Bool DEFAULT false,
    ADD COLUMN IF NOT EXISTS data_status     LowCardinality(String) DEFAULT 'ok',
    ADD COLUMN IF NOT EXISTS coverage        Float64 DEFAULT 1;

ALTER TABLE graduation_readiness_latest_mv MODIFY QUERY
SELECT account_id, as_of, total, verdict, blockers, lifecycle_stage, days_in_stage, overdue,
       recovery_plan_needed, result, computed_at, former, data_status, coverage
FROM graduation_readiness;

-- Alerts: why a resolve is not the rule's own (`churned`: the account became a former
-- customer that day); '' for none. alerts_current keeps the reason of a resolved alert
-- only: a retracted resolution opens the alert again, without one.
ALTER TABLE health_alerts
    ADD COLUMN IF NOT EXISTS reason LowCardinality(String) DEFAULT '';

ALTER TABLE alerts_current
    ADD COLUMN IF NOT EXISTS reason LowCardinality(String) DEFAULT '';

ALTER TABLE alerts_current_mv MODIFY QUERY
SELECT alert_id, account_id, rule, opened_on,
       CAST(multiIf(state = 'opened', 'open', state = 'resolved', 'resolved',
                    transition = 'opened', 'withdrawn', 'open'),
            'Enum8(\'open\' = 1, \'resolved\' = 2, \'withdrawn\' = 3)') AS status,
       if(state = 'resolved', CAST(as_of, 'Nullable(Date)'), CAST(NULL, 'Nullable(Date)')) AS resolved_on,
       severity, message, details, version, emitted_at AS updated_at,
       if(state = 'resolved', reason, '') AS reason
FROM health_alerts;
