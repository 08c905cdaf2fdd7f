"""Health 0-100: weights, coverage, drivers that add up, history and trends."""

from __future__ import annotations

import pytest

from scoring.health import NEUTRAL_HEALTH, health_score, record_health, top_by_effect, trend
from scoring.names import SIGNALS

W = (0.1, 0.1, 0.1, 0.15, 0.1, 0.2, 0.1, 0.05, 0.1, 0.0)  # in SIGNALS order


def _values(**known: float) -> tuple[float | None, ...]:
    return tuple(known.get(s) for s in SIGNALS)


@pytest.mark.parametrize(
    ("known", "health", "coverage"),
    [
        ({}, NEUTRAL_HEALTH, 0.0),  # nothing known: neutral, coverage 0
        ({"adoption": 1.0}, 100.0, 0.15),  # unknown weight is shared out
        ({"adoption": 0.0}, 0.0, 0.15),
        ({"adoption": 1.0, "customer_happiness": -1.0}, 100 * 0.15 / 0.35, 0.35),
        ({"velocity": 0.0}, 50.0, 0.1),  # a signed signal at 0 is neutral
        (dict.fromkeys(SIGNALS, 0.5), None, 1.0),
    ],
)
def test_health_and_coverage(
    known: dict[str, float], health: float | None, coverage: float
) -> None:
    result = health_score(_values(**known), W)
    if health is not None:
        assert result.health == pytest.approx(health)
    assert result.coverage == pytest.approx(coverage)


def test_driver_effects_add_up_to_health_minus_fifty() -> None:
    values = _values(adoption=0.8, velocity=-0.4, customer_happiness=0.6, goal_clarity=0.1)
    result = health_score(values, W)
    contributions = result.contributions()
    assert sum(c.effect for c in contributions) == pytest.approx(result.health - 50.0)
    assert sum(c.weight for c in contributions) == pytest.approx(1.0)
    top = top_by_effect(contributions, 2)
    assert [c.signal for c in top] == ["customer_happiness", "adoption"]


def test_zero_weight_signals_do_not_count() -> None:
    weights = tuple(1.0 if s == "priority" else 0.0 for s in SIGNALS)
    result = health_score(_values(feature_breadth=1.0, priority=0.25), weights)
    assert result.health == pytest.approx(25.0)
    assert [c.signal for c in result.contributions()] == ["priority"]


def test_history_keeps_one_point_per_day_and_bounded() -> None:
    start, points = record_health(0, (), 100, 50.0, 31)
    start, points = record_health(start, points, 100, 55.0, 31)  # same day: replaced
    assert (start, points) == (100, (55.0,))
    start, points = record_health(start, points, 103, 60.0, 31)
    assert points == (55.0, None, None, 60.0)
    for day in range(104, 200):
        start, points = record_health(start, points, day, float(day % 100), 31)
    assert len(points) == 31 and start == 199 - 30
    start, points = record_health(start, points, 1000, 1.0, 31)  # after a long silence
    assert (start, points) == (1000, (1.0,))


def test_trends_compare_with_the_point_n_days_ago() -> None:
    start, points = 100, (40.0, None, 45.0, None, None, None, None, 50.0, 52.0)
    assert trend(start, points, 107, 50.0, 7) == pytest.approx(10.0)
    # no point 7 days before (day 101): the latest point before it (day 100) stands in
    assert trend(start, points, 108, 52.0, 7) == pytest.approx(12.0)
    assert trend(start, points, 108, 52.0, 30) is None  # the history starts at day 100
    assert trend(start, points, 107, 50.0, 7) == pytest.approx(10.0)
