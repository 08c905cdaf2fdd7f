"""Drivers of change: what moved a published score since the previous published one."""

from __future__ import annotations

from itertools import pairwise

from schemas.outputs import ScoreRecord
from scoring import ChurnModel, ScoringConfig
from scoring.names import SIGNALS
from scoring.outputs import SIGNAL_SOURCES
from tests.unit.scoring.factory import Events, run
from tests.unit.scoring.scripts import healthy


def _published(ev: Events, config: ScoringConfig, model: ChurnModel) -> list[ScoreRecord]:
    _, steps = run(ev, config, model)
    return [s.score for s in steps if s.emit and s.score is not None]


def _turning_sour() -> Events:
    ev = healthy(days=25)
    for i, day in enumerate((25.2, 26.2, 27.2)):
        ev.add("nps_response", day, score=0)
        ev.add("ticket_opened", day + 0.1, ticket_id=f"T{i}", priority="urgent")
        ev.add("ticket_escalated", day + 0.2, ticket_id=f"T{i}")
        ev.add("invoice_failed", day + 0.3, invoice_id=f"F{i}", amount=2000.0)
    ev.items.sort(key=lambda e: e.ts)
    return ev


def test_the_drivers_of_change_add_up_to_the_change_since_the_previous_published_score(
    config: ScoringConfig, model: ChurnModel
) -> None:
    published = _published(_turning_sour(), config, model)
    assert published[0].change_drivers == () and published[0].health_change is None
    moved = 0
    for before, after in pairwise(published):
        change = after.health - before.health
        assert after.health_change is not None
        assert abs(after.health_change - change) <= 0.011
        total = sum(d.effect for d in after.change_drivers)
        # each signal's move is rounded to 0.01 or left out under 0.005; health to 0.01
        assert abs(total - change) <= 0.005 * len(SIGNALS) + 0.01, after
        efforts = [abs(d.effect) for d in after.change_drivers]
        assert efforts == sorted(efforts, reverse=True)
        moved += bool(after.change_drivers)
    assert moved >= len(published) // 2


def test_each_driver_of_change_names_events_of_its_own_signal_since_the_previous_score(
    config: ScoringConfig, model: ChurnModel
) -> None:
    ev = _turning_sour()
    by_id = {e.event_id: e for e in ev}
    types_of_source = {  # the event types each evidence source holds (`scoring.reducers`)
        "usage": {"feature_used"},
        "support": {
            "ticket_opened",
            "ticket_escalated",
            "ticket_resolved",
            "ticket_reopened",
            "nps_response",
            "csat_response",
            "feedback_submitted",
        },
        "billing": {
            "subscription_started",
            "subscription_changed",
            "subscription_cancelled",
            "invoice_paid",
            "invoice_failed",
            "credit_issued",
            "discount_applied",
        },
        "goals": {"goal_defined"},
        "milestones": {"milestone_planned", "milestone_completed"},
        "engagement": {"sponsor_engaged", "meeting_held"},
    }
    published = _published(ev, config, model)
    named = 0
    for before, after in pairwise(published):
        for d in after.change_drivers:
            for event_id in d.event_ids:
                event = by_id[event_id]
                assert event.ts > before.ts  # caused the move: newer than the previous score
                allowed = set().union(*(types_of_source[s] for s in SIGNAL_SOURCES[d.signal]))
                assert event.type in allowed, (d.signal, event.type)
                named += 1
    unhappier = [
        d
        for s in published
        for d in s.change_drivers
        if d.signal == "customer_happiness" and d.effect < 0
    ]
    assert unhappier and all(d.event_ids for d in unhappier)  # the detractor NPS, tickets
    assert named > 0


def test_the_level_drivers_are_kept(config: ScoringConfig, model: ChurnModel) -> None:
    last = _published(_turning_sour(), config, model)[-1]
    assert last.drivers and abs(sum(d.effect for d in last.drivers)) > 0


def test_an_alert_message_says_what_moved_since_the_previous_published_score(
    config: ScoringConfig, model: ChurnModel
) -> None:
    _, steps = run(_turning_sour(), config, model)
    alerts = [a for s in steps for a in s.alerts if a.kind == "entered_work_to_keep"]
    assert alerts and "since the last published score: customer happiness -" in alerts[0].message


def test_each_driver_of_change_takes_its_events_from_its_own_signals_evidence(
    config: ScoringConfig, model: ChurnModel
) -> None:
    """Every event a driver of change names is in the evidence of that signal's own
    sources (`SIGNAL_SOURCES`) in the state the score was published from."""
    _, steps = run(_turning_sour(), config, model)
    checked = 0
    for step in steps:
        if not step.emit or step.score is None:
            continue
        for d in step.score.change_drivers:
            evidence = {
                event_id
                for source in SIGNAL_SOURCES[d.signal]
                for _, event_id in step.state.evidence.get(source, ())
            }
            assert set(d.event_ids) <= evidence, (d.signal, d.event_ids)
            checked += len(d.event_ids)
    assert checked > 0
