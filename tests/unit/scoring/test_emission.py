"""StepResult.emit: one score message per meaningful change or heartbeat, decided per event."""

from __future__ import annotations

import pytest

from scoring import ChurnModel, ScoringConfig, process
from scoring.emission import decide
from scoring.evaluate import evaluate
from scoring.facts import Memory
from tests.unit.scoring.factory import Events, make, run
from tests.unit.scoring.scripts import healthy


def _steady() -> Events:
    """One user repeating the same feature: nothing moves after the first few events."""
    ev = Events().add("subscription_started", 0, plan="starter", mrr=500.0, seats=1)
    for i in range(40):
        ev.add("feature_used", 1 + i / 100, user_id="u", feature="f")
    return ev


def test_the_first_score_is_emitted_then_only_meaningful_moves(
    config: ScoringConfig, model: ChurnModel
) -> None:
    _, steps = run(_steady(), config, model)
    assert steps[0].emit
    last = risk = None
    step_risk = config.emit.churn_risk_change
    for step in steps:  # health and risk move as usage builds: one message per 2 points / 0.05
        assert step.score is not None
        if step.emit:
            assert (
                last is None
                or abs(step.score.health - last) >= 2.0
                or abs(step.score.churn_risk - risk) >= step_risk
                or step.transitions
            )
            last, risk = step.score.health, step.score.churn_risk
        else:
            assert last is not None and abs(step.score.health - last) < 2.0
            assert abs(step.score.churn_risk - risk) < step_risk
    assert sum(s.emit for s in steps) <= 5  # the first score, health creeping, risk settling


@pytest.mark.parametrize(
    ("last", "health", "risk", "now_hours", "changed", "emit"),
    [
        (None, 50.0, 0.1, 0, False, True),  # first score
        ((0.0, 50.0, 0.1), 51.9, 0.1, 1, False, False),
        ((0.0, 50.0, 0.1), 52.0, 0.1, 1, False, True),  # health moved 2 points
        ((0.0, 50.0, 0.1), 48.0, 0.1, 1, False, True),  # either way
        ((0.0, 50.0, 0.1), 50.0, 0.149, 1, False, False),
        ((0.0, 50.0, 0.1), 50.0, 0.16, 1, False, True),  # churn risk moved 0.05 or more
        ((0.0, 50.0, 0.1), 50.0, 0.1, 23.9, False, False),
        ((0.0, 50.0, 0.1), 50.0, 0.1, 24, False, True),  # heartbeat
        ((0.0, 50.0, 0.1), 50.0, 0.1, 1, True, True),  # a class, condition or alert changed
    ],
)
def test_emission_rule(
    config: ScoringConfig,
    model: ChurnModel,
    last: tuple[float, float, float] | None,
    health: float,
    risk: float,
    now_hours: float,
    changed: bool,
    emit: bool,
) -> None:
    state, _ = run(_steady().items[:2], config, model)
    assert state is not None
    ev = evaluate(state, config, model)
    ev = ev._replace(
        now_ts=now_hours * 3600.0,
        churn_risk=risk,
        health=ev.health._replace(health=health),
    )
    decision, emitted = decide(Memory(emitted=last), ev, changed, config)
    assert decision is emit
    assert emitted == ((now_hours * 3600.0, health, risk) if emit else last)


def test_every_transition_and_alert_comes_with_an_emitted_score(
    config: ScoringConfig, model: ChurnModel
) -> None:
    _, steps = run(healthy(days=40), config, model)
    assert all(s.emit for s in steps if s.transitions or s.alerts)
    emitted = sum(s.emit for s in steps)
    assert 0 < emitted < len(steps) / 5


def test_the_memory_holds_the_last_emitted_score(config: ScoringConfig, model: ChurnModel) -> None:
    _, steps = run(healthy(days=10), config, model)
    last = [s for s in steps if s.emit][-1]
    assert last.score is not None and steps[-1].state.memory.emitted is not None
    ts, health, risk = steps[-1].state.memory.emitted
    assert (ts, health, risk) == (
        last.score.ts.timestamp(),
        last.score.health,
        last.score.churn_risk,
    )


def test_a_heartbeat_follows_event_time_not_the_number_of_events(
    config: ScoringConfig, model: ChurnModel
) -> None:
    state, _ = run(_steady(), config, model)
    later = make("feature_used", 3, event_id="later", user_id="u", feature="f")
    assert process(state, later, config, model).emit


def test_a_cancellation_is_emitted(config: ScoringConfig, model: ChurnModel) -> None:
    state, _ = run(_steady(), config, model)
    cancel = make("subscription_cancelled", 1.5, event_id="bye")
    assert process(state, cancel, config, model).emit
