"""The classifications of an account after one step (`Classes`), hysteresis applied:
readiness and success quadrants, happiness and health bands, importance tier, success
potential and opportunities. The rules of each class are in `scoring.classify`; the
memory's previous classes give the hysteresis.
"""

from __future__ import annotations

from typing import NamedTuple

from schemas.events import Tier
from schemas.outputs import Band, HappinessBand, ReadinessQuadrant, SuccessQuadrant
from scoring import classify
from scoring.config import ScoringConfig
from scoring.decay import DAY
from scoring.evaluate import Evaluation, value_at_stake
from scoring.names import SIGNALS
from scoring.state import AccountState

_INDEX = {name: i for i, name in enumerate(SIGNALS)}


class Classes(NamedTuple):
    """The classifications after one event (hysteresis already applied)."""

    readiness: ReadinessQuadrant | None
    success: SuccessQuadrant | None
    happiness: HappinessBand | None
    band: Band
    tier: Tier
    potential: bool | None
    opportunities: tuple[str, ...]


def classify_all(state: AccountState, ev: Evaluation, config: ScoringConfig) -> Classes:
    """The classes of `state` evaluated as `ev`, the hysteresis from the state's memory."""
    m, v = state.memory, ev.values
    r, q, h, t = config.readiness, config.success_quadrant, config.health, config.tiers
    first = state.clock.first_ts
    observed = first is not None and ev.now_ts - first >= r.observation_days * DAY
    clarity = v[_INDEX["goal_clarity"]]
    sv = ev.success
    readiness = classify.readiness_quadrant(
        classify.evidence_axis(clarity, clarity is not None, observed),
        classify.evidence_axis(
            v[_INDEX["priority"]], sv.sponsor is not None or sv.meetings is not None, observed
        ),
        (r.clarity_threshold, r.priority_threshold),
        r.hysteresis,
        m.readiness,
    )
    cancelled = state.billing.cancelled
    success = classify.success_quadrant(
        v[_INDEX["customer_happiness"]],
        v[_INDEX["company_happiness"]],
        (q.customer_threshold, q.company_threshold),
        q.hysteresis,
        m.success,
        cancelled,
    )
    band = classify.health_band(ev.health.health, h.red_below, h.green_at, h.hysteresis, m.band)
    importance = state.success.importance
    override = None if importance is None or importance.value is None else str(importance.value)
    tier = classify.importance_tier(
        value_at_stake(ev, config),
        t.want_to_have_arr,
        t.must_have_arr,
        t.hysteresis_ratio,
        m.tier,
        override,
    )
    return Classes(
        readiness=readiness,
        success=success,
        happiness=classify.happiness_band(
            v[_INDEX["customer_happiness"]], config.happiness.band_thresholds
        ),
        band=band,
        tier=tier,
        potential=ev.potential,
        opportunities=() if cancelled else opportunities(ev, band, config),
    )


def opportunities(ev: Evaluation, band: Band, config: ScoringConfig) -> tuple[str, ...]:
    """Seeds 001/002: expansion and advocacy, only on a healthy (green) account."""
    if band is not Band.GREEN:
        return ()
    found = []
    near_limit = (ev.usage.seat_utilization or 0.0) >= config.opportunities.seat_utilization
    if ev.success.recent_expansion or near_limit:
        found.append("expansion")
    if ev.strong_nps and ev.success.recent_milestone:
        found.append("advocacy")
    return tuple(found)
