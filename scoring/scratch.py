"""The facts of one account while one event is applied.

A `Scratch` holds the state's four facts families for the duration of one
`process` call; reducers (`scoring.reducers`) replace whole family objects
in it, so unchanged parts are shared with the previous state, not copied.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from scoring.config import ScoringConfig
from scoring.decay import EMPTY, Series
from scoring.facts import (
    SERIES_FAMILY,
    SERIES_SOURCE,
    BillingFacts,
    SuccessFacts,
    SupportFacts,
    UsageFacts,
)

F = TypeVar("F", UsageFacts, SupportFacts, BillingFacts, SuccessFacts)
_FIELDS: dict[type, tuple[str, ...]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls) if f.name != "memo")
    for cls in (UsageFacts, SupportFacts, BillingFacts, SuccessFacts)
}
FAMILIES = ("usage", "support", "billing", "success")


def rebuild(facts: F, memo: dict[str, Any] | None = None, **changes: Any) -> F:
    """A copy of `facts` with `changes` and a fresh memo (or `memo`: entries the caller
    knows do not depend on the changed fields)."""
    values = {name: getattr(facts, name) for name in _FIELDS[type(facts)]}
    values.update(changes)
    return type(facts)(**values, memo={} if memo is None else memo)


class Scratch:
    """The facts families while one event is applied (internal to `process`).

    Reducers replace whole family objects; decayed counters are collected
    per family and written back once, in `finish`.
    """

    __slots__ = ("_series", "billing", "config", "success", "support", "usage")

    def __init__(
        self,
        usage: UsageFacts,
        support: SupportFacts,
        billing: BillingFacts,
        success: SuccessFacts,
        config: ScoringConfig,
    ) -> None:
        self.usage = usage
        self.support = support
        self.billing = billing
        self.success = success
        self.config = config
        self._series: dict[str, dict[str, Series]] = {}

    def add(self, name: str, day: int, amount: float) -> None:
        """Add `amount` on `day` to the decayed counter `name`."""
        family = SERIES_FAMILY[name]
        pending = self._series.get(family)
        if pending is None:
            pending = self._series[family] = dict(getattr(self, family).series)
        pending[name] = pending.get(name, EMPTY).add(day, amount)

    def finish(
        self, seal_day: int | None, source: str | None = None
    ) -> tuple[UsageFacts, SupportFacts, BillingFacts, SuccessFacts]:
        """The families with their new counters; the counters fed by the event family
        `source` (all of them when None) folded up to `seal_day` when given."""
        if seal_day is None and not self._series:
            return self.usage, self.support, self.billing, self.success
        half_lives = self.config.series_half_lives
        for family in FAMILIES:
            facts = getattr(self, family)
            series = self._series.get(family)
            if seal_day is not None:
                base = facts.series if series is None else series
                folded = {
                    name: x
                    if source is not None and SERIES_SOURCE[name] != source
                    else x.fold(seal_day, half_lives[name])
                    for name, x in base.items()
                }
                if any(folded[name] is not base[name] for name in base):
                    series = folded
            if series is not None:
                setattr(self, family, rebuild(facts, series=series))
        return self.usage, self.support, self.billing, self.success


def newer(ts: float, h: int, old: Any) -> bool:
    """Last writer wins: (ts, id hash) orders events totally."""
    return old is None or (ts, h) > (old.ts, old.stamp)


Reducer = Callable[[Scratch, Any, float, int, int], str | None]
"""(scratch, event, ts, day, id hash) -> the evidence source the event feeds, if any."""
