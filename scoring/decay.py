"""Exponentially decayed counters whose value does not depend on arrival order.

A `Series` keeps the recent, still open days as exact integer buckets
(amounts in thousandths; integer addition commutes, float addition does
not), and everything older folded into one float per half-life. A day is
folded ("sealed") once no event of that day can still be accepted, i.e.
when it ends before `max seen ts - allowed lateness`. Folding walks the
sealed buckets in day order with a fixed formula, so the folded floats are
a function of the set of events only, never of the order they came in.

Resolution is one day: an event counts as if it happened at the start of
its UTC day, and values are read at the start of the watermark's day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SCALE = 1000
"""Fixed-point scale of bucket amounts (thousandths)."""
CAP = 2**62
"""Saturation bound of one bucket (saturating addition still commutes; keeps JSON ints 64-bit)."""
LN2 = math.log(2.0)
DAY = 86_400.0
DAYS_PER_MONTH = 30.44


def day_of(ts: float) -> int:
    """UTC day index of an epoch timestamp in seconds."""
    return int(ts // DAY)


def _round7(value: float) -> float:
    """Round to 7 significant digits: keeps the state compact, and is deterministic."""
    return float(f"{value:.7g}")


@dataclass(frozen=True, slots=True)
class Series:
    """One decayed counter read at one or more half-lives (days)."""

    anchor: int = 0
    """Day of the last folded bucket; `folded` values are as of that day."""
    folded: tuple[float, ...] = ()
    """One value per half-life; empty means all zero."""
    recent: tuple[tuple[int, int], ...] = ()
    """(day, amount in thousandths), ascending days, not yet sealed."""

    @property
    def is_empty(self) -> bool:
        return not self.recent and not any(self.folded)

    def add(self, day: int, amount: float) -> Series:
        """Add `amount` (>= 0) on `day`."""
        units = round(amount * SCALE)
        recent = self.recent
        for i, (d, total) in enumerate(recent):
            if d == day:
                new = (day, min(total + units, CAP))
                return Series(self.anchor, self.folded, (*recent[:i], new, *recent[i + 1 :]))
            if d > day:
                return Series(self.anchor, self.folded, (*recent[:i], (day, units), *recent[i:]))
        return Series(self.anchor, self.folded, (*recent, (day, units)))

    def fold(self, seal_day: int, half_lives: tuple[float, ...]) -> Series:
        """Fold every bucket of a day before `seal_day` into the per-half-life values."""
        recent = self.recent
        if not recent or recent[0][0] >= seal_day:
            return self
        values = list(self.folded) or [0.0] * len(half_lives)
        anchor = self.anchor
        n = 0
        for day, units in recent:
            if day >= seal_day:
                break
            amount = units / SCALE
            for i, half_life in enumerate(half_lives):
                # rounded at every day, not once per call: how many days one call folds
                # depends on arrival order, the day-by-day result must not
                values[i] = _round7(values[i] * 2.0 ** (-(day - anchor) / half_life) + amount)
            anchor = day
            n += 1
        return Series(anchor, tuple(values), recent[n:])

    def value(self, now_day: int, index: int, half_life: float) -> float:
        """Decayed sum as of the start of `now_day`, at the `index`-th half-life."""
        total = 0.0
        if self.folded:
            total = self.folded[index] * 2.0 ** (-(now_day - self.anchor) / half_life)
        for day, units in self.recent:
            total += units / SCALE * 2.0 ** (-(now_day - day) / half_life)
        return total

    def rate(self, now_day: int, index: int, half_life: float) -> float:
        """Per-day rate implied by the decayed sum (a constant rate r gives sum r * h / ln 2)."""
        return self.value(now_day, index, half_life) * LN2 / half_life


EMPTY = Series()
