-- `healthscore backtest --clickhouse --run NAME`: what one backtest run wrote, per config
-- (`config` is `base` or `compare`), beside the live tables and never mixed with them.
-- The columns after (run, config) are those of the live table of the same kind.
CREATE TABLE IF NOT EXISTS {db}.backtest_scores
(
    run                 LowCardinality(String),
    config              LowCardinality(String),
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
ENGINE = MergeTree
ORDER BY (run, config, account_id, ts);

CREATE TABLE IF NOT EXISTS {db}.backtest_transitions
(
    run             LowCardinality(String),
    config          LowCardinality(String),
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
ENGINE = MergeTree
ORDER BY (run, config, account_id, ts);

CREATE TABLE IF NOT EXISTS {db}.backtest_alerts
(
    run             LowCardinality(String),
    config          LowCardinality(String),
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
ENGINE = MergeTree
ORDER BY (run, config, account_id, ts);

CREATE TABLE IF NOT EXISTS {db}.backtest_track_record
(
    run             LowCardinality(String),
    config          LowCardinality(String),
    model_version   LowCardinality(String),
    computed_at     DateTime64(3, 'UTC'),
    examples        UInt64,
    positives       UInt64,
    auc             Nullable(Float64),
    brier           Nullable(Float64),
    bin_lower       Array(Float64),
    bin_predicted   Array(Float64),
    bin_observed    Array(Float64),
    bin_count       Array(UInt64),
    auc_previous    Nullable(Float64),
    auc_fell        UInt8 DEFAULT 0
)
ENGINE = MergeTree
ORDER BY (run, config, model_version);

-- One row per run: the comparison it printed, as JSON (comparison.json).
CREATE TABLE IF NOT EXISTS {db}.backtest_runs
(
    run             String,
    comparison      String,
    written_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(written_at)
ORDER BY run;
