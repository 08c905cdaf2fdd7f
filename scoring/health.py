"""Health 0-100: the weighted known signals of the account's scorecard.

Each signal is mapped onto 0..1 (signed signals: (v + 1) / 2). With w_i the
scorecard weights and K the known signals:

    health   = 100 * sum_K(w_i * u_i) / sum_K(w_i)       (50 when nothing is known)
    coverage = sum_K(w_i) / sum_all(w_i)
    effect_i = 100 * w_i / sum_K(w) * (u_i - 0.5)        points vs the neutral 50

so the effects of the drivers add up to health - 50.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from scoring.names import SIGNALS, SIGNED_SIGNALS

NEUTRAL_HEALTH = 50.0


class Contribution(NamedTuple):
    signal: str
    value: float
    weight: float
    """Effective weight: the scorecard weight renormalised over the known signals."""
    effect: float


class HealthResult(NamedTuple):
    health: float
    coverage: float
    known: tuple[tuple[str, float, float, float], ...]
    """(signal, value, scorecard weight, value on 0..1) of each known, weighted signal."""
    known_weight: float

    def contributions(self) -> tuple[Contribution, ...]:
        """Per known signal: effective weight and effect in points vs the neutral 50."""
        total = self.known_weight
        return tuple(
            Contribution(signal, value, weight / total, 100.0 * weight / total * (unit - 0.5))
            for signal, value, weight, unit in self.known
        )


_SIGNED = tuple(s in SIGNED_SIGNALS for s in SIGNALS)


def health_score(values: Sequence[float | None], weights: Sequence[float]) -> HealthResult:
    """Health and coverage of signal values (in SIGNALS order) under scorecard weights."""
    known = []
    known_weight = weighted = 0.0
    for signal, value, weight, signed in zip(SIGNALS, values, weights, _SIGNED, strict=True):
        if value is not None and weight > 0.0:
            unit = (value + 1.0) * 0.5 if signed else value
            known_weight += weight
            weighted += weight * unit
            known.append((signal, value, weight, unit))
    if known_weight <= 0.0:
        return HealthResult(NEUTRAL_HEALTH, 0.0, (), 0.0)
    health = 100.0 * weighted / known_weight
    health = 0.0 if health < 0.0 else 100.0 if health > 100.0 else health
    return HealthResult(health, known_weight / sum(weights), tuple(known), known_weight)


def top_by_effect(items: Sequence[Contribution], n: int) -> list[Contribution]:
    """The n largest contributions by absolute effect (ties: SIGNALS order)."""
    return sorted(items, key=lambda c: -abs(c.effect))[:n]


def record_health(
    start: int, points: tuple[float | None, ...], day: int, health: float, keep_days: int
) -> tuple[int, tuple[float | None, ...]]:
    """Set the health of `day` (the watermark's day) in the daily history, keeping `keep_days`."""
    value = round(health, 1)
    if not points:
        return day, (value,)
    offset = day - start
    if offset < 0:  # the watermark never moves back; defensive only
        return start, points
    if offset >= len(points) + keep_days:  # a long silence: nothing old is still in reach
        return day, (value,)
    if offset < len(points):
        new = (*points[:offset], value, *points[offset + 1 :])
    else:
        new = (*points, *([None] * (offset - len(points))), value)
    if len(new) > keep_days:
        drop = len(new) - keep_days
        return start + drop, new[drop:]
    return start, new


def trend(
    start: int, points: tuple[float | None, ...], day: int, health: float, days: int
) -> float | None:
    """health now - the health the account had `days` days ago: the point of that day, or
    when that day has none (no event and no tick), the latest point before it. None when
    the history does not reach back that far."""
    index = day - days - start
    if index < 0:
        return None
    for i in range(min(index, len(points) - 1), -1, -1):
        past = points[i]
        if past is not None:
            return round(health - past, 2)
    return None
