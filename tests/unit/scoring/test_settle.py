"""Settling (`settle_hours`): events wait, then go through the path in event-time order."""

from __future__ import annotations

import pytest

from scoring import (
    AccountState,
    ConflictingDuplicateError,
    ScoringConfig,
    TooLateError,
    default_churn_model,
    is_too_late,
    load_config,
    process,
    settle,
    tick,
)
from scoring.decay import DAY
from tests.unit.scoring.factory import at, make

BASE = load_config()
CONFIG = ScoringConfig.model_validate({**BASE.model_dump(), "settle_hours": 48.0})
MODEL = default_churn_model(CONFIG)


def _usage(day: float, event_id: str) -> object:
    return make("feature_used", day, event_id=event_id, user_id="u1", feature="f1", quantity=1.0)


def _run(events: list, config: ScoringConfig = CONFIG) -> AccountState:
    state = None
    for event in events:
        state = process(state, event, config, MODEL).state
    assert state is not None
    return state


def test_an_event_waits_until_the_settle_time_has_passed_it() -> None:
    start = make("subscription_started", 0, event_id="s", plan="growth", mrr=900.0, seats=5)
    step = process(None, start, CONFIG, MODEL)
    assert step.state.pending == (start,) and step.state.clock.max_ts is None
    assert not step.emit and not step.transitions and not step.duplicate
    assert step.score is not None and step.score.mrr == 900.0  # provisional: its facts
    step = process(step.state, _usage(1.9, "u0"), CONFIG, MODEL)
    assert len(step.state.pending) == 2 and not step.transitions
    step = process(step.state, _usage(2.1, "u1"), CONFIG, MODEL)  # 48 h past the start
    assert [e.event_id for e in step.state.pending] == ["u0", "u1"]
    assert step.state.clock.max_ts == at(0).timestamp()
    assert {t.kind for t in step.transitions} >= {"tier", "health_band"}
    assert all(t.event_id == "s" for t in step.transitions) and step.emit
    assert step.score is not None and step.score.event_id == "s"


def test_the_queue_settles_in_event_time_order_with_daily_ticks_between() -> None:
    events = [_usage(d, f"u{d}") for d in (0.5, 3.5, 1.5)]  # u3.5 read before u1.5
    state = _run(events)
    assert [e.event_id for e in state.pending] == ["u1.5", "u3.5"]
    step = settle(state, CONFIG, MODEL)
    assert step.state.pending == () and step.state.pending_ticks == ()
    assert step.state.clock.events_applied == 3
    in_order = settle(_run(sorted(events, key=lambda e: e.ts)), CONFIG, MODEL).state
    assert in_order.to_bytes() == step.state.to_bytes()
    # the settled account was ticked at the midnights between its events
    assert step.state.memory.health_start == int(at(0.5).timestamp() // DAY)
    assert settle(step.state, CONFIG, MODEL).duplicate  # nothing waits any more


def test_a_repeat_of_a_waiting_event_is_a_duplicate_or_a_conflict() -> None:
    state = _run([_usage(0.0, "a")])
    again = process(state, _usage(0.0, "a"), CONFIG, MODEL)
    assert again.duplicate and again.state is state
    with pytest.raises(ConflictingDuplicateError):
        process(state, _usage(0.5, "a"), CONFIG, MODEL)


def test_waiting_events_count_for_lateness() -> None:
    state = _run([_usage(5.0, "new")])
    late = _usage(2.0, "old")
    assert is_too_late(state, late, CONFIG)
    with pytest.raises(TooLateError):
        process(state, late, CONFIG, MODEL)


def test_at_most_pending_events_wait_the_oldest_settle_first() -> None:
    config = ScoringConfig.model_validate(
        {**CONFIG.model_dump(), "limits": {**CONFIG.limits.model_dump(), "pending_events": 3}}
    )
    state = _run([_usage(i / 100, f"u{i}") for i in range(5)], config)
    assert [e.event_id for e in state.pending] == ["u2", "u3", "u4"]
    assert state.clock.events_applied == 2


def test_a_tick_waits_in_its_place_among_the_events() -> None:
    state = _run([_usage(0.5, "a"), _usage(2.2, "b")])  # a settled, b waits
    ticked = tick(state, at(3).timestamp(), CONFIG, MODEL)
    assert ticked.state.pending_ticks == (at(3).timestamp(),)
    assert tick(ticked.state, at(3).timestamp(), CONFIG, MODEL).duplicate  # queued once
    late = tick(ticked.state, at(0).timestamp(), CONFIG, MODEL)  # the settled time is past it
    assert late.duplicate
    done = settle(ticked.state, CONFIG, MODEL).state
    assert done.clock.max_ts == at(3).timestamp() and done.clock.events_applied == 2


def test_the_queue_survives_the_state_bytes() -> None:
    state = _run([_usage(0.5, "a"), _usage(2.2, "b"), _usage(2.3, "c")])
    state = tick(state, at(3).timestamp(), CONFIG, MODEL).state
    assert state.pending and state.pending_ticks
    back = AccountState.from_bytes(state.to_bytes())
    assert back.pending == state.pending and back.pending_ticks == state.pending_ticks
    assert back.to_bytes() == state.to_bytes()


def test_without_settle_hours_nothing_waits() -> None:
    state = _run([_usage(0.5, "a"), _usage(2.2, "b")], BASE)
    assert state.pending == () and state.clock.events_applied == 2


def test_a_config_that_stops_settling_settles_what_waits_at_the_next_event() -> None:
    state = _run([_usage(0.5, "a"), _usage(1.0, "b")])
    assert len(state.pending) == 2
    step = process(state, _usage(1.5, "c"), BASE, MODEL)
    assert step.state.pending == () and step.state.clock.events_applied == 3
    assert step.score is not None and step.score.event_id == "c"
