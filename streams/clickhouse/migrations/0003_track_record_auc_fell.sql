-- The churn track record flags a model version whose AUC fell below the previous
-- version's by more than the configured margin (HEALTHSCORE_CHURN_AUC_DROP).
ALTER TABLE {db}.churn_track_record
    ADD COLUMN IF NOT EXISTS auc_previous Nullable(Float64),
    ADD COLUMN IF NOT EXISTS auc_fell UInt8 DEFAULT 0;
