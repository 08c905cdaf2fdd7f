"""Usage signals: breadth, depth, velocity, adoption."""

from __future__ import annotations

import pytest

from scoring import ScoringConfig
from scoring.decay import EMPTY, Series
from scoring.signals import usage
from scoring.state import UsageFacts

DAY = 1000


@pytest.mark.parametrize(
    ("features", "plan", "expected"),
    [
        ({}, "growth", None),  # no usage data: unknown, not zero
        ({"a": DAY}, "growth", 1 / 12),
        ({"a": DAY, "b": DAY - 29}, "growth", 2 / 12),  # 29 days ago is inside the 30-day window
        ({"a": DAY, "b": DAY - 30}, "growth", 1 / 12),  # 30 days ago is not
        ({"a": DAY - 40}, "growth", 0.0),  # stopped using everything: known zero
        ({f"f{i}": DAY for i in range(9)}, "starter", 1.0),  # capped at the plan's 6
        ({"a": DAY}, None, 1 / 20),  # no plan: the catalog
        ({"a": DAY}, "unlisted-plan", 1 / 20),
    ],
)
def test_feature_breadth(
    config: ScoringConfig, features: dict[str, int], plan: str | None, expected: float | None
) -> None:
    result = usage.feature_breadth(UsageFacts(features=features), plan, DAY, config)
    assert result == (None if expected is None else pytest.approx(expected))


def _steady(daily: list[float], end: int = DAY) -> Series:
    s = EMPTY
    for i, amount in enumerate(daily):
        s = s.add(end - len(daily) + 1 + i, amount)
    return s


@pytest.mark.parametrize(
    ("daily", "check"),
    [
        ([], lambda v: v is None),
        ([5.0] * 120, lambda v: abs(v) < 0.05),  # steady: about zero
        ([1.0] * 100 + [10.0] * 20, lambda v: v > 0.3),  # accelerating
        ([10.0] * 100 + [0.0] * 20, lambda v: v < -0.5),  # stopping
        ([10.0] * 100 + [0.0] * 200, lambda v: v < -0.95),  # long stopped: towards -1
    ],
)
def test_velocity_compares_the_short_and_long_rates(
    config: ScoringConfig, daily: list[float], check: object
) -> None:
    value = usage.velocity(usage.usage_rates(_steady(daily) if daily else None, DAY, config))
    assert callable(check) and check(value)
    assert value is None or -1.0 <= value <= 1.0


@pytest.mark.parametrize(
    ("total_per_day", "active", "expected"),
    [(5.0, 1.0, 0.5), (15.0, 1.0, 0.75), (20.0, 4.0, 0.5), (5.0, 4.0, 0.2), (0.0, 3.0, 0.0)],
)
def test_feature_depth_is_usage_per_active_user_against_the_norm(
    config: ScoringConfig, total_per_day: float, active: float, expected: float
) -> None:
    """r / (r + norm) with r the usage per active user per day and the default norm 5."""
    rates = usage.usage_rates(_steady([total_per_day] * 400), DAY, config)
    assert usage.feature_depth(rates, active, config) == pytest.approx(expected, abs=0.02)


def test_feature_depth_unknown_without_usage(config: ScoringConfig) -> None:
    assert usage.usage_rates(None, DAY, config) is None
    assert usage.feature_depth(None, 3.0, config) is None


@pytest.mark.parametrize(
    ("users", "seats", "active", "expected"),
    [
        ({}, 10, 0.0, None),  # no usage data
        ({1: DAY}, None, 1.0, None),  # no subscription: seats unknown
        ({1: DAY}, 0, 1.0, None),
        ({1: DAY, 2: DAY}, 10, 2.0, 0.2),
        ({1: DAY}, 1, 3.0, 1.0),  # capped at 1
    ],
)
def test_adoption_is_active_users_over_seats(
    users: dict[int, int], seats: int | None, active: float, expected: float | None
) -> None:
    result = usage.adoption(UsageFacts(users=users), active, seats)
    assert result == (None if expected is None else pytest.approx(expected))


def test_active_users_counts_only_the_window(config: ScoringConfig) -> None:
    facts = UsageFacts(users={1: DAY, 2: DAY - 29, 3: DAY - 31})
    assert usage.active_users(facts, DAY, config) == pytest.approx(2.0, abs=0.05)
