"""The worker's churn model learns only once it has seen both outcomes."""

from __future__ import annotations

from datetime import UTC, datetime

import scoring
from streams.agents import ChurnModelHolder

CONFIG = scoring.load_config()


def example(i: int, churned: bool) -> scoring.LabelledExample:
    model = scoring.default_churn_model(CONFIG)
    features = tuple(0.2 if churned else 0.8 for _ in model.coefficients)
    return scoring.LabelledExample(
        f"a{i}", datetime(2026, 1, 1, tzinfo=UTC), features, 0.5, model.version, churned
    )


def test_positives_alone_do_not_move_the_model_then_both_classes_do():
    start = scoring.default_churn_model(CONFIG)
    holder = ChurnModelHolder(start, min_per_class=5)
    holder.learn([example(i, True) for i in range(50)])
    assert holder.model is start and len(holder.pending) == 50
    holder.learn([example(i, False) for i in range(5)])
    assert holder.model is not start and holder.pending == []


def test_the_wait_is_bounded():
    holder = ChurnModelHolder(scoring.default_churn_model(CONFIG), max_pending=100)
    holder.learn([example(i, True) for i in range(250)])
    assert len(holder.pending) == 100
