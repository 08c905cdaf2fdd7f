"""The clock: re-scoring silent accounts as event time passes (docs/scoring.md, "The clock").

`scoring.tick` re-evaluates one account at a later event time. This module says
*when*: at every day boundary of event time, every live account (one whose
subscription is not cancelled) is ticked at the boundary, so each account is
re-evaluated at least once per day of event time, with or without events of its
own. `score-file` drives it from the file's sorted event times (`FileClock`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, MutableMapping
from datetime import timedelta

import scoring
from scoring.decay import DAY


def day_boundaries(after: float | None, upto: float) -> Iterator[float]:
    """The day boundaries (UTC midnights, epoch seconds) in (after, upto], ascending;
    none when `after` is None (no event time yet)."""
    if after is None:
        return
    day = math.floor(after / DAY) + 1
    while day * DAY <= upto:
        yield day * DAY
        day += 1


def is_live(state: scoring.AccountState) -> bool:
    """An account worth re-scoring: it has events and its subscription is not cancelled
    (a cancelled account is terminal until a new subscription starts)."""
    return state.clock.max_ts is not None and not state.billing.cancelled


def tick_accounts(
    states: MutableMapping[str, scoring.AccountState],
    ts: float,
    config: scoring.ScoringConfig,
    model: scoring.ChurnModel,
) -> Iterator[scoring.StepResult]:
    """Tick every live account of `states` at `ts`, in the mapping's order, storing each new
    state back; yields the steps that re-evaluated something."""
    for account, state in list(states.items()):
        if not is_live(state):
            continue
        step = scoring.tick(state, ts, config, model)
        if step.score is None:
            continue
        states[account] = step.state
        yield step


class FileClock:
    """The clock of a file scored in event-time order: the boundaries a new event time
    crosses, as (ts, tick?, row?) ascending: `tick` at every day boundary, `row` at every
    multiple of `cadence` since the epoch (when a cadence is given)."""

    def __init__(self, cadence: timedelta | None) -> None:
        self.cadence = None if cadence is None else cadence.total_seconds()
        self.now: float | None = None

    def advance(self, ts: float) -> list[tuple[float, bool, bool]]:
        before = self.now
        if before is not None and ts <= before:
            return []
        self.now = ts
        if before is None:
            return []
        marks = {b: (True, False) for b in day_boundaries(before, ts)}
        if self.cadence is not None:
            step = self.cadence
            k = math.floor(before / step) + 1
            while k * step <= ts:
                tick, _ = marks.get(k * step, (False, False))
                marks[k * step] = (tick, True)
                k += 1
        return [(b, tick, row) for b, (tick, row) in sorted(marks.items())]
