"""Usage signals: breadth, depth, velocity, adoption."""

from __future__ import annotations

import pytest

from scoring import ChurnModel, ScoringConfig
from scoring.decay import EMPTY, Series
from scoring.facts import UsageFacts
from scoring.signals import usage
from tests.unit.scoring.factory import Events, at, run

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
    """`daily[i]` on day end - len(daily) + 1 + i: the last amount falls on `end`."""
    s = EMPTY
    for i, amount in enumerate(daily):
        s = s.add(end - len(daily) + 1 + i, amount)
    return s


def _rates(daily: list[float], config: ScoringConfig, end: int = DAY) -> tuple[float, float] | None:
    """Rates on day `end` of an account whose first day is the first of `daily`."""
    series = _steady(daily, end) if daily else None
    return usage.usage_rates(series, end, end - len(daily) + 1, config)


@pytest.mark.parametrize(
    ("daily", "check"),
    [
        ([], lambda v: v is None),
        ([5.0] * 120, lambda v: abs(v) < 0.01),  # steady: zero
        ([1.0] * 100 + [10.0] * 20, lambda v: v > 0.3),  # accelerating
        ([10.0] * 100 + [0.0] * 20, lambda v: v < -0.5),  # stopping
        ([10.0] * 100 + [0.0] * 200, lambda v: v < -0.95),  # long stopped: towards -1
    ],
)
def test_velocity_compares_the_short_and_long_rates(
    config: ScoringConfig, daily: list[float], check: object
) -> None:
    value = usage.velocity(_rates(daily, config), len(daily) - 1, config)
    assert callable(check) and check(value)
    assert value is None or -1.0 <= value <= 1.0


@pytest.mark.parametrize("days", [15, 16, 20, 28, 29, 45, 60, 90, 200])
def test_steady_usage_from_the_first_day_reads_steady_at_any_age(
    config: ScoringConfig, days: int
) -> None:
    """Both rates are averages over the days the account has existed (decay-weighted), so
    an account using the product the same every day since its first day has velocity 0
    whatever its age: its youth is not read as acceleration."""
    value = usage.velocity(_rates([5.0] * days, config), days - 1, config)
    assert value == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("age", [0, 1, 7, 13])
def test_velocity_is_unknown_while_the_account_is_too_young_to_compare_two_windows(
    config: ScoringConfig, age: int
) -> None:
    assert config.usage.velocity_warmup_days == 14
    rates = _rates([5.0] * (age + 1), config)
    assert usage.velocity(rates, age, config) is None


def test_the_open_day_does_not_move_the_rates(config: ScoringConfig) -> None:
    """Rates count the completed days only: the first events of today (a day not over
    yet) neither lift the short rate nor drag it down while the day fills up."""
    history = [5.0] * 40
    without = _rates([*history, 0.0], config)
    partial = _rates([*history, 1.0], config)
    full = _rates([*history, 50.0], config)
    assert without == partial == full
    assert without is not None and without[0] == pytest.approx(5.0)


def test_rates_are_per_day_usage(config: ScoringConfig) -> None:
    rates = _rates([2.0] * 10 + [6.0] * 30, config)
    assert rates is not None
    short, long = rates
    assert 2.0 < long < short < 6.0


@pytest.mark.parametrize(
    ("total_per_day", "active", "expected"),
    [(5.0, 1.0, 0.5), (15.0, 1.0, 0.75), (20.0, 4.0, 0.5), (5.0, 4.0, 0.2), (0.0, 3.0, 0.0)],
)
def test_feature_depth_is_usage_per_active_user_against_the_norm(
    config: ScoringConfig, total_per_day: float, active: float, expected: float
) -> None:
    """r / (r + norm) with r the usage per active user per day and the default norm 5."""
    rates = _rates([total_per_day] * 400, config)
    assert usage.feature_depth(rates, active, config) == pytest.approx(expected, abs=0.02)


def test_feature_depth_unknown_without_usage(config: ScoringConfig) -> None:
    assert usage.usage_rates(None, DAY, DAY - 10, config) is None
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


def test_a_new_account_with_steady_usage_is_not_read_as_accelerating(
    config: ScoringConfig, model: ChurnModel
) -> None:
    """Through `process`: the same usage every day from the subscription's first day is
    velocity unknown for the warm-up, then about 0 on every later day."""
    events = Events("acct-steady")
    events.add("subscription_started", 0, plan="growth", mrr=500.0, seats=5)
    for day in range(40):
        for user in range(3):
            events.add("feature_used", day + 0.5, user_id=f"u{user}", feature="f1", quantity=4)
    _, steps = run(events, config, model)
    by_day: dict[int, float | None] = {}
    for step in steps:
        assert step.score is not None
        by_day[int((step.score.ts - at(0)).total_seconds() // 86_400)] = step.score.signals[
            "velocity"
        ]
    assert all(by_day[d] is None for d in range(14))
    assert all((v := by_day[d]) is not None and abs(v) < 0.01 for d in range(14, 40))
