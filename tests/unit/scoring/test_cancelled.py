"""Cancelled accounts are terminal until a new subscription (domain.md, Classifications):
no alerts, no churn risk, out of work-to-keep; their final state stays queryable."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from scoring import ChurnModel, ScoringConfig, score_state
from tests.unit.scoring.factory import Events, make, run
from tests.unit.scoring.test_alerts import CASES, flight_risk, payment_failed

EPSILON = timedelta(minutes=1)


def _cancel_before_first_alert(
    script: Callable[[], Events], config: ScoringConfig, model: ChurnModel
) -> tuple[Events, float]:
    """The script with a cancellation one minute before its first alert, and that day."""
    events = script()
    _, steps = run(events, config, model)
    first = min(a.ts for s in steps for a in s.alerts)
    cancel = make(
        "subscription_cancelled", 0, account=events.account, event_id="cancel", reason="price"
    ).model_copy(update={"ts": first - EPSILON})
    events.items.append(cancel)
    events.items.sort(key=lambda e: e.ts)
    return events, cancel.ts.timestamp()


@pytest.mark.parametrize(("kind", "script", "key"), CASES, ids=[c[2] for c in CASES])
def test_a_cancelled_account_raises_no_alert_after_its_cancellation(
    config: ScoringConfig,
    model: ChurnModel,
    kind: str,
    script: Callable[[], Events],
    key: str,
) -> None:
    """Each alert kind's story, cancelled just before its alert: nothing is raised from the
    cancellation on, though the story (and its condition) carries on afterwards."""
    events, cancelled_at = _cancel_before_first_alert(script, config, model)
    _, steps = run(events, config, model)
    after = [
        a
        for s in steps
        for a in s.alerts
        if s.state.clock.max_ts is not None and s.state.clock.max_ts >= cancelled_at
    ]
    assert after == []
    assert all(s.state.memory.conditions == () for s in steps if s.state.billing.cancelled)


def test_a_cancelled_account_carries_no_churn_risk_and_leaves_work_to_keep(
    config: ScoringConfig, model: ChurnModel
) -> None:
    events = flight_risk()
    _, steps = run(events, config, model)
    assert steps[-1].score is not None
    assert steps[-1].score.success_quadrant == "work_to_keep:flight_risk"
    last_day = (steps[-1].score.ts - events.items[0].ts).total_seconds() / 86_400
    events.add("subscription_cancelled", last_day + 0.1, reason="budget")
    state, steps = run(events, config, model)
    score = steps[-1].score
    assert score is not None and score.cancelled
    assert score.churn_risk is None and score.churn_drivers == ()
    assert score.success_quadrant is None
    assert score.opportunities == ()
    transitions = {(t.kind, t.from_value, t.to_value) for t in steps[-1].transitions}
    assert ("success_quadrant", "work_to_keep:flight_risk", None) in transitions
    # the final state stays queryable: health, signals and drivers as they were
    assert state is not None
    final = score_state(state, config, model)
    assert final.cancelled and final.churn_risk is None
    assert final.health == score.health and final.signals == score.signals
    assert final.signals["customer_happiness"] is not None and final.drivers


def test_a_new_subscription_ends_the_terminal_state(
    config: ScoringConfig, model: ChurnModel
) -> None:
    """Cancelled, then subscribed again: alerts and churn risk come back."""
    events = payment_failed(tier="must_have")
    cancel_day = 4.0
    events.items = [e for e in events.items if (e.ts - events.items[0].ts).days < cancel_day]
    events.add("subscription_cancelled", cancel_day, reason="budget")
    events.add("invoice_failed", 5, invoice_id="I1", amount=5000.0)
    events.add("subscription_started", 8, plan="growth", mrr=5000.0, seats=10)
    events.add("feature_used", 8.5, user_id="u0", feature="f0")
    _, steps = run(events, config, model)
    while_cancelled = [s for s in steps if s.state.billing.cancelled]
    assert while_cancelled and not any(s.alerts for s in while_cancelled)
    resumed = steps[-2]
    assert resumed.score is not None and not resumed.score.cancelled
    assert resumed.score.churn_risk is not None
    assert [a.kind for a in resumed.alerts] == ["payment_failed"]
