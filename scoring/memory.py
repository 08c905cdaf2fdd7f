"""Advancing the path-dependent memory: classes with hysteresis, health history, churn snapshots."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from schemas.outputs import Band, Transition, TransitionKind
from scoring import classify, outcomes
from scoring.churn import ChurnModel, LabelledExample
from scoring.config import ScoringConfig
from scoring.decay import DAY
from scoring.evaluate import Evaluation, value_at_stake
from scoring.facts import Memory, Snapshot
from scoring.health import record_health, trend
from scoring.names import SIGNALS
from scoring.outputs import Classes, Drivers, transition
from scoring.state import AccountState

_INDEX = {name: i for i, name in enumerate(SIGNALS)}


class MemoryStep(NamedTuple):
    """What one event does to the memory, before the alert and emission outputs are known
    (`memory` builds the new Memory with them)."""

    previous: Memory
    classes: Classes
    trends: tuple[float | None, float | None]
    examples: tuple[LabelledExample, ...]
    health_start: int
    health_points: tuple[float | None, ...]
    snapshots: tuple[Snapshot, ...]
    last_snapshot_ts: float | None

    def memory(
        self,
        conditions: tuple[str, ...],
        fired: tuple[tuple[str, float], ...],
        emitted: tuple[float, float, float] | None,
        covered_since: int | None,
        emitted_effects: tuple[float, ...] = (),
    ) -> Memory:
        c = self.classes
        return Memory(
            c.readiness,  # StrEnum members are the strings themselves
            c.success,
            c.band,
            c.tier,
            c.potential,
            self.health_start,
            self.health_points,
            self.snapshots,
            self.last_snapshot_ts,
            c.happiness,
            conditions,
            fired,
            emitted,
            covered_since,
            emitted_effects,
        )

    def transitions(
        self, account_id: str, ts: datetime, event_id: str, drivers: Drivers, config: ScoringConfig
    ) -> tuple[Transition, ...]:
        """One Transition per classification whose value changed, with the health drivers."""
        old, new = self.previous, self.classes
        if (old.readiness, old.success, old.band, old.tier, old.potential) == (
            new.readiness,
            new.success,
            new.band,
            new.tier,
            new.potential,
        ):
            return ()
        pairs: tuple[tuple[TransitionKind, str | bool | None, str | bool | None], ...] = (
            ("readiness_quadrant", old.readiness, new.readiness),
            ("success_quadrant", old.success, new.success),
            ("health_band", old.band, new.band),
            ("tier", old.tier, new.tier),
            ("success_potential", old.potential, new.potential),
        )
        return tuple(
            transition(account_id, ts, kind, a, b, event_id, drivers(), config)
            for kind, a, b in pairs
            if a != b
        )


def classify_all(state: AccountState, ev: Evaluation, config: ScoringConfig) -> Classes:
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


def _snapshots(
    state: AccountState,
    ev: Evaluation,
    cancel_ts: float | None,
    config: ScoringConfig,
    model: ChurnModel,
) -> tuple[tuple[Snapshot, ...], float | None, tuple[LabelledExample, ...]]:
    m, account = state.memory, state.account_id
    snaps = m.snapshots
    examples: tuple[LabelledExample, ...] = ()
    if cancel_ts is not None and snaps:
        snaps, examples = outcomes.label_cancellation(account, snaps, cancel_ts, config)
    snaps, survivors = outcomes.label_survivors(account, snaps, ev.now_ts, config)
    last = m.last_snapshot_ts
    status = state.billing.status
    first = state.clock.first_ts if state.clock.first_ts is not None else ev.now_ts
    if (
        status is not None
        and status.active
        and outcomes.due_snapshot(last, first, ev.now_ts, config)
    ):
        taken = Snapshot(
            ev.now_ts, outcomes.round_features(ev.features), round(ev.churn_risk, 4), model.version
        )
        snaps = (*snaps, taken)[-outcomes.max_snapshots(config) :]
        last = ev.now_ts
    return snaps, last, examples + survivors


def advance_memory(
    state: AccountState,
    ev: Evaluation,
    cancel_ts: float | None,
    config: ScoringConfig,
    model: ChurnModel,
) -> MemoryStep:
    """Classes, trends, the memory's new parts and any churn examples that became labelled."""
    m = state.memory
    classes = classify_all(state, ev, config)
    start, points = record_health(
        m.health_start, m.health_points, ev.now_day, ev.health.health, config.health.history_days
    )
    health = ev.health.health
    trends = (
        trend(start, points, ev.now_day, health, 7),
        trend(start, points, ev.now_day, health, 30),
    )
    snaps, last_snapshot, examples = _snapshots(state, ev, cancel_ts, config, model)
    return MemoryStep(m, classes, trends, examples, start, points, snaps, last_snapshot)
