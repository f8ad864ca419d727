-- Alert acknowledgements from the API and dashboard (`POST /api/v1/alerts/ack`): who
-- acknowledged an alert, when, and why. One row per alert after merges (the newest
-- acknowledgement wins); read with FINAL. `principal` is the API credential's name, kept
-- for audit next to the person named in the request.
CREATE TABLE IF NOT EXISTS alert_acks
(
    alert_id         String,
    account_id       String,
    rule             LowCardinality(String),
    acknowledged_by  String,
    principal        LowCardinality(String),
    note             String,
    acknowledged_at  DateTime('UTC')
)
ENGINE = ReplacingMergeTree(acknowledged_at)
ORDER BY alert_id;
