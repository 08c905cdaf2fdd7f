"""The service labels its own churn training data."""

from __future__ import annotations

from scoring import ChurnModel, ScoringConfig
from scoring.outcomes import max_snapshots
from tests.unit.scoring.factory import Events, run


def _subscriber(days: int, cancel_day: float | None = None) -> Events:
    ev = Events().add("subscription_started", 0, plan="growth", mrr=500.0, seats=5)
    for day in range(1, days):
        ev.add("feature_used", day, user_id="u", feature="f")
    if cancel_day is not None:
        ev.add("subscription_cancelled", cancel_day)
    return ev


def test_snapshots_are_taken_each_interval_and_bounded(
    config: ScoringConfig, model: ChurnModel
) -> None:
    state, _ = run(_subscriber(80), config, model)
    assert state is not None
    assert [
        round(s.ts / 86400 - state.memory.snapshots[0].ts / 86400) for s in state.memory.snapshots
    ] == [0, config.churn.snapshot_interval_days]
    state, _ = run(_subscriber(400), config, model)
    assert state is not None and len(state.memory.snapshots) <= max_snapshots(config)


def test_cancellation_labels_recent_snapshots_positive(
    config: ScoringConfig, model: ChurnModel
) -> None:
    _, steps = run(_subscriber(100, cancel_day=100.5), config, model)
    examples = [e for s in steps for e in s.examples]
    assert examples and all(e.churned for e in examples)
    assert {e.model_version for e in examples} == {model.version}
    assert steps[-1].state.memory.snapshots == ()
    assert steps[-1].score is not None and steps[-1].score.cancelled


def test_survival_past_the_horizon_labels_negative(
    config: ScoringConfig, model: ChurnModel
) -> None:
    _, steps = run(_subscriber(200), config, model)
    examples = [e for s in steps for e in s.examples]
    assert examples and not any(e.churned for e in examples)
    lateness_days = config.allowed_lateness_hours / 24
    for step in steps:
        for example in step.examples:
            assert step.state.clock.max_ts is not None
            age = (step.state.clock.max_ts - example.snapshot_ts.timestamp()) / 86400
            assert age >= config.churn.horizon_days + lateness_days


def test_no_snapshots_after_cancellation(config: ScoringConfig, model: ChurnModel) -> None:
    ev = _subscriber(40, cancel_day=40.5)
    for day in range(41, 120):
        ev.add("feature_used", day, user_id="u", feature="f")
    state, _ = run(ev, config, model)
    assert state is not None and state.memory.snapshots == ()
