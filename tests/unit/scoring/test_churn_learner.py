"""ChurnLearner: MAP refits anchored to the prior, no hindsight, bounded, safe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from scoring import (
    ChurnLearner,
    LabelledExample,
    ScoringConfig,
    ScoringError,
    auc_fell,
    example_from_bytes,
    example_to_bytes,
    track_record,
)
from scoring.churn import predict
from scoring.names import CHURN_FEATURES
from scoring.track import TrackRecordRow

T0 = datetime(2026, 6, 1, tzinfo=UTC)
USAGE = CHURN_FEATURES.index("usage_28d")


def small(config: ScoringConfig, **changes: Any) -> ScoringConfig:
    churn = config.churn.model_copy(
        update={"refit_every": 40, "min_per_class": 10, "buffer_examples": 500, **changes}
    )
    return config.model_copy(update={"churn": churn})


def example(
    learner: ChurnLearner, day: float, churned: bool, usage: float, i: int = 0
) -> LabelledExample:
    x = list(learner.prior.centres)
    x[USAGE] = usage + 0.01 * (i % 7)
    return LabelledExample(
        f"a{i}", T0 + timedelta(days=day), tuple(x), 0.1, learner.model.version, churned
    )


def survivors(learner: ChurnLearner, day: float, n: int) -> list[LabelledExample]:
    """Survivals known at `day` (their snapshots one horizon earlier): heavy users."""
    h = learner.config.churn.horizon_days
    return [example(learner, day - h, False, 6.0, i) for i in range(n)]


def leavers(learner: ChurnLearner, day: float, n: int) -> list[LabelledExample]:
    """Cancellations known at `day`, snapshots 10 days earlier: light users."""
    return [example(learner, day - 10, True, 2.0, i) for i in range(n)]


def test_cancellations_wait_until_their_horizon_has_passed(config: ScoringConfig) -> None:
    learner = ChurnLearner(small(config))
    assert learner.add(leavers(learner, 0, 30)) is None
    assert learner.add(survivors(learner, 0, 30)) is None  # the leavers' horizon is still open
    assert learner.model.refits == 0
    model = learner.add(survivors(learner, 100, 30))  # now it has passed
    assert model is not None and model is learner.model
    assert model.refits == 1 and model.version.endswith("+m1")


def test_a_refit_learns_what_the_outcomes_show(config: ScoringConfig) -> None:
    learner = ChurnLearner(small(config, max_step=5.0))
    learner.add(leavers(learner, 0, 60))
    learner.add(survivors(learner, 100, 60))
    assert learner.model.refits >= 1
    light = example(learner, 200, False, 2.0)
    heavy = example(learner, 200, False, 6.0)
    gap_prior = predict(learner.prior, light.features) - predict(learner.prior, heavy.features)
    gap = predict(learner.model, light.features) - predict(learner.model, heavy.features)
    assert gap > gap_prior > 0.0


def test_one_refit_moves_a_coefficient_at_most_max_step(config: ScoringConfig) -> None:
    cfg = small(config, max_step=0.05, prior_strength=1.0, refit_every=120)  # one refit
    learner = ChurnLearner(cfg)
    batch = leavers(learner, 0, 60) + survivors(learner, 100, 60)
    sd = np.array([e.features for e in batch]).std(axis=0)
    learner.add(batch)
    assert learner.model.refits == 1
    moved = np.abs(np.array(learner.model.coefficients) - np.array(learner.prior.coefficients))
    assert float(moved[USAGE] * sd[USAGE]) == pytest.approx(0.05, rel=1e-3)
    assert np.all(moved * sd <= 0.05 + 1e-6)


def test_the_same_examples_give_the_same_models(config: ScoringConfig) -> None:
    def fit() -> bytes:
        learner = ChurnLearner(small(config))
        learner.add(leavers(learner, 0, 60))
        learner.add(survivors(learner, 100, 60))
        return learner.model.to_bytes()

    assert fit() == fit()


def test_backdated_and_implausible_examples_are_not_learned_from(config: ScoringConfig) -> None:
    learner = ChurnLearner(small(config))
    learner.add(survivors(learner, 1000, 5))  # the clock is at day 1000
    backdated = leavers(learner, 0, 30) + survivors(learner, 10, 30)
    bad = list(learner.prior.centres)
    bad[USAGE] = float("inf")
    weird = LabelledExample("w", T0 + timedelta(days=990), tuple(bad), 0.1, "x", True)
    assert learner.add([*backdated, weird]) is None
    assert learner.rejected == 61
    assert learner.model.refits == 0
    assert sum(r.examples for r in track_record(learner.model)) == 66


def test_memory_is_bounded(config: ScoringConfig) -> None:
    learner = ChurnLearner(small(config, buffer_examples=50, refit_every=10_000))
    for day in range(0, 2000, 10):
        learner.add(survivors(learner, day, 5) + leavers(learner, day, 5))
    assert len(learner._buffer) <= 50 and len(learner._waiting) <= 50


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_the_models_depend_on_the_sequence_not_on_how_it_is_split(
    config: ScoringConfig, chunk: int
) -> None:
    """A learner replayed from the examples topic sees other batches than the first owner
    did; it must publish the same versions."""
    probe = ChurnLearner(small(config))
    examples = [*leavers(probe, 0, 60), *survivors(probe, 100, 60), *leavers(probe, 120, 25)]
    examples += survivors(probe, 230, 80)
    whole = ChurnLearner(small(config))
    whole.add(examples)
    split = ChurnLearner(small(config))
    for start in range(0, len(examples), chunk):
        split.add(examples[start : start + chunk])
    assert whole.model.refits >= 2, "the sequence should span several refits"
    assert split.model.to_bytes() == whole.model.to_bytes()


def test_examples_survive_the_topic_codec(config: ScoringConfig) -> None:
    ex = leavers(ChurnLearner(config), 0, 1)[0]
    assert example_from_bytes(example_to_bytes(ex)) == ex
    with pytest.raises(ScoringError):
        example_from_bytes(b'["a", "x"]')


def _row(version: str, auc: float | None, examples: int = 100) -> TrackRecordRow:
    return TrackRecordRow(version, examples, 10, auc, None, None, ())


def test_a_version_whose_auc_falls_by_more_than_the_margin_is_flagged() -> None:
    rows = [_row("m1", 0.70), _row("m2", 0.68), _row("m3", None), _row("m4", 0.60),
            _row("m5", 0.40, examples=5), _row("m6", 0.66)]  # fmt: skip
    assert auc_fell(rows, margin=0.05, min_examples=20) == [
        (None, False),
        (0.70, False),
        (0.68, False),
        (0.68, True),
        (0.60, False),
        (0.60, False),
    ]
