"""Classifications: quadrants, bands, importance tier, opportunities.

Hysteresis: a class changes only when its value crosses a threshold by
more than the band (up: value >= threshold + band, down: value <
threshold - band); inside the band the previous class stays. So a value
hovering at a border does not flap.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.events import Tier
from schemas.outputs import Band, Engagement, HappinessBand, ReadinessQuadrant, SuccessQuadrant


def banded_level(
    value: float, thresholds: Sequence[float], bands: Sequence[float], previous: int | None
) -> int:
    """The level (0 = below every threshold) of `value`, sticky within `bands` of each threshold.

    `up` counts thresholds cleared with the band added, `down` with it
    subtracted, so up <= down; the previous level is kept when it lies
    between them.
    """
    if previous is None:
        return sum(1 for t in thresholds if value >= t)
    up = down = 0
    for t, b in zip(thresholds, bands, strict=True):
        if value >= t + b:
            up += 1
        if value >= t - b:
            down += 1
    if previous < up:
        return up
    if previous > down:
        return down
    return previous


def is_high(value: float, threshold: float, band: float, previous: bool | None) -> bool:
    """One axis of a quadrant, with hysteresis (banded_level with a single threshold)."""
    if previous is None:
        return value >= threshold
    return value >= threshold - band if previous else value >= threshold + band


_READINESS = {
    (True, True): ReadinessQuadrant.ACHIEVER,
    (False, True): ReadinessQuadrant.SOLDIER,
    (True, False): ReadinessQuadrant.DREAMER,
    (False, False): ReadinessQuadrant.WANDERER,
}
_SUCCESS = {
    (True, True): SuccessQuadrant.CUSTOMER_SUCCESS,
    (False, True): SuccessQuadrant.FLIGHT_RISK,
    (True, False): SuccessQuadrant.UNPROFITABLE,
    (False, False): SuccessQuadrant.REASSESS,
}


_READINESS_AXES = {q.value: axes for axes, q in _READINESS.items()}
_SUCCESS_AXES = {q.value: axes for axes, q in _SUCCESS.items()}
_NO_AXES: tuple[bool | None, bool | None] = (None, None)


def evidence_axis(value: float | None, evidence: bool, observed: bool) -> float | None:
    """One readiness axis (seed 000): its value when there is evidence for it; known low (0.0)
    once the observation window has passed without any; unknown (None) before that."""
    if evidence and value is not None:
        return value
    return 0.0 if observed else None


def readiness_quadrant(
    clarity: float | None,
    priority: float | None,
    thresholds: tuple[float, float],
    band: float,
    previous: str | None,
) -> ReadinessQuadrant | None:
    """Seed 000: goal clarity (x) by priority (y)."""
    if clarity is None or priority is None:
        return None
    px, py = _READINESS_AXES.get(previous or "", _NO_AXES)
    x = is_high(clarity, thresholds[0], band, px)
    y = is_high(priority, thresholds[1], band, py)
    return _READINESS[(x, y)]


def success_quadrant(
    customer: float | None,
    company: float | None,
    thresholds: tuple[float, float],
    band: float,
    previous: str | None,
    cancelled: bool = False,
) -> SuccessQuadrant | None:
    """Seed 002: customer happiness (x) by company happiness (y). None for a cancelled
    account: it is churned, in no quadrant (so out of work-to-keep) until it subscribes
    again, when it is classified afresh."""
    if cancelled or customer is None or company is None:
        return None
    px, py = _SUCCESS_AXES.get(previous or "", _NO_AXES)
    x = is_high(customer, thresholds[0], band, px)
    y = is_high(company, thresholds[1], band, py)
    return _SUCCESS[(x, y)]


_HAPPINESS_BANDS = (
    HappinessBand.WALKAWAY_ANGRY,
    HappinessBand.UNHAPPY,
    HappinessBand.NEUTRAL,
    HappinessBand.SATISFIED,
    HappinessBand.GUSHING_PROMOTER,
)


def happiness_band(happiness: float | None, thresholds: Sequence[float]) -> HappinessBand | None:
    if happiness is None:
        return None
    return _HAPPINESS_BANDS[sum(1 for t in thresholds if happiness >= t)]


_HEALTH_BANDS = (Band.RED, Band.YELLOW, Band.GREEN)
_HEALTH_LEVEL = {b.value: i for i, b in enumerate(_HEALTH_BANDS)}


def health_band(
    health: float, red_below: float, green_at: float, band: float, previous: str | None
) -> Band:
    prev = None if previous is None else _HEALTH_LEVEL[previous]
    return _HEALTH_BANDS[banded_level(health, (red_below, green_at), (band, band), prev)]


_TIERS = (Tier.NICE_TO_HAVE, Tier.WANT_TO_HAVE, Tier.MUST_HAVE)
_TIER_LEVEL = {t.value: i for i, t in enumerate(_TIERS)}
ENGAGEMENT = {
    Tier.MUST_HAVE: Engagement.ONE_TO_ONE,
    Tier.WANT_TO_HAVE: Engagement.ONE_TO_SOME,
    Tier.NICE_TO_HAVE: Engagement.ONE_TO_MANY,
}
"""Seed 003: how the team engages each tier."""


def importance_tier(
    value: float,
    want_at: float,
    must_at: float,
    ratio: float,
    previous: str | None,
    override: str | None,
) -> Tier:
    """Seed 003: the tier from the value at stake (`scoring.evaluate.value_at_stake`), sticky
    within `ratio` of each threshold, or the explicit override."""
    if override is not None:
        return Tier(override)
    prev = None if previous is None else _TIER_LEVEL[previous]
    bands = (want_at * ratio, must_at * ratio)
    return _TIERS[banded_level(value, (want_at, must_at), bands, prev)]
