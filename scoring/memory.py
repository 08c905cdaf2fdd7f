"""Advancing the path-dependent memory: classes with hysteresis, health history, churn snapshots."""

from __future__ import annotations

from typing import NamedTuple

from scoring import outcomes
from scoring.churn import ChurnModel, LabelledExample
from scoring.classes import Classes, classify_all
from scoring.config import ScoringConfig
from scoring.evaluate import Evaluation
from scoring.facts import Memory, Snapshot
from scoring.health import record_health, trend
from scoring.state import AccountState


class MemoryStep(NamedTuple):
    """What one event does to the memory, before the alert and emission outputs are known
    (`memory` builds the new Memory with them)."""

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
    return MemoryStep(classes, trends, examples, start, points, snaps, last_snapshot)
