"""Building events for scoring tests: `Events(account).add(kind, day, **fields)`.

Times are given in days (floats) from a fixed origin so that scripted
histories read like timelines; event ids are generated in order.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter

from schemas.events import MODEL_BY_TYPE, Event
from scoring import AccountState, ChurnModel, ScoringConfig, StepResult, process

ORIGIN = datetime(2026, 1, 5, tzinfo=UTC)
_ADAPTER: TypeAdapter[Any] = TypeAdapter(Event)


def at(day: float) -> datetime:
    return ORIGIN + timedelta(days=day)


def make(
    event_type: str,
    day: float,
    /,
    account: str = "acct-1",
    event_id: str | None = None,
    **fields: Any,
) -> Event:
    """One event of `event_type` at `day` days after ORIGIN."""
    model = MODEL_BY_TYPE[event_type]
    for key in ("due", "term_end"):
        if isinstance(fields.get(key), int | float):
            fields[key] = at(float(fields[key]))
    event = model(
        event_id=event_id or f"{event_type}-{day}", account_id=account, ts=at(day), **fields
    )
    return event  # type: ignore[return-value]


class Events:
    """An ordered script of events for one account."""

    def __init__(self, account: str = "acct-1") -> None:
        self.account = account
        self.items: list[Event] = []

    def add(self, event_type: str, day: float, /, **fields: Any) -> Events:
        event_id = f"e{len(self.items):05d}"
        self.items.append(make(event_type, day, account=self.account, event_id=event_id, **fields))
        return self

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.items)


def run(
    events: Iterable[Event],
    config: ScoringConfig,
    model: ChurnModel,
    state: AccountState | None = None,
) -> tuple[AccountState | None, list[StepResult]]:
    """Process events in the given order; return the final state and every step."""
    steps = []
    for event in events:
        step = process(state, event, config, model)
        state = step.state
        steps.append(step)
    return state, steps


def last_score(events: Iterable[Event], config: ScoringConfig, model: ChurnModel) -> Any:
    _, steps = run(events, config, model)
    scored = [s for s in steps if s.score is not None]
    return scored[-1].score
