"""The names of the signals and of the churn features, each in the order used everywhere
(feature vectors, drivers, docs)."""

from __future__ import annotations

from typing import Final

FEATURE_BREADTH: Final = "feature_breadth"
FEATURE_DEPTH: Final = "feature_depth"
VELOCITY: Final = "velocity"
ADOPTION: Final = "adoption"
MILESTONE_COMPLETION: Final = "milestone_completion"
CUSTOMER_HAPPINESS: Final = "customer_happiness"
COMPANY_HAPPINESS: Final = "company_happiness"
GOAL_CLARITY: Final = "goal_clarity"
PRIORITY: Final = "priority"
COMMITMENT: Final = "commitment"

SIGNALS: Final[tuple[str, ...]] = (
    FEATURE_BREADTH,
    FEATURE_DEPTH,
    VELOCITY,
    ADOPTION,
    MILESTONE_COMPLETION,
    CUSTOMER_HAPPINESS,
    COMPANY_HAPPINESS,
    GOAL_CLARITY,
    PRIORITY,
    COMMITMENT,
)

SIGNED_SIGNALS: Final[frozenset[str]] = frozenset({VELOCITY, CUSTOMER_HAPPINESS, COMPANY_HAPPINESS})
"""Signals on -1..1; the others are on 0..1."""

CHURN_MIX_SERIES: Final[tuple[str, ...]] = tuple(f"mix{i}" for i in range(16))
"""The churn model's usage mix: feature names hash into these decayed counters
(`scoring.churn_features.mix_series`), a fixed-size vector whatever the catalogue."""

CHURN_BASE_FEATURES: Final[tuple[str, ...]] = (
    "term_days_left",
    "term_length_days",
    "mrr",
    "seats",
    "usage_28d",
    "usage_per_user",
    "usage_change",
    "days_idle",
    "features_used_28d",
    "tenure_days",
    "seat_utilization",
    "unpaid_failed_invoices",
    "customer_happiness",
)
"""The churn features other than the usage mix (`scoring.churn_features`)."""
MIX_BUCKETS: Final = len(CHURN_MIX_SERIES)
CHURN_FEATURES: Final[tuple[str, ...]] = (
    *CHURN_BASE_FEATURES,
    *(f"usage_mix_{i}" for i in range(MIX_BUCKETS)),
)
"""Names of the churn features, in the order of every feature vector."""
