"""healthscore's functional core: events + a versioned config in, scores out.

Pure and deterministic: no I/O, no wall clock, no randomness, no Kafka or
ClickHouse. The streams layer calls exactly the names in `__all__`.
"""

from __future__ import annotations

from scoring.churn import (
    ChurnModel,
    LabelledExample,
    default_churn_model,
    file_outcomes,
    track_record,
)
from scoring.churn_learner import ChurnLearner, auc_fell, example_from_bytes, example_to_bytes
from scoring.config import ScoringConfig
from scoring.config_load import load_config
from scoring.engine import (
    StepResult,
    is_too_late,
    process,
    process_shadow,
    score_state,
    settle,
    tick,
)
from scoring.errors import ConfigError, ConflictingDuplicateError, ScoringError, TooLateError
from scoring.shadow import ShadowScore, shadow_score
from scoring.state import AccountState, new_state
from scoring.track import CalibrationBin, TrackRecordRow

__all__ = [
    "AccountState",
    "CalibrationBin",
    "ChurnLearner",
    "ChurnModel",
    "ConfigError",
    "ConflictingDuplicateError",
    "LabelledExample",
    "ScoringConfig",
    "ScoringError",
    "ShadowScore",
    "StepResult",
    "TooLateError",
    "TrackRecordRow",
    "auc_fell",
    "default_churn_model",
    "example_from_bytes",
    "example_to_bytes",
    "file_outcomes",
    "is_too_late",
    "load_config",
    "new_state",
    "process",
    "process_shadow",
    "score_state",
    "settle",
    "shadow_score",
    "tick",
    "track_record",
]
