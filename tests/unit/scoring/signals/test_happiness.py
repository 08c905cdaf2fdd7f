"""Customer happiness: the walkaway-angry to gushing-promoter continuum."""

from __future__ import annotations

import pytest

from scoring import ScoringConfig
from scoring.decay import EMPTY, Series
from scoring.facts import SupportFacts, Ticket
from scoring.signals import happiness

DAY = 1000


def _series(**counts: list[tuple[int, float]]) -> dict[str, Series]:
    out: dict[str, Series] = {}
    for name, items in counts.items():
        s = EMPTY
        for day, amount in items:
            s = s.add(day, amount)
        out[name] = s
    return out


def _nps(scores: list[int]) -> dict[str, Series]:
    promoters = [(DAY, 1.0) for s in scores if s >= 9]
    detractors = [(DAY, 1.0) for s in scores if s <= 6]
    return _series(
        nps_responses=[(DAY, 1.0) for _ in scores],
        nps_promoters=promoters,
        nps_detractors=detractors,
    )


@pytest.mark.parametrize(
    ("scores", "expected"),
    [([], None), ([10], 1.0), ([0], -1.0), ([8], 0.0), ([10, 0], 0.0), ([9, 9, 7, 3], 0.25)],
)
def test_nps_part(config: ScoringConfig, scores: list[int], expected: float | None) -> None:
    result = happiness.nps_part(_nps(scores), DAY, config)
    assert result == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("scores", "expected"), [([], None), ([5], 1.0), ([1], -1.0), ([3, 4], 0.25)]
)
def test_csat_part(config: ScoringConfig, scores: list[int], expected: float | None) -> None:
    series = _series(
        csat_sum=[(DAY, float(s)) for s in scores], csat_count=[(DAY, 1.0) for s in scores]
    )
    result = happiness.csat_part(series, DAY, config)
    assert result == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("sentiments", "expected"),
    [([], None), ([2.0], 1.0), ([0.0], -1.0), ([1.0, 2.0], 0.5)],  # stored as 0/1/2
)
def test_feedback_part(
    config: ScoringConfig, sentiments: list[float], expected: float | None
) -> None:
    series = _series(
        feedback_sum=[(DAY, s) for s in sentiments], feedback_count=[(DAY, 1.0) for _ in sentiments]
    )
    result = happiness.feedback_part(series, DAY, config)
    assert result == (None if expected is None else pytest.approx(expected))


def _tickets(open: int, resolved: int) -> dict[str, Ticket]:
    statuses = [True] * open + [False] * resolved
    return {f"T{i}": Ticket(float(i), is_open) for i, is_open in enumerate(statuses)}


def test_support_part_unknown_without_tickets(config: ScoringConfig) -> None:
    assert happiness.support_part(SupportFacts(), {}, DAY, config) is None


def test_steady_ticket_flow_is_neutral_and_a_burst_is_negative(config: ScoringConfig) -> None:
    steady = _series(tickets=[(d, 1.0) for d in range(DAY - 400, DAY + 1, 7)])
    burst = _series(tickets=[(d, 1.0) for d in range(DAY - 400, DAY + 1, 7)] + [(DAY, 8.0)])
    calm = SupportFacts(opened=60, resolved=60)
    steady_value = happiness.support_part(calm, steady, DAY, config)
    burst_value = happiness.support_part(calm, burst, DAY, config)
    assert steady_value is not None and burst_value is not None
    assert abs(steady_value) < 0.15
    assert burst_value < steady_value - 0.2


@pytest.mark.parametrize(
    ("extra", "facts"),
    [
        ({"escalations": [(DAY, 1.0)]}, SupportFacts(opened=1, resolved=1)),
        ({"reopenings": [(DAY, 1.0)]}, SupportFacts(opened=1, resolved=1, reopened=1)),
        ({}, SupportFacts(opened=4, resolved=1, tickets=_tickets(open=3, resolved=1))),
    ],
)
def test_escalations_reopenings_and_open_tickets_lower_the_support_part(
    config: ScoringConfig, extra: dict[str, list[tuple[int, float]]], facts: SupportFacts
) -> None:
    base = _series(tickets=[(DAY - 30, 1.0)])
    worse = {**base, **_series(**extra)}
    calm = happiness.support_part(SupportFacts(opened=1, resolved=1), base, DAY, config)
    hurt = happiness.support_part(facts, worse, DAY, config)
    assert calm is not None and hurt is not None and hurt < calm


def test_open_tickets_are_the_tickets_whose_status_is_open() -> None:
    reopened = SupportFacts(opened=3, resolved=3, reopened=1, tickets=_tickets(1, 2))
    assert happiness.open_tickets(reopened) == 1
    unknown = SupportFacts(opened=0, resolved=2, tickets=_tickets(0, 2))
    assert happiness.open_tickets(unknown) == 0
    counts_only = SupportFacts(opened=5, resolved=0)  # event counts do not make tickets open
    assert happiness.open_tickets(counts_only) == 0


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ((None, None, None, None), None),
        ((1.0, None, None, None), 1.0),  # unknown parts share out their weight
        ((1.0, -1.0, None, None), (0.35 - 0.25) / 0.6),
        ((0.0, 0.0, 0.0, 0.0), 0.0),
    ],
)
def test_customer_happiness_is_the_weighted_mean_of_known_parts(
    config: ScoringConfig, parts: tuple[float | None, ...], expected: float | None
) -> None:
    result = happiness.customer_happiness(happiness.HappinessParts(*parts), config)
    assert result == (None if expected is None else pytest.approx(expected))


def test_a_first_ticket_is_no_spike_until_the_account_has_history(config: ScoringConfig) -> None:
    """Pressure compares the ticket rate of the last weeks with the account's own
    baseline; an account first seen days ago has no baseline yet, so its first ticket
    reads as its rate, not as a burst above nothing. After a year with no ticket, the
    same ticket is a change against the baseline."""
    ticket = _series(tickets=[(DAY, 1.0)])
    resolved = SupportFacts(opened=1, resolved=1)
    new = happiness.support_part(resolved, ticket, DAY, config, first_day=DAY - 2)
    old = happiness.support_part(resolved, ticket, DAY, config, first_day=DAY - 365)
    assert new is not None and old is not None
    assert abs(new) < 0.05
    assert old < -0.2


def test_a_young_account_reads_its_steady_flow_as_neutral_and_its_burst_as_negative(
    config: ScoringConfig,
) -> None:
    start = DAY - 20
    weekly = [(d, 1.0) for d in range(start, DAY + 1, 7)]
    calm = SupportFacts(opened=4, resolved=4)
    steady = happiness.support_part(calm, _series(tickets=weekly), DAY, config, first_day=start)
    burst = happiness.support_part(
        calm, _series(tickets=[*weekly, (DAY, 8.0)]), DAY, config, first_day=start
    )
    assert steady is not None and burst is not None
    assert abs(steady) < 0.15
    # three weeks of history weigh nearly alike at both half-lives, so a burst moves the
    # baseline too: less than on a year of history, still clearly negative
    assert burst < -0.1 and burst < steady - 0.15
