-- The tables of the domain page. `{db}` is the configured database name.
CREATE TABLE IF NOT EXISTS {db}.score_history
(
    account_id          String,
    ts                  DateTime64(3, 'UTC'),
    event_id            String,
    health              Float32,
    band                LowCardinality(String),
    trend_7d            Nullable(Float32),
    trend_30d           Nullable(Float32),
    coverage            Float32,
    freshness_days      Nullable(Float32),
    signals             Map(LowCardinality(String), Nullable(Float32)),
    readiness_quadrant  LowCardinality(Nullable(String)),
    success_quadrant    LowCardinality(Nullable(String)),
    happiness_band      LowCardinality(Nullable(String)),
    churn_risk          Nullable(Float32),
    tier                LowCardinality(String),
    engagement          LowCardinality(String),
    success_potential   Nullable(UInt8),
    fits                Map(LowCardinality(String), Nullable(UInt8)),
    opportunities       Array(LowCardinality(String)),
    drivers             String,
    churn_drivers       String,
    segment             LowCardinality(String),
    mrr                 Float64,
    cancelled           UInt8,
    events_applied      UInt64,
    config_version      LowCardinality(String),
    model_version       LowCardinality(String),
    written_at          DateTime64(3, 'UTC') DEFAULT now64(3)
)
-- Replacing: a score published again after a worker crash (at-least-once
-- outputs, see streams/state_flush.py) folds into one row; FINAL reads are exact.
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (account_id, ts, events_applied);

-- Latest score per account: no monthly partitions, so one account's rows
-- always merge. Read with FINAL (or argMax) for an exact view.
CREATE TABLE IF NOT EXISTS {db}.latest_score
(
    account_id          String,
    ts                  DateTime64(3, 'UTC'),
    event_id            String,
    health              Float32,
    band                LowCardinality(String),
    trend_7d            Nullable(Float32),
    trend_30d           Nullable(Float32),
    coverage            Float32,
    freshness_days      Nullable(Float32),
    signals             Map(LowCardinality(String), Nullable(Float32)),
    readiness_quadrant  LowCardinality(Nullable(String)),
    success_quadrant    LowCardinality(Nullable(String)),
    happiness_band      LowCardinality(Nullable(String)),
    churn_risk          Nullable(Float32),
    tier                LowCardinality(String),
    engagement          LowCardinality(String),
    success_potential   Nullable(UInt8),
    fits                Map(LowCardinality(String), Nullable(UInt8)),
    opportunities       Array(LowCardinality(String)),
    drivers             String,
    churn_drivers       String,
    segment             LowCardinality(String),
    mrr                 Float64,
    cancelled           UInt8,
    events_applied      UInt64,
    config_version      LowCardinality(String),
    model_version       LowCardinality(String),
    written_at          DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(events_applied)
ORDER BY account_id;

CREATE TABLE IF NOT EXISTS {db}.transitions
(
    account_id      String,
    ts              DateTime64(3, 'UTC'),
    kind            LowCardinality(String),
    from_value      LowCardinality(Nullable(String)),
    to_value        LowCardinality(Nullable(String)),
    event_id        String,
    drivers         String,
    config_version  LowCardinality(String),
    written_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (account_id, kind, ts, event_id);

CREATE TABLE IF NOT EXISTS {db}.alerts
(
    alert_id        String,
    account_id      String,
    ts              DateTime64(3, 'UTC'),
    kind            LowCardinality(String),
    severity        LowCardinality(String),
    dedupe_key      String,
    message         String,
    tier            LowCardinality(String),
    engagement      LowCardinality(String),
    event_id        String,
    drivers         String,
    config_version  LowCardinality(String),
    written_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (account_id, ts, alert_id);

CREATE TABLE IF NOT EXISTS {db}.dead_letters
(
    received_at     DateTime64(3, 'UTC'),
    source_topic    LowCardinality(String),
    partition       Int32,
    offset          Int64,
    key             Nullable(String),
    reason          LowCardinality(String),
    field           Nullable(String),
    detail          String,
    payload         String,
    payload_bytes   UInt32,
    event_id        Nullable(String),
    account_id      Nullable(String),
    written_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (source_topic, partition, offset);

CREATE TABLE IF NOT EXISTS {db}.churn_track_record
(
    model_version   LowCardinality(String),
    computed_at     DateTime64(3, 'UTC'),
    examples        UInt64,
    positives       UInt64,
    auc             Nullable(Float64),
    brier           Nullable(Float64),
    bin_lower       Array(Float64),
    bin_predicted   Array(Float64),
    bin_observed    Array(Float64),
    bin_count       Array(UInt64)
)
ENGINE = ReplacingMergeTree(computed_at)
ORDER BY model_version;
