"""Order independence of what a team reads (issue 19): bands, quadrants, tiers and alerts
must not depend on how the four family topics interleave within the allowed lateness.

An *arrival order* here is what a worker consuming the four family topics can deliver
while no event is later than the lateness bound: each family's events keep their own
order (one topic partition per family), and an event arrives before any event more than
`allowed_lateness` newer than it (so `is_too_late` never fires, checked below). The
in-order run (event-time order, what `score-file` does) is compared with such an
arrival order through `scoring.process`, the entry point the worker
(`streams.pipeline.BatchProcessor`) and `score-file` share.

With the default config (`settle_hours` 0) the facts, and so signals, health and churn
risk after the last event, are the same (also `test_properties.py`), but the memory
path (classes with hysteresis, alert conditions and their rising edges, cool-downs,
daily health points) is not: it is advanced at every *arrival* with the facts of the
events that have arrived, a set that in an interleaved order is never a prefix of the
event-time order (the xfails below). With `settle_hours` = the lateness (`SETTLED`),
events settle in event-time order and everything published is the same, the whole
state included. See docs/scoring.md, "Order independence".
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date
from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from schemas.events import FAMILY_BY_TYPE, Event
from scoring import (
    AccountState,
    ScoringConfig,
    StepResult,
    default_churn_model,
    is_too_late,
    load_config,
    process,
    settle,
    tick,
)
from scoring.decay import DAY
from scoring.evaluate import evaluate
from tests.unit.scoring.factory import make
from tests.unit.scoring.strategies import histories
from tests.unit.scoring.synthetic import portfolio

CONFIG = load_config()
MODEL = default_churn_model(CONFIG)
LATENESS = CONFIG.lateness_seconds
SETTLED = ScoringConfig.model_validate(
    {**CONFIG.model_dump(), "settle_hours": CONFIG.allowed_lateness_hours}
)
"""The default config deciding the published path the lateness behind the newest event."""
PROPERTY = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # the xfail below must fail on every run, never pass by chance
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def arrival_order(events: Sequence[Event], delays: Sequence[float]) -> list[Event]:
    """The events as a consumer of the four family topics may receive them within the
    lateness bound. `delays` (fractions of the lateness, cycled) delay each event: per
    account and family, arrival keys `k_i = max(k_{i-1}, ts_i + d_i x lateness)` keep
    the family's own order and stay within `[ts_i, ts_i + lateness]`; the merge by key
    then never delivers an event after one more than the lateness newer than it."""
    keyed: list[tuple[float, int, Event]] = []
    last: dict[tuple[str, str], float] = {}
    for i, event in enumerate(sorted(events, key=lambda e: e.ts)):
        stream = (event.account_id, FAMILY_BY_TYPE[event.type].value)
        ts = event.ts.timestamp()
        delay = delays[i % len(delays)] if delays else 0.0
        key = max(last.get(stream, -float("inf")), ts + delay * LATENESS)
        last[stream] = key
        keyed.append((key, i, event))
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [e for _, _, e in keyed]


class TickAt(NamedTuple):
    """A tick (`scoring.tick`) of one account at a UTC midnight, as the clock sends it."""

    account_id: str
    ts: float


Item = Event | TickAt


def with_daily_ticks(events: Sequence[Event]) -> list[Item]:
    """The events with a tick of each account at every midnight from its first event's
    to the last event of all, in event-time order (a tick before the events of its time),
    as `score-file` reads them."""
    end = max(e.ts.timestamp() for e in events)
    first: dict[str, float] = {}
    for e in events:
        first[e.account_id] = min(first.get(e.account_id, math.inf), e.ts.timestamp())
    ticks = [
        TickAt(account, day * DAY)
        for account, start in first.items()
        for day in range(int(start // DAY) + 1, int(end // DAY) + 1)
    ]
    items: list[Item] = [*events, *ticks]
    return sorted(items, key=lambda i: (_time(i), isinstance(i, Event)))


def _time(item: Item) -> float:
    return item.ts if isinstance(item, TickAt) else item.ts.timestamp()


def arrival_order_of_items(items: Sequence[Item], delays: Sequence[float]) -> list[Item]:
    """As `arrival_order`, with each account's ticks as one more stream of their own."""
    keyed: list[tuple[float, int, Item]] = []
    last: dict[tuple[str, str], float] = {}
    for i, item in enumerate(items):
        family = "clock" if isinstance(item, TickAt) else FAMILY_BY_TYPE[item.type].value
        stream = (item.account_id, family)
        delay = delays[i % len(delays)] if delays else 0.0
        key = max(last.get(stream, -math.inf), _time(item) + delay * LATENESS)
        last[stream] = key
        keyed.append((key, i, item))
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [item for _, _, item in keyed]


class Outputs:
    """What a team reads from one run: alerts (kind, account, dedupe key, day), the
    transitions of every classification (account, kind, from, to, day), and the classes
    each account ends with; plus the final states."""

    def __init__(self, arrivals: Iterable[Item], config: ScoringConfig = CONFIG) -> None:
        self.states: dict[str, AccountState] = {}
        self.alerts: set[tuple[str, str, str, date]] = set()
        self.transitions: Counter[tuple[str, str, str, str, date]] = Counter()
        for event in arrivals:
            before = self.states.get(event.account_id)
            if isinstance(event, TickAt):
                if before is not None:
                    self._record(tick(before, event.ts, config, MODEL))
                continue
            assert not is_too_late(before, event, config), "the arrival order broke lateness"
            self._record(process(before, event, config, MODEL))
        for state in list(self.states.values()):  # the end of the input settles the rest
            self._record(settle(state, config, MODEL))

    def _record(self, step: StepResult) -> None:
        if step.duplicate:
            return
        self.states[step.state.account_id] = step.state
        for a in step.alerts:
            self.alerts.add((a.kind, a.account_id, a.dedupe_key, a.ts.date()))
        for t in step.transitions:
            key = (t.account_id, t.kind, str(t.from_value), str(t.to_value), t.ts.date())
            self.transitions[key] += 1
        self.classes = {
            account: (m.readiness, m.success, m.band, m.tier, m.potential)
            for account, m in ((a, s.memory) for a, s in self.states.items())
        }


delays_strategy = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12)


@PROPERTY
@given(histories(max_size=50, max_day=40.0), delays_strategy)
def test_facts_health_and_churn_risk_do_not_depend_on_the_arrival_order(
    events: list[Event], delays: list[float]
) -> None:
    in_order = Outputs(events)
    arrived = Outputs(arrival_order(events, delays))
    for account, state in in_order.states.items():
        other = arrived.states[account]
        assert state.facts_bytes() == other.facts_bytes()
        a, b = evaluate(state, CONFIG, MODEL), evaluate(other, CONFIG, MODEL)
        assert (a.values, a.health.health, a.churn_risk) == (
            b.values,
            b.health.health,
            b.churn_risk,
        )


_GAP = pytest.mark.xfail(
    strict=True,
    reason=(
        "issue 19, order independence, with settle_hours 0 (the default): classes with "
        "hysteresis, alert conditions and cool-downs are advanced at each arrival with the "
        "facts of the events arrived so far, which in an interleaved order is never a "
        "prefix of the event-time order; settle_hours >= the arrival bound makes it hold "
        "(the SETTLED tests below; docs/scoring.md, 'Order independence')"
    ),
)


# Two events, one account: a usage event a moment after the subscription started, the
# billing topic read a little behind the usage topic (well within the lateness). Read in
# order, the first tier is want-to-have (ARR 5 400 >= 5 000); read with usage first, the
# account is classified before its subscription is known (value at stake 0, nice-to-have),
# and the tier's hysteresis then needs ARR 5 500 to rise: it stays nice-to-have.
_USAGE_FIRST = (
    [
        make("subscription_started", 0.0, event_id="s", plan="growth", mrr=450.0, seats=5),
        make("feature_used", 0.01, event_id="u", user_id="u1", feature="f1", quantity=1.0),
    ],
    [1.0, 0.0],
)


@_GAP
@PROPERTY
@given(histories(max_size=50, max_day=40.0), delays_strategy)
@example(*_USAGE_FIRST)
def test_bands_quadrants_tiers_and_alerts_do_not_depend_on_the_arrival_order(
    events: list[Event], delays: list[float]
) -> None:
    in_order = Outputs(events)
    arrived = Outputs(arrival_order(events, delays))
    assert arrived.classes == in_order.classes
    assert arrived.transitions == in_order.transitions
    assert arrived.alerts == in_order.alerts


@_GAP
def test_a_portfolio_read_family_by_family_within_lateness_publishes_the_same_path() -> None:
    """A deterministic multi-family portfolio (12 accounts, 420 days), each family read
    up to the lateness behind the others: the facts agree (asserted first), the published
    path must too."""
    events = portfolio(3, 12)
    rng = random.Random(3)
    delays = [rng.random() for _ in range(97)]
    in_order = Outputs(events)
    arrived = Outputs(arrival_order(events, delays))
    for account, state in in_order.states.items():
        assert state.facts_bytes() == arrived.states[account].facts_bytes()
    assert arrived.classes == in_order.classes
    assert arrived.transitions == in_order.transitions
    assert arrived.alerts == in_order.alerts


@PROPERTY
@given(histories(max_size=50, max_day=40.0), delays_strategy)
@example(*_USAGE_FIRST)
def test_settled_bands_quadrants_tiers_and_alerts_do_not_depend_on_the_arrival_order(
    events: list[Event], delays: list[float]
) -> None:
    in_order = Outputs(events, SETTLED)
    arrived = Outputs(arrival_order(events, delays), SETTLED)
    assert arrived.classes == in_order.classes
    assert arrived.transitions == in_order.transitions
    assert arrived.alerts == in_order.alerts
    for account, state in in_order.states.items():
        assert state.to_bytes() == arrived.states[account].to_bytes()


def test_a_settled_portfolio_read_family_by_family_within_lateness_publishes_the_same_path() -> (
    None
):
    events = portfolio(3, 12)
    rng = random.Random(3)
    delays = [rng.random() for _ in range(97)]
    in_order = Outputs(events, SETTLED)
    arrived = Outputs(arrival_order(events, delays), SETTLED)
    assert arrived.classes == in_order.classes
    assert arrived.transitions == in_order.transitions
    assert arrived.alerts == in_order.alerts
    assert sum(in_order.transitions.values()) > 30 and len(in_order.alerts) > 5


@PROPERTY
@given(histories(max_size=40, max_day=30.0), delays_strategy)
def test_settled_outputs_with_daily_ticks_do_not_depend_on_when_events_and_ticks_arrive(
    events: list[Event], delays: list[float]
) -> None:
    items = with_daily_ticks(events)
    in_order = Outputs(items, SETTLED)
    arrived = Outputs(arrival_order_of_items(items, delays), SETTLED)
    assert arrived.classes == in_order.classes
    assert arrived.transitions == in_order.transitions
    assert arrived.alerts == in_order.alerts
    for account, state in in_order.states.items():
        assert state.to_bytes() == arrived.states[account].to_bytes()
