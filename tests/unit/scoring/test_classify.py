"""Classifications and their hysteresis."""

from __future__ import annotations

import pytest

from schemas.events import Tier
from schemas.outputs import Band, HappinessBand, ReadinessQuadrant, SuccessQuadrant
from scoring import classify


@pytest.mark.parametrize(
    ("value", "previous", "expected"),
    [
        (0.55, None, 1),  # no previous class: the plain threshold
        (0.45, None, 0),
        (0.53, 0, 0),  # inside the band above the border: stays low
        (0.56, 0, 1),  # beyond threshold + band: moves up
        (0.47, 1, 1),  # inside the band below the border: stays high
        (0.44, 1, 0),  # beyond threshold - band: moves down
    ],
)
def test_one_threshold_with_a_band(value: float, previous: int | None, expected: int) -> None:
    assert classify.banded_level(value, (0.5,), (0.05,), previous) == expected


def test_several_thresholds_can_be_crossed_at_once() -> None:
    assert classify.banded_level(95.0, (40.0, 70.0), (3.0, 3.0), 0) == 2
    assert classify.banded_level(10.0, (40.0, 70.0), (3.0, 3.0), 2) == 0


def test_a_value_oscillating_inside_the_band_never_flips() -> None:
    level = classify.banded_level(0.6, (0.5,), (0.05,), None)
    for value in [0.49, 0.52, 0.46, 0.54, 0.451, 0.5]:
        level = classify.banded_level(value, (0.5,), (0.05,), level)
        assert level == 1
    level = classify.banded_level(0.44, (0.5,), (0.05,), level)
    assert level == 0
    for value in [0.51, 0.54, 0.5, 0.549]:
        level = classify.banded_level(value, (0.5,), (0.05,), level)
        assert level == 0


@pytest.mark.parametrize(
    ("clarity", "priority", "expected"),
    [
        (0.9, 0.9, ReadinessQuadrant.ACHIEVER),
        (0.1, 0.9, ReadinessQuadrant.SOLDIER),
        (0.9, 0.1, ReadinessQuadrant.DREAMER),
        (0.1, 0.1, ReadinessQuadrant.WANDERER),
        (None, 0.9, None),
        (0.9, None, None),
    ],
)
def test_readiness_quadrants(
    clarity: float | None, priority: float | None, expected: ReadinessQuadrant | None
) -> None:
    assert classify.readiness_quadrant(clarity, priority, (0.5, 0.5), 0.05, None) == expected


@pytest.mark.parametrize(
    ("customer", "company", "expected"),
    [
        (0.5, 0.5, SuccessQuadrant.CUSTOMER_SUCCESS),
        (-0.5, 0.5, SuccessQuadrant.FLIGHT_RISK),  # profitable but unhappy
        (0.5, -0.5, SuccessQuadrant.UNPROFITABLE),  # happy but costing us
        (-0.5, -0.5, SuccessQuadrant.REASSESS),
        (None, 0.5, None),
    ],
)
def test_success_quadrants(
    customer: float | None, company: float | None, expected: SuccessQuadrant | None
) -> None:
    assert classify.success_quadrant(customer, company, (0.0, 0.0), 0.1, None) == expected


@pytest.mark.parametrize(
    ("customer", "previous", "expected"),
    [
        (-0.05, SuccessQuadrant.CUSTOMER_SUCCESS, SuccessQuadrant.CUSTOMER_SUCCESS),
        (-0.15, SuccessQuadrant.CUSTOMER_SUCCESS, SuccessQuadrant.FLIGHT_RISK),
        (0.05, SuccessQuadrant.FLIGHT_RISK, SuccessQuadrant.FLIGHT_RISK),
        (0.15, SuccessQuadrant.FLIGHT_RISK, SuccessQuadrant.CUSTOMER_SUCCESS),
    ],
)
def test_success_quadrant_hysteresis(
    customer: float, previous: SuccessQuadrant, expected: SuccessQuadrant
) -> None:
    assert classify.success_quadrant(customer, 0.5, (0.0, 0.0), 0.1, previous.value) == expected


@pytest.mark.parametrize(
    ("clarity", "previous", "expected"),
    [
        (0.47, ReadinessQuadrant.ACHIEVER, ReadinessQuadrant.ACHIEVER),
        (0.44, ReadinessQuadrant.ACHIEVER, ReadinessQuadrant.SOLDIER),
        (0.53, ReadinessQuadrant.SOLDIER, ReadinessQuadrant.SOLDIER),
        (0.56, ReadinessQuadrant.SOLDIER, ReadinessQuadrant.ACHIEVER),
    ],
)
def test_readiness_quadrant_hysteresis(
    clarity: float, previous: ReadinessQuadrant, expected: ReadinessQuadrant
) -> None:
    assert classify.readiness_quadrant(clarity, 0.9, (0.5, 0.5), 0.05, previous.value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (-0.9, HappinessBand.WALKAWAY_ANGRY),
        (-0.6, HappinessBand.UNHAPPY),
        (-0.3, HappinessBand.UNHAPPY),
        (0.0, HappinessBand.NEUTRAL),
        (0.3, HappinessBand.SATISFIED),
        (0.6, HappinessBand.GUSHING_PROMOTER),
        (1.0, HappinessBand.GUSHING_PROMOTER),
    ],
)
def test_happiness_bands(value: float | None, expected: HappinessBand | None) -> None:
    assert classify.happiness_band(value, (-0.6, -0.2, 0.2, 0.6)) == expected


@pytest.mark.parametrize(
    ("health", "previous", "expected"),
    [
        (80.0, None, Band.GREEN),
        (50.0, None, Band.YELLOW),
        (30.0, None, Band.RED),
        (68.0, "green", Band.GREEN),  # inside the band
        (66.0, "green", Band.YELLOW),
        (72.0, "yellow", Band.YELLOW),
        (74.0, "yellow", Band.GREEN),
        (38.0, "yellow", Band.YELLOW),
        (36.0, "yellow", Band.RED),
        (42.0, "red", Band.RED),
        (44.0, "red", Band.YELLOW),
    ],
)
def test_health_band_with_hysteresis(health: float, previous: str | None, expected: Band) -> None:
    assert classify.health_band(health, 40.0, 70.0, 3.0, previous) == expected


@pytest.mark.parametrize(
    ("ltv", "previous", "override", "expected"),
    [
        (150_000.0, None, None, Tier.MUST_HAVE),
        (50_000.0, None, None, Tier.WANT_TO_HAVE),
        (5_000.0, None, None, Tier.NICE_TO_HAVE),
        (95_000.0, "must_have", None, Tier.MUST_HAVE),  # within 10 % below the threshold
        (105_000.0, "want_to_have", None, Tier.WANT_TO_HAVE),  # within 10 % above
        (5_000.0, None, "must_have", Tier.MUST_HAVE),  # importance_set wins
    ],
)
def test_importance_tier(
    ltv: float, previous: str | None, override: str | None, expected: Tier
) -> None:
    assert classify.importance_tier(ltv, 20_000, 100_000, 0.1, previous, override) == expected


def test_every_tier_has_an_engagement_approach() -> None:
    assert {t.value for t in classify.ENGAGEMENT} == {t.value for t in Tier}
