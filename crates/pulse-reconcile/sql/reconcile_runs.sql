-- The summary of each `pulse reconcile` run (the API serves the latest). Created by
-- `pulse reconcile` itself (CREATE TABLE IF NOT EXISTS) in the configured database.
CREATE TABLE IF NOT EXISTS reconcile_runs
(
    run_at            DateTime64(3, 'UTC'),
    from_day          Date,
    to_day            Date,
    accounts          UInt64,
    days              UInt64,
    rows_compared     UInt64,
    differences       UInt64,
    missing_rows      UInt64,
    seats_differences UInt64,
    dau_differences   UInt64,
    wau_differences   UInt64,
    mau_differences   UInt64,
    elapsed_ms        UInt64
)
ENGINE = MergeTree
ORDER BY run_at
