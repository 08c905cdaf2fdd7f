"""The live shadow scorecard: what `config.shadow_scorecard` makes of the account the
live score was just made for, beside that score.

A scorecard holds health weights only, so the shadow needs no state of its own:
it reads the very state the live step left (facts and memory) and changes
nothing. Only health, coverage and the band can differ from the live score;
churn risk, quadrants and tier do not read the weights and come out as the live
ones (they are in the row so that it reads on its own).

The shadow keeps no memory, so its band's hysteresis starts from the live
band: within `health.hysteresis` points of a border the shadow band stays the
live one, and a live -> shadow band migration is a move clearly across a
border. One shadow scorecard is applied to every account, whatever its
segment (live, `scorecard_for(segment)` picks per segment).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schemas.events import Tier
from schemas.outputs import Band, ReadinessQuadrant, ScoreRecord, SuccessQuadrant
from scoring.churn import ChurnModel
from scoring.classes import classify_all
from scoring.config import ScoringConfig
from scoring.errors import ScoringError
from scoring.evaluate import evaluate
from scoring.state import AccountState


@dataclass(frozen=True, slots=True)
class ShadowScore:
    """One live score and what the shadow scorecard gives for the same state."""

    account_id: str
    ts: datetime
    event_id: str
    events_applied: int
    scorecard: str
    health: float
    band: Band
    coverage: float
    readiness_quadrant: ReadinessQuadrant | None
    success_quadrant: SuccessQuadrant | None
    churn_risk: float | None
    tier: Tier
    live_health: float
    live_band: Band
    config_version: str
    """`<version>:shadow:<scorecard>`, as `score_state` stamps it."""
    live_config_version: str


def shadow_score(
    state: AccountState, live: ScoreRecord, config: ScoringConfig, model: ChurnModel
) -> ShadowScore | None:
    """The shadow of `live`, the score just made from `state`; None when the config names
    no shadow scorecard. `state` is the state after the step that made `live`."""
    name = config.shadow_scorecard
    if name is None:
        return None
    if state.clock.max_ts is None or live.account_id != state.account_id:
        raise ScoringError("a shadow score needs the state its live score was made from")
    ev = evaluate(state, config, model, config.scorecards[name])
    classes = classify_all(state, ev, config)
    return ShadowScore(
        account_id=live.account_id,
        ts=live.ts,
        event_id=live.event_id,
        events_applied=live.events_applied,
        scorecard=name,
        health=round(ev.health.health, 2),
        band=classes.band,
        coverage=round(ev.health.coverage, 4),
        readiness_quadrant=classes.readiness,
        success_quadrant=classes.success,
        churn_risk=None if state.billing.cancelled else round(ev.churn_risk, 4),
        tier=classes.tier,
        live_health=live.health,
        live_band=live.band,
        config_version=f"{config.version}:shadow:{name}",
        live_config_version=live.config_version,
    )
