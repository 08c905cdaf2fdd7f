"""Whether a step's score is worth publishing: `StepResult.emit`.

The `scores` topic is compacted and keyed by account: a subscriber wants one
message when an account's score changes meaningfully, not one per event. A
step emits when

* it is the account's first score, or
* something a subscriber reacts to changed: a classification (a transition),
  the happiness band, whether the subscription is cancelled, the set of alert
  conditions (opportunities, overdue milestones, failed payments ...), or an
  alert fired; or
* health moved at least `emit.health_change` points, or churn risk at least
  `emit.churn_risk_change`, since the last emitted score; or
* `emit.heartbeat_hours` of event time passed since the last emitted score.

The last emitted (ts, health, churn risk) lives in the account's memory, so
the decision is made per event and is the same however the events are
batched.
"""

from __future__ import annotations

from scoring.config import ScoringConfig
from scoring.evaluate import Evaluation
from scoring.facts import Memory

Emitted = tuple[float, float, float]
"""(event time, health, churn risk) of the last emitted score."""


def decide(
    previous: Memory, ev: Evaluation, changed: bool, config: ScoringConfig
) -> tuple[bool, Emitted | None]:
    """(emit?, the memory's new `emitted`)."""
    last = previous.emitted
    health, risk = ev.health.health, ev.churn_risk
    if not changed and last is not None:
        e = config.emit
        if (
            ev.now_ts - last[0] < config.heartbeat_seconds
            and abs(health - last[1]) < e.health_change
            and abs(risk - last[2]) < e.churn_risk_change
        ):
            return False, last
    return True, (ev.now_ts, round(health, 2), round(risk, 4))
