"""Settled facts (paid invoices, completed milestones, resolved tickets) stay settled.

Each container is bounded; these histories push past the bounds and check that
eviction never brings a settled fact back as an open one, and that garbage (ids
never opened, repeated settlements) does not hide a real open one.
"""

from __future__ import annotations

from scoring import ChurnModel, ScoringConfig
from scoring.decay import day_of
from scoring.signals.company import outstanding_ids
from scoring.signals.happiness import open_tickets
from scoring.signals.success import overdue_ids
from tests.unit.scoring.factory import Events, run


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
