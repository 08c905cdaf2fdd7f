"""The names of the signals, in the order used everywhere (features, drivers, docs)."""

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
