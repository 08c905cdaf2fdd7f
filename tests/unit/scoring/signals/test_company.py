"""Company happiness: margin over cost to serve, and payment health."""

from __future__ import annotations

import pytest

from scoring import ScoringConfig
from scoring.decay import DAY as SECONDS
from scoring.decay import EMPTY, Series
from scoring.facts import BillingFacts, Money, Terms
from scoring.signals import company

DAY = 1000
NOW = DAY * SECONDS


def _terms(mrr: float) -> Terms:
    return Terms(NOW - 10 * SECONDS, 1, "growth", mrr, 10, None)


def _steady(name: str, per_day: float) -> dict[str, Series]:
    s = EMPTY
    for day in range(DAY - 400, DAY + 1):
        s = s.add(day, per_day)
    return {name: s}


@pytest.mark.parametrize(
    ("mrr", "series", "expected_cost", "expected_margin"),
    [
        (1000.0, {}, 0.0, 1.0),
        # 60 support minutes a day ~ 30.44 hours a month at 60/hour
        (1000.0, _steady("handling_minutes", 60.0), 30.44 * 60, (1000 - 1826.4) / 1826.4),
        # 30 CSM minutes a day ~ 15.22 hours a month at 120/hour
        (4000.0, _steady("meeting_minutes", 30.0), 15.22 * 120, (4000 - 1826.4) / 4000),
        # credits of 10 a day ~ 304.4 a month
        (1000.0, _steady("credits", 10.0), 304.4, (1000 - 304.4) / 1000),
        (0.0, {}, 0.0, 0.0),  # a free plan that costs nothing is neutral
    ],
)
def test_margin_over_cost_to_serve(
    config: ScoringConfig,
    mrr: float,
    series: dict[str, Series],
    expected_cost: float,
    expected_margin: float,
) -> None:
    parts = company.company_parts(BillingFacts(terms=_terms(mrr)), series, DAY, config)
    assert parts.cost == pytest.approx(expected_cost, rel=0.02)
    assert parts.margin == pytest.approx(expected_margin, abs=0.02)


def test_discounts_cost_while_they_run(config: ScoringConfig) -> None:
    discount = Money((DAY - 40) * SECONDS, 7, 200.0, 2)  # 2 months from 40 days ago
    billing = BillingFacts(terms=_terms(1000.0), discounts={"d": discount})
    assert company.active_discounts(billing, DAY) == 200.0
    assert company.active_discounts(billing, DAY + 30) == 0.0


@pytest.mark.parametrize(
    ("failed", "paid", "seen", "expected"),
    [
        ({}, {}, 0, None),  # no invoices yet: unknown
        ({}, {"i1": 1.0}, 1, 1.0),
        ({"i1": Money(10.0, 1, 99.0, 0)}, {}, 1, 0.25),
        ({"i1": Money(10.0, 1, 99.0, 0)}, {"i1": 20.0}, 2, 1.0),  # paid after failing
        ({"i1": Money(30.0, 1, 99.0, 0)}, {"i1": 20.0}, 2, 0.25),  # failed again after
        (
            {"a": Money(1.0, 1, 1.0, 0), "b": Money(2.0, 2, 1.0, 0), "c": Money(3.0, 3, 1.0, 0)},
            {},
            3,
            -1.0,
        ),
    ],
)
def test_payment_health(
    config: ScoringConfig,
    failed: dict[str, Money],
    paid: dict[str, float],
    seen: int,
    expected: float | None,
) -> None:
    billing = BillingFacts(failed=failed, paid=paid, invoices_seen=seen)
    assert company.company_parts(billing, {}, DAY, config).payment == expected


@pytest.mark.parametrize(
    ("margin", "payment", "expected"),
    [(None, None, None), (0.5, None, 0.5), (None, -1.0, -1.0), (1.0, -1.0, 0.4)],
)
def test_company_happiness_weights_known_parts(
    config: ScoringConfig, margin: float | None, payment: float | None, expected: float | None
) -> None:
    parts = company.CompanyParts(margin, payment, 0.0, 0.0)
    result = company.company_happiness(parts, config)
    assert result == (None if expected is None else pytest.approx(expected))


def _with_term_end(days_ahead: float | None) -> BillingFacts:
    end = None if days_ahead is None else NOW + days_ahead * SECONDS
    return BillingFacts(terms=Terms(NOW - 10 * SECONDS, 1, "growth", 1000.0, 10, end))


@pytest.mark.parametrize(
    ("days_ahead", "expected"),
    [
        (365.0, 1.0),  # an annual term early in its year covers the whole horizon
        (90.0, 1.0),
        (45.0, 0.5),  # half of the next 90 days
        (30.0, 1 / 3),  # a monthly plan just renewed
        (1.0, 1 / 90),
        (0.0, 0.0),  # renews today: free to leave
        (-5.0, 0.0),  # the term ended and no new one was sent: nothing committed
    ],
)
def test_commitment_is_the_share_of_the_horizon_the_term_covers(
    config: ScoringConfig, days_ahead: float, expected: float
) -> None:
    assert config.windows.commitment_days == 90
    value = company.commitment(_with_term_end(days_ahead), DAY, config)
    assert value == pytest.approx(expected)


def test_commitment_is_unknown_without_a_term_end(config: ScoringConfig) -> None:
    assert company.commitment(BillingFacts(), DAY, config) is None
    assert company.commitment(_with_term_end(None), DAY, config) is None


def test_commitment_counts_whole_days(config: ScoringConfig) -> None:
    """Day resolution like every signal: a term ending later today is 0 days ahead."""
    late_today = company.commitment(_with_term_end(0.9), DAY, config)
    assert late_today == 0.0
