"""Goal clarity, priority, milestone completion and the six fits."""

from __future__ import annotations

import pytest

from scoring import ScoringConfig
from scoring.decay import DAY as SECONDS
from scoring.decay import EMPTY
from scoring.facts import Planned, Stamped, SuccessFacts
from scoring.signals import success

DAY = 1000


def _planned(*items: tuple[str, int, bool]) -> dict[str, Planned]:
    return {key: Planned(0.0, i, due * SECONDS, exp) for i, (key, due, exp) in enumerate(items)}


@pytest.mark.parametrize(
    ("goals", "planned", "expected"),
    [
        (0, 0, None),
        (1, 0, 0.6),
        (0, 3, 0.4),
        (1, 3, 1.0),
        (2, 1, 0.6 + 0.4 / 3),
    ],
)
def test_goal_clarity(
    config: ScoringConfig, goals: int, planned: int, expected: float | None
) -> None:
    facts = SuccessFacts(
        goals={f"g{i}": 1.0 for i in range(goals)},
        planned=_planned(*[(f"m{i}", DAY + 10, False) for i in range(planned)]),
    )
    result = success.goal_clarity(facts, config)
    assert result == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("first_value_day", "now_day", "expected"),
    [
        (None, 10, None),  # still inside the target: unknown
        (5, 10, 1.0),  # first value in 5 days
        (60, 70, 0.5),  # in 60 days against a 30-day target
        (None, 90, 30 / 90),  # still waiting after 90 days
    ],
)
def test_time_to_value_score(
    config: ScoringConfig, first_value_day: int | None, now_day: int, expected: float | None
) -> None:
    first = None if first_value_day is None else first_value_day * SECONDS
    facts = SuccessFacts(first_value_ts=first, planned=_planned(("m", 20, False)))
    result = success.time_to_value_score(facts, 0.0, now_day, config)
    assert result == (None if expected is None else pytest.approx(expected))
    assert success.time_to_value_score(facts, None, now_day, config) is None


@pytest.mark.parametrize("now_day", [10, 31, 90, 400])
def test_no_success_plan_is_no_wait_for_first_value(config: ScoringConfig, now_day: int) -> None:
    """Without a milestone planned or completed the service does not know what first value
    is for the account: onboarding pace is unknown, not worse with every day of tenure
    (which would make priority a measure of account age)."""
    assert success.time_to_value_score(SuccessFacts(), 0.0, now_day, config) is None


@pytest.mark.parametrize(
    ("planned", "completed", "expected"),
    [
        ((), (), None),
        ((("a", DAY + 5, False),), (), 0.0),  # planned, not due: no progress, no penalty
        ((("a", DAY + 5, False),), ("a",), 1.0),
        ((("a", DAY - 5, False), ("b", DAY + 5, False)), (), 0.0),  # overdue share penalised
        ((("a", DAY - 5, False), ("b", DAY + 5, False)), ("b",), 0.25),
        ((), ("x",), 1.0),  # completed without a plan counts
    ],
)
def test_milestone_completion(
    config: ScoringConfig,
    planned: tuple[tuple[str, int, bool], ...],
    completed: tuple[str, ...],
    expected: float | None,
) -> None:
    facts = SuccessFacts(planned=_planned(*planned), completed={k: 1.0 for k in completed})
    result = success.milestone_completion(facts, None, DAY, config)
    assert result == (None if expected is None else pytest.approx(expected))


def test_milestone_completion_blends_time_to_value(config: ScoringConfig) -> None:
    facts = SuccessFacts(completed={"a": 1.0})
    assert success.milestone_completion(facts, 0.5, DAY, config) == pytest.approx(0.75 + 0.25 * 0.5)


def test_overdue_means_past_the_due_day() -> None:
    facts = SuccessFacts(planned=_planned(("a", DAY - 1, False), ("b", DAY, False)))
    assert success.overdue_milestones(facts, DAY) == 1


@pytest.mark.parametrize(
    ("sponsor", "meetings", "ttv", "velocity", "expected"),
    [
        (None, None, None, None, None),
        (None, None, None, 0.0, 0.5),
        (1.0, 1.0, 1.0, 1.0, 1.0),
        (0.0, None, None, -1.0, 0.0),
        (1.0, None, None, -1.0, 0.35 / 0.55),
    ],
)
def test_priority_is_the_weighted_mean_of_known_parts(
    config: ScoringConfig,
    sponsor: float | None,
    meetings: float | None,
    ttv: float | None,
    velocity: float | None,
    expected: float | None,
) -> None:
    result = success.priority(sponsor, meetings, ttv, velocity, config)
    assert result == (None if expected is None else pytest.approx(expected))


def test_engagement_parts(config: ScoringConfig) -> None:
    assert success.engagement_parts({}, DAY, config) == (None, None)
    sponsor = EMPTY.add(DAY, 1.0)
    meetings = EMPTY
    for d in range(DAY - 120, DAY + 1, 15):  # two meetings a month
        meetings = meetings.add(d, 1.0)
    s, m = success.engagement_parts({"sponsor": sponsor, "meetings": meetings}, DAY, config)
    assert s == pytest.approx(1 - 2.718281828**-1, rel=1e-6)
    assert m == pytest.approx(1.0, abs=0.1)


def _fits(**verdicts: bool) -> SuccessFacts:
    return SuccessFacts(fits={k: Stamped(0.0, i, v) for i, (k, v) in enumerate(verdicts.items())})


ALL = ("technical", "functional", "resource", "competence", "experience", "cultural")


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        ({}, None),
        (dict.fromkeys(ALL, True), True),
        ({**dict.fromkeys(ALL, True), "cultural": False}, False),
        ({"technical": True, "functional": True}, None),  # unknowns, none failing
        ({"technical": False}, False),  # one failure decides even with unknowns
    ],
)
def test_success_potential_is_binary_with_unknowns(
    verdicts: dict[str, bool], expected: bool | None
) -> None:
    fits = success.fits(_fits(**verdicts))
    assert set(fits) == set(ALL)
    assert all(fits[k] is None for k in ALL if k not in verdicts)
    assert success.success_potential(fits) is expected
