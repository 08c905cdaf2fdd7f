"""`Step`: one scoring step's context, what the alerts and the output models are built from.

`scoring.engine` builds one per event (or tick) once the state is evaluated and classified,
and hands it on whole instead of a long list of arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from schemas.outputs import Driver
from scoring.churn import ChurnModel
from scoring.classes import Classes
from scoring.config import ScoringConfig
from scoring.evaluate import Evaluation
from scoring.state import AccountState

Drivers = Callable[[], tuple[Driver, ...]]
"""An evaluation's health drivers, built on the first call: one event's transitions,
alerts and score share them, and most events need none (`scoring.outputs.drivers_once`)."""


@dataclass(frozen=True, slots=True)
class Step:
    """One event (or tick) applied to an account, evaluated and classified. Immutable, and
    not a tuple: it is read by field name only."""

    state: AccountState
    """The account with the event applied and its memory not yet advanced: `state.memory`
    is the memory before this step (previous classes, alert conditions, last emitted score)."""
    ev: Evaluation
    """The state evaluated at its watermark (signals, health, churn risk)."""
    classes: Classes
    """The classes after this step, hysteresis applied."""
    trends: tuple[float | None, float | None]
    """The 7- and 30-day health trends."""
    at: datetime
    """The step's event time (the watermark), stamped on its outputs."""
    event_id: str
    """The event's id, or the tick's (`scoring.engine.tick_id`), stamped on its outputs."""
    config: ScoringConfig
    model: ChurnModel
    drivers: Drivers
    """The health drivers, built on first use."""
    ticking: bool = False
    """The step is a tick (a re-evaluation with no event of its own)."""
