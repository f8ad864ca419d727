-- pulse reconcile: dau, wau, mau and seats of every account and day in {from}..{to},
-- recomputed from the raw events with plain SQL, beside the values stored in
-- account_health (SPEC sections 1 and 2). One row per (account, day) that has a stored
-- result or an active user in its 28-day window; `stored` = 0: no stored result.
-- Parameters: {from:Date} and {to:Date}, e.g. in clickhouse-client
--   SET param_from = '2026-01-01', param_to = '2026-12-31';
-- Days are UTC days (the tables' timestamps are UTC).
WITH
    -- Every stored copy dated in the days the windows of from..to read (D-55..D), with
    -- the day of the previous stored copy of its event id. FINAL: one copy per event id
    -- and UTC day, the earliest of that day (the only one of its day that can count).
    copies AS
    (
        SELECT
            account_id,
            user_id,
            toDate(timestamp) AS day,
            lagInFrame(toNullable(toDate(timestamp))) OVER (
                PARTITION BY account_id, event_id ORDER BY timestamp ASC
                ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS prev_day
        FROM usage_events FINAL
        WHERE toDate(timestamp) BETWEEN {from:Date} - 55 AND {to:Date}
    ),
    -- For day D the earliest copy of an id dated within D-55..D counts (SPEC section 2),
    -- so a copy dated X counts for the days D >= X whose D-55 is past its id's previous
    -- copy: from X, or from that copy's day + 56 when later. Each (account, user, day)
    -- with the first day D its activity counts for.
    active AS
    (
        SELECT account_id, user_id, day,
               min(if(prev_day IS NULL, day, greatest(day, prev_day + 56))) AS counts_from
        FROM copies
        WHERE day >= {from:Date} - 27
        GROUP BY account_id, user_id, day
    ),
    -- A user active on day X counts in the dau of X, the wau of X..X+6 and the mau of
    -- X..X+27 (wau reads D-6..D, mau D-27..D), from `counts_from` on.
    recomputed AS
    (
        SELECT
            account_id,
            day + k AS as_of,
            uniqExactIf(user_id, k = 0) AS dau,
            uniqExactIf(user_id, k < 7) AS wau,
            uniqExact(user_id) AS mau
        FROM active
        ARRAY JOIN range(28) AS k
        WHERE as_of BETWEEN {from:Date} AND {to:Date} AND as_of >= counts_from
        GROUP BY account_id, as_of
    ),
    stored AS
    (
        SELECT account_id, as_of, seats, dau, wau, mau
        FROM account_health FINAL
        WHERE as_of BETWEEN {from:Date} AND {to:Date}
    ),
    -- The seats each day's `account` events leave in force: partial upserts applied in
    -- event time (the payload's full-precision timestamp), ties by event_id; an event
    -- without licensed_seats (absent or null) leaves them unchanged.
    seat_changes AS
    (
        SELECT account_id, day, argMax(set_seats, (ts, event_id)) AS seats
        FROM
        (
            SELECT
                account_id,
                event_id,
                JSONExtract(payload, 'licensed_seats', 'Nullable(UInt64)') AS set_seats,
                parseDateTime64BestEffort(JSONExtractString(payload, 'timestamp'), 9, 'UTC') AS ts,
                toDate(ts) AS day
            FROM crm_events FINAL
            WHERE type = 'account' AND day <= {to:Date}
        )
        WHERE set_seats IS NOT NULL
        GROUP BY account_id, day
    ),
    grid AS
    (
        SELECT account_id, as_of FROM stored
        UNION DISTINCT
        SELECT account_id, as_of FROM recomputed
    )
SELECT
    g.account_id AS account_id,
    g.as_of AS as_of,
    -- the latest change on or before the day; null when none set the seats
    c.seats AS seats,
    toUInt32(r.dau) AS dau,
    toUInt32(r.wau) AS wau,
    toUInt32(r.mau) AS mau,
    toBool(s.account_id != '') AS stored,
    s.seats AS stored_seats,
    s.dau AS stored_dau,
    s.wau AS stored_wau,
    s.mau AS stored_mau
FROM grid AS g
LEFT JOIN recomputed AS r ON r.account_id = g.account_id AND r.as_of = g.as_of
LEFT JOIN stored AS s ON s.account_id = g.account_id AND s.as_of = g.as_of
ASOF LEFT JOIN seat_changes AS c ON c.account_id = g.account_id AND c.day <= g.as_of
ORDER BY account_id, as_of
-- Unmatched rows of a LEFT JOIN read as 0 (NULL for the Nullable seats), which the
-- columns above rely on.
SETTINGS join_use_nulls = 0
