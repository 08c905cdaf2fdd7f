-- The live shadow scorecard (`shadow_scorecard` in the scoring config): one row per
-- live score the worker publishes, with what the shadow scorecard gives for the same
-- account state (`scoring.shadow`) and the live health and band beside it. Joinable
-- to score_history on (account_id, ts, events_applied). Written to ClickHouse only,
-- never to a topic.
CREATE TABLE IF NOT EXISTS {db}.shadow_scores
(
    account_id          String,
    ts                  DateTime64(3, 'UTC'),
    event_id            String,
    events_applied      UInt64,
    scorecard           LowCardinality(String),
    health              Float32,
    band                LowCardinality(String),
    coverage            Float32,
    readiness_quadrant  LowCardinality(Nullable(String)),
    success_quadrant    LowCardinality(Nullable(String)),
    churn_risk          Nullable(Float32),
    tier                LowCardinality(String),
    live_health         Float32,
    live_band           LowCardinality(String),
    config_version      LowCardinality(String),
    live_config_version LowCardinality(String),
    written_at          DateTime64(3, 'UTC') DEFAULT now64(3)
)
-- Replacing, like score_history: a score published again after a crash folds into
-- one row. config_version (which names the scorecard) is in the key, so the rows of
-- two shadow scorecards tried one after the other are both kept.
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (account_id, ts, events_applied, config_version);
