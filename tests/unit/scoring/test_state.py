"""AccountState: compact bytes that round-trip, and refuse to guess."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from schemas.events import Event
from scoring import (
    AccountState,
    ChurnModel,
    ScoringConfig,
    ScoringError,
    default_churn_model,
    load_config,
    new_state,
    process,
)
from scoring.bounded import ID_RECORD
from scoring.reducers.support import MAX_OPEN_TICKETS, MAX_RESOLVED_TICKETS
from tests.unit.scoring.factory import run
from tests.unit.scoring.scripts import healthy
from tests.unit.scoring.strategies import histories

CONFIG = load_config()
MODEL = default_churn_model(CONFIG)


def test_a_new_state_is_empty() -> None:
    state = new_state("acct-9")
    assert state.account_id == "acct-9"
    assert state.clock.max_ts is None and state.clock.events_applied == 0
    assert AccountState.from_bytes(state.to_bytes()) == state


def test_a_real_state_round_trips(config: ScoringConfig, model: ChurnModel) -> None:
    state, _ = run(healthy(days=40), config, model)
    assert state is not None
    m = state.memory  # the alert and emission memory round-trips too
    assert m.conditions and m.fired and m.emitted and m.happiness
    blob = state.to_bytes()
    again = AccountState.from_bytes(blob)
    assert again == state
    assert again.to_bytes() == blob
    print(f"\nhealthy account after {state.clock.events_applied} events: {len(blob)} bytes")
    assert len(blob) < 4096


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_any_history_round_trips(events: list[Event]) -> None:
    state, _ = run(events, CONFIG, MODEL)
    assert state is not None
    again = AccountState.from_bytes(state.to_bytes())
    assert again == state
    assert again.facts_bytes() == state.facts_bytes()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_bytes_with_cached_family_json_equal_bytes_encoded_afresh(events: list[Event]) -> None:
    """`to_bytes` reuses the JSON of facts families an event did not touch (kept on the
    facts objects); at every step it must equal encoding a fresh copy (no cache)."""
    state = None
    for event in events:
        state = process(state, event, CONFIG, MODEL).state
        blob = state.to_bytes()
        fresh = AccountState.from_bytes(blob)  # new facts objects: nothing cached on them
        assert fresh.to_bytes() == blob
        assert fresh == state


def test_a_restored_state_scores_like_the_original(
    config: ScoringConfig, model: ChurnModel
) -> None:
    events = healthy(days=30).items
    state, _ = run(events[:-50], config, model)
    assert state is not None
    restored = AccountState.from_bytes(state.to_bytes())
    _, direct = run(events[-50:], config, model, state)
    _, resumed = run(events[-50:], config, model, restored)
    assert [s.score for s in direct] == [s.score for s in resumed]
    assert [(s.emit, s.alerts) for s in direct] == [(s.emit, s.alerts) for s in resumed]


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"not json",
        b"[]",
        b'{"f": 99, "a": "x"}',
        b'{"f": 1}',
        b'{"f": 1, "a": "x", "c": {"i": "!!"}}',
    ],
)
def test_corrupt_bytes_raise_a_scoring_error(blob: bytes) -> None:
    with pytest.raises(ScoringError):
        AccountState.from_bytes(blob)


def test_the_worst_case_state_is_bounded(config: ScoringConfig, model: ChurnModel) -> None:
    """Every capped container full, every id at its maximum length (128 characters)."""
    from tests.unit.scoring.factory import Events

    def long(prefix: str, i: int) -> str:
        return f"{prefix}{i:06d}".ljust(128, "x")

    ev = Events().add(
        "subscription_started", 0, plan="p" * 128, mrr=1e6, seats=10**6, segment="s" * 128
    )
    for i in range(200):
        day = i / 4
        ev.add("feature_used", day, user_id=long("u", i), feature=long("f", i), quantity=1e9)
        ev.add("goal_defined", day, goal_id=long("g", i), desired_outcome="x" * 2000)
        ev.add("milestone_planned", day, milestone_id=long("m", i), due=day + 1, expansion=True)
        ev.add("milestone_completed", day, milestone_id=long("c", i))
        ev.add("invoice_failed", day, invoice_id=long("i", i), amount=1e9)
        ev.add("invoice_paid", day, invoice_id=long("p", i), amount=1e9)
        ev.add("discount_applied", day, amount=1e9, months=120)
        ev.add("nps_response", day, score=10)
        ev.add("meeting_held", day, duration_minutes=1440)
        ev.add("ticket_opened", day, ticket_id=long("t", i))
        ev.add("ticket_resolved", day, ticket_id=long("r", i))
    ev.items = [e.model_copy(update={"event_id": long("e", n)}) for n, e in enumerate(ev.items)]
    state, _ = run(ev, config, model)
    assert state is not None
    limits = config.limits
    assert len(state.usage.features) == config.usage.max_features
    assert len(state.success.goals) == limits.max_goals
    milestones = state.success.planned.keys() | state.success.completed.keys()
    assert len(milestones) == limits.max_milestones  # completed ones (never planned) went first
    assert len(state.billing.failed) == limits.max_invoices
    assert 0 < len(state.billing.paid) <= limits.max_invoices  # settled: those within lateness
    tickets = state.support.tickets.values()
    assert sum(t.open for t in tickets) == MAX_OPEN_TICKETS
    assert 0 < sum(not t.open for t in tickets) <= MAX_RESOLVED_TICKETS
    assert len(state.billing.discounts) == limits.max_discounts
    # the newest overall, plus up to cap // 8 per other family behind them
    cap = limits.recent_event_ids
    assert cap <= len(state.clock.recent_ids) // ID_RECORD <= cap + 3 * (cap // 8)
    size = len(state.to_bytes())
    print(f"\nworst-case state: {size} bytes")
    assert size < 32 * 1024
