"""AUC and calibration from bounded statistics."""

from __future__ import annotations

import random

import pytest

from scoring.track import VersionStats, binned_auc, roc_auc, row_of


@pytest.mark.parametrize(
    ("scores", "outcomes", "expected"),
    [
        ([0.1, 0.2, 0.8, 0.9], [False, False, True, True], 1.0),
        ([0.9, 0.8, 0.2, 0.1], [False, False, True, True], 0.0),
        ([0.5, 0.5], [False, True], 0.5),
        ([0.1, 0.4, 0.35, 0.8], [False, False, True, True], 0.75),
        ([0.1, 0.2], [False, False], None),
    ],
)
def test_exact_auc(scores: list[float], outcomes: list[bool], expected: float | None) -> None:
    assert roc_auc(scores, outcomes) == expected


def test_binned_auc_is_close_to_the_exact_one() -> None:
    rng = random.Random(3)
    stats = VersionStats.empty("v", 10)
    scores, outcomes = [], []
    for _ in range(3000):
        y = rng.random() < 0.2
        p = min(0.999, max(0.001, rng.betavariate(3, 6) if y else rng.betavariate(2, 8)))
        stats = stats.add(p, y)
        scores.append(p)
        outcomes.append(y)
    exact = roc_auc(scores, outcomes)
    assert exact is not None
    assert stats.auc() == pytest.approx(exact, abs=0.02)


def test_calibration_bins() -> None:
    stats = VersionStats.empty("v", 10)
    for p, y in [(0.05, False), (0.05, True), (0.55, True), (0.95, True)]:
        stats = stats.add(p, y)
    row = row_of(stats)
    assert (row.examples, row.positives) == (4, 3)
    first = row.calibration[0]
    assert (first.lower, first.upper, first.examples) == (0.0, 0.1, 2)
    assert first.mean_predicted == pytest.approx(0.05)
    assert first.observed_rate == 0.5
    assert row.calibration[9].observed_rate == 1.0
    assert row.calibration[3].mean_predicted is None


def test_binned_auc_without_both_outcomes() -> None:
    assert binned_auc([1, 0], [0, 0]) is None
