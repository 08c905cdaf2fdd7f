"""Settled facts (paid invoices, completed milestones, resolved tickets) stay settled.

Each container is bounded; these histories push past the bounds and check that
eviction never brings a settled fact back as an open one, and that garbage (ids
never opened, repeated settlements) does not hide a real open one.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.events import Event
from scoring import AccountState, ChurnModel, ScoringConfig, default_churn_model, load_config
from scoring.decay import day_of
from scoring.reducers.support import MAX_OPEN_TICKETS, MAX_RESOLVED_TICKETS
from scoring.signals.company import outstanding_ids
from scoring.signals.happiness import open_tickets
from scoring.signals.success import overdue_ids
from tests.unit.scoring.factory import Events, make, run


def _alert_keys(ev: Events, config: ScoringConfig, model: ChurnModel) -> list[str]:
    _, steps = run(ev, config, model)
    return [a.dedupe_key.split("|")[0] for step in steps for a in step.alerts]


def _kinds(keys: list[str], kind: str) -> list[str]:
    return [k for k in keys if kind in k]


def test_a_failed_invoice_paid_the_next_day_stays_paid_after_many_payments(
    config: ScoringConfig, model: ChurnModel
) -> None:
    ev = Events().add("subscription_started", 0, plan="growth", mrr=500.0, seats=5)
    ev.add("invoice_failed", 1, invoice_id="X", amount=500.0)
    ev.add("invoice_paid", 2, invoice_id="X", amount=500.0)
    ev.add("invoice_failed", 3, invoice_id="Y", amount=500.0)  # really unpaid
    for month in range(1, 2 * config.limits.max_invoices + 2):
        ev.add("invoice_paid", 30.0 * month, invoice_id=f"M{month}", amount=500.0)
    state, steps = run(ev, config, model)
    assert state is not None
    assert outstanding_ids(state.billing) == ("Y",)
    raised = [a.message for s in steps[3:] for a in s.alerts if a.kind == "payment_failed"]
    assert not [m for m in raised if "invoice X" in m]


def test_payments_of_unknown_invoices_do_not_hide_a_failed_one(
    config: ScoringConfig, model: ChurnModel
) -> None:
    ev = Events().add("subscription_started", 0, plan="growth", mrr=500.0, seats=5)
    ev.add("invoice_failed", 1, invoice_id="Y", amount=500.0)
    for i in range(3 * config.limits.max_invoices):
        ev.add("invoice_paid", 1.5 + i * 0.01, invoice_id=f"junk-{i}", amount=1.0)
    state, _ = run(ev, config, model)
    assert state is not None
    assert outstanding_ids(state.billing) == ("Y",)


def test_a_payment_before_its_failure_within_lateness_settles_it(
    config: ScoringConfig, model: ChurnModel
) -> None:
    ev = Events().add("subscription_started", 0, plan="growth", mrr=500.0, seats=5)
    ev.add("invoice_paid", 1.5, invoice_id="X", amount=500.0)
    ev.add("invoice_failed", 1.0, invoice_id="X", amount=500.0)  # arrives late, older
    state, _ = run(ev, config, model)
    assert state is not None
    assert outstanding_ids(state.billing) == ()
    ev.add("invoice_failed", 2.0, invoice_id="X", amount=500.0)  # a new failure, after
    state, _ = run(ev, config, model)
    assert state is not None
    assert outstanding_ids(state.billing) == ("X",)


def test_completions_of_unknown_milestones_do_not_reopen_a_completed_one(
    config: ScoringConfig, model: ChurnModel
) -> None:
    ev = Events().add("subscription_started", 0, plan="growth", mrr=500.0, seats=5)
    ev.add("milestone_planned", 1, milestone_id="M", due=10)
    ev.add("milestone_completed", 2, milestone_id="M")
    ev.add("milestone_planned", 2.5, milestone_id="OPEN", due=12)  # really overdue later
    for i in range(config.limits.max_milestones + 1):
        ev.add("milestone_completed", 3 + i * 0.01, milestone_id=f"unknown-{i}")
    ev.add("feature_used", 20, user_id="u", feature="f")
    state, steps = run(ev, config, model)
    assert state is not None
    assert state.clock.max_ts is not None
    assert overdue_ids(state.success, day_of(state.clock.max_ts)) == ("OPEN",)
    raised = [a.dedupe_key for s in steps for a in s.alerts if a.kind == "milestone_overdue"]
    assert all("milestone_overdue:M" not in k or "OPEN" in k for k in raised)
    assert any("milestone_overdue:OPEN" in k for k in raised)
    assert len(state.success.planned.keys() | state.success.completed.keys()) <= (
        config.limits.max_milestones
    )


def test_resolutions_of_unknown_tickets_do_not_hide_open_ones(
    config: ScoringConfig, model: ChurnModel
) -> None:
    ev = Events()
    for t in ("A", "B", "C"):
        ev.add("ticket_opened", 1, ticket_id=t)
    for i in range(5):
        ev.add("ticket_resolved", 2 + i * 0.1, ticket_id=f"never-opened-{i}")
    state, _ = run(ev, config, model)
    assert state is not None
    assert open_tickets(state.support) == 3


def test_a_ticket_resolved_many_times_resolves_once(
    config: ScoringConfig, model: ChurnModel
) -> None:
    ev = Events()
    for t in ("A", "B", "C"):
        ev.add("ticket_opened", 1, ticket_id=t)
    for i in range(50):
        ev.add("ticket_resolved", 2 + i * 0.01, ticket_id="A")
    state, _ = run(ev, config, model)
    assert state is not None
    assert open_tickets(state.support) == 2
    ev.add("ticket_reopened", 3, ticket_id="A")
    state, _ = run(ev, config, model)
    assert state is not None
    assert open_tickets(state.support) == 3


def test_a_resolution_that_arrives_before_its_opening_closes_the_ticket(
    config: ScoringConfig, model: ChurnModel
) -> None:
    ev = Events()
    ev.add("ticket_resolved", 1.5, ticket_id="A")
    ev.add("ticket_opened", 1.0, ticket_id="A")  # late, older
    state, _ = run(ev, config, model)
    assert state is not None
    assert open_tickets(state.support) == 0


# --- properties: the status is a function of the events, whatever their order ----------

CONFIG = load_config()
MODEL = default_churn_model(CONFIG)
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LATENESS_DAYS = CONFIG.allowed_lateness_hours / 24


def _arrival(events: list[Event], rnd: random.Random) -> list[Event]:
    """Each event may arrive up to the allowed lateness after later ones: never too late."""
    lateness = CONFIG.lateness_seconds
    return sorted(events, key=lambda e: e.ts.timestamp() + rnd.uniform(0, lateness))


def _final(events: list[Event]) -> AccountState:
    state, _ = run(events, CONFIG, MODEL)
    assert state is not None
    return state


INVOICE_EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["invoice_paid", "invoice_failed"]),
        st.sampled_from(["I0", "I1", "I2", "I3"]),
        st.integers(0, 40 * 8).map(lambda eighth: eighth / 8),  # days, ties included
    ),
    max_size=40,
)


@PROPERTY
@given(INVOICE_EVENTS, st.randoms(use_true_random=False))
def test_an_invoice_is_outstanding_when_its_newest_failure_is_newer_than_its_payments(
    items: list[tuple[str, str, float]], rnd: random.Random
) -> None:
    events = [
        make(kind, day, event_id=f"e{n}", invoice_id=invoice, amount=10.0)
        for n, (kind, invoice, day) in enumerate(sorted(items, key=lambda i: i[2]))
    ]
    if not events:
        return
    newest: dict[tuple[str, str], float] = {}
    for kind, invoice, day in items:
        newest[(kind, invoice)] = max(day, newest.get((kind, invoice), -1.0))
    expected = tuple(
        sorted(
            invoice
            for (kind, invoice), day in newest.items()
            if kind == "invoice_failed" and day > newest.get(("invoice_paid", invoice), -1.0)
        )
    )
    in_order, shuffled = _final(events), _final(_arrival(events, rnd))
    assert outstanding_ids(in_order.billing) == outstanding_ids(shuffled.billing) == expected
    assert in_order.facts_bytes() == shuffled.facts_bytes()
    assert not in_order.billing.failed.keys() & in_order.billing.paid.keys()


TICKET_EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["ticket_opened", "ticket_resolved", "ticket_reopened"]),
        st.sampled_from(["T0", "T1", "T2", "T3", "T4"]),
        st.integers(0, 40 * 8).map(lambda eighth: eighth / 8),
    ),
    max_size=40,
)


@PROPERTY
@given(TICKET_EVENTS, st.randoms(use_true_random=False))
def test_a_ticket_is_open_when_its_latest_event_opens_it(
    items: list[tuple[str, str, float]], rnd: random.Random
) -> None:
    events = [
        make(kind, day, event_id=f"e{n}", ticket_id=ticket)
        for n, (kind, ticket, day) in enumerate(sorted(items, key=lambda i: i[2]))
    ]
    if not events:
        return
    latest: dict[str, tuple[float, bool]] = {}  # (day, resolved): a resolution wins a tie
    for kind, ticket, day in items:
        latest[ticket] = max(latest.get(ticket, (-1.0, False)), (day, kind == "ticket_resolved"))
    expected = sum(1 for _, resolved in latest.values() if not resolved)
    in_order, shuffled = _final(events), _final(_arrival(events, rnd))
    assert open_tickets(in_order.support) == open_tickets(shuffled.support) == expected
    assert in_order.facts_bytes() == shuffled.facts_bytes()


FLOOD = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "ticket_opened",
                "ticket_resolved",
                "invoice_paid",
                "invoice_failed",
                "milestone_planned",
                "milestone_completed",
            ]
        ),
        st.integers(0, 200),  # the id: many more than any cap
    ),
    min_size=50,
    max_size=300,
)


@PROPERTY
@given(FLOOD)
def test_floods_of_ids_stay_bounded_and_never_reopen_a_completed_milestone(
    items: list[tuple[str, int]],
) -> None:
    """Events in time order: a milestone whose newest event is its completion is never
    overdue, however many others pushed it out (a plan newer than it would reopen it)."""
    fields = {
        "ticket_opened": lambda i: {"ticket_id": f"t{i}"},
        "ticket_resolved": lambda i: {"ticket_id": f"t{i}"},
        "invoice_paid": lambda i: {"invoice_id": f"i{i}", "amount": 1.0},
        "invoice_failed": lambda i: {"invoice_id": f"i{i}", "amount": 1.0},
        "milestone_planned": lambda i: {"milestone_id": f"m{i}", "due": 1.0},
        "milestone_completed": lambda i: {"milestone_id": f"m{i}"},
    }
    events = [
        make(kind, n / 100, event_id=f"e{n}", **fields[kind](i))
        for n, (kind, i) in enumerate(items)
    ]
    state = _final(events)
    limits = CONFIG.limits
    assert len(state.billing.failed) <= limits.max_invoices
    assert len(state.billing.paid) <= limits.max_invoices
    w = state.success
    assert len(w.planned.keys() | w.completed.keys()) <= limits.max_milestones
    tickets = state.support.tickets.values()
    assert sum(t.open for t in tickets) <= MAX_OPEN_TICKETS
    assert sum(not t.open for t in tickets) <= MAX_RESOLVED_TICKETS
    last_milestone_event = {i: kind for kind, i in items if kind.startswith("milestone_")}
    completed = {f"m{i}" for i, kind in last_milestone_event.items() if kind.endswith("completed")}
    assert state.clock.max_ts is not None
    assert not set(overdue_ids(w, day_of(state.clock.max_ts) + 1)) & completed


def test_a_plan_newer_than_the_completion_reopens_a_milestone_in_any_order(
    config: ScoringConfig, model: ChurnModel
) -> None:
    planned = make("milestone_planned", 1, event_id="p1", milestone_id="M", due=3)
    completed = make("milestone_completed", 2, event_id="c", milestone_id="M")
    replanned = make("milestone_planned", 2.5, event_id="p2", milestone_id="M", due=4)
    for order in ([planned, completed, replanned], [replanned, completed, planned]):
        state, _ = run(order, config, model)
        assert state is not None and "M" not in state.success.completed
        assert overdue_ids(state.success, day_of(replanned.ts.timestamp()) + 3) == ("M",)
    state, _ = run([planned, completed], config, model)
    assert state is not None and state.success.completed.keys() == {"M"}
