"""Building the output models (ScoreRecord, Transition, Driver) from an evaluation.

Records are built with `scoring.trusted.trusted`: every value is valid by
construction here, and validating ~30 fields per event would cost more than
the whole scoring step.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from schemas.events import SCHEMA_VERSION
from schemas.outputs import (
    Driver,
    ScoreRecord,
    Transition,
    TransitionKind,
)
from scoring.churn import ChurnModel, contributions
from scoring.classify import ENGAGEMENT
from scoring.config import ScoringConfig
from scoring.decay import DAY
from scoring.evaluate import Evaluation
from scoring.facts import Evidence, Memory
from scoring.health import Contribution, top_by_effect
from scoring.names import SIGNALS
from scoring.step import Drivers, Step
from scoring.trusted import trusted

SIGNAL_SOURCES: dict[str, tuple[str, ...]] = {
    "feature_breadth": ("usage", "billing"),
    "feature_depth": ("usage",),
    "velocity": ("usage",),
    "adoption": ("usage", "billing"),
    "milestone_completion": ("milestones", "billing"),
    "customer_happiness": ("support",),
    "company_happiness": ("billing", "support", "engagement"),
    "goal_clarity": ("goals", "milestones"),
    "priority": ("engagement", "milestones", "usage"),
    "commitment": ("billing",),
}
"""Which evidence sources (see `scoring.reducers`) move each signal."""


def event_ids(evidence: Evidence, signal: str, n: int) -> tuple[str, ...]:
    """Ids of the newest events behind a signal, newest first."""
    if n <= 0:
        return ()
    sources = SIGNAL_SOURCES[signal]
    pairs: Sequence[tuple[int, str]]
    if len(sources) == 1:  # a source's pairs are kept ascending (`engine._push_evidence`)
        pairs = evidence.get(sources[0], ())
    else:
        merged: list[tuple[int, str]] = []
        for source in sources:
            merged += evidence.get(source, ())
        merged.sort()
        pairs = merged
    return tuple([event_id for _, event_id in pairs[-n:]][::-1])


def freshness_days(ev: Evaluation, evidence: Evidence) -> float | None:
    """Age in days of the newest data behind each known signal, weighted like health."""
    newest = {source: float(pairs[-1][0]) for source, pairs in evidence.items() if pairs}
    num = den = 0.0
    for signal, _, weight, _ in ev.health.known:
        latest = -1.0
        for source in SIGNAL_SOURCES[signal]:
            t = newest.get(source, -1.0)
            if t > latest:
                latest = t
        if latest >= 0.0:
            num += weight * (ev.now_ts - latest)
            den += weight
    return round(max(0.0, num / den) / DAY, 3) if den else None


def contribution_driver(c: Contribution, evidence: Evidence, n_ids: int) -> Driver:
    """One health contribution as a driver, with the newest events behind its signal."""
    return trusted(
        Driver,
        {
            "signal": c.signal,
            "value": round(c.value, 4),
            "weight": round(c.weight, 4),
            "effect": round(c.effect, 2),
            "event_ids": event_ids(evidence, c.signal, n_ids),
        },
    )


def health_drivers(ev: Evaluation, evidence: Evidence, config: ScoringConfig) -> tuple[Driver, ...]:
    n_ids = config.limits.driver_event_ids
    return tuple(
        contribution_driver(c, evidence, n_ids)
        for c in top_by_effect(ev.health.contributions(), config.health.max_drivers)
    )


def drivers_once(ev: Evaluation, evidence: Evidence, config: ScoringConfig) -> Drivers:
    built: list[tuple[Driver, ...]] = []  # a closure: ~0.3 us per event, most never call it

    def drivers() -> tuple[Driver, ...]:
        if not built:
            built.append(health_drivers(ev, evidence, config))
        return built[0]

    return drivers


def signal_effects(ev: Evaluation) -> tuple[float, ...]:
    """Each signal's health effect in points vs the neutral 50 (SIGNALS order, 0 when
    unknown), rounded to 4 places: they add up to health - 50."""
    effects = [0.0] * len(SIGNALS)
    for c in ev.health.contributions():
        effects[_INDEX[c.signal]] = round(c.effect, 4)
    return tuple(effects)


def _ids_since(evidence: Evidence, signal: str, since: int, n: int) -> tuple[str, ...]:
    """Ids of the newest events of a signal's own evidence newer than `since`, newest first."""
    pairs = sorted(p for source in SIGNAL_SOURCES[signal] for p in evidence.get(source, ()))
    return tuple(event_id for ts, event_id in reversed(pairs) if ts > since)[:n]


def change_drivers(
    ev: Evaluation, evidence: Evidence, previous: Memory, config: ScoringConfig
) -> tuple[tuple[Driver, ...], float | None]:
    """The drivers of change since the previous published score (`previous.emitted`) and the
    health change; ((), None) for the first score.

    Each signal whose effect moved at least 0.005 points is a driver: `effect` is the move,
    `value` and `weight` the signal's now, `event_ids` the newest events of that signal's
    own evidence newer than the previous score (none: time alone moved it, by decay or by
    another signal becoming known and sharing out the weights). Largest move first; they
    add up to the health change within rounding."""
    last, before = previous.emitted, previous.emitted_effects
    if last is None or len(before) != len(SIGNALS):
        return (), None
    now = signal_effects(ev)
    weights = {c.signal: c.weight for c in ev.health.contributions()}
    since, n_ids = int(last[0]), config.limits.driver_event_ids
    moved = sorted(
        (i for i in range(len(SIGNALS)) if abs(now[i] - before[i]) >= 0.005),
        key=lambda i: -abs(now[i] - before[i]),
    )
    drivers = tuple(
        trusted(
            Driver,
            {
                "signal": SIGNALS[i],
                "value": _round4(ev.values[i]),
                "weight": round(weights.get(SIGNALS[i], 0.0), 4),
                "effect": round(now[i] - before[i], 2),
                "event_ids": _ids_since(evidence, SIGNALS[i], since, n_ids),
            },
        )
        for i in moved
    )
    return drivers, round(ev.health.health - last[1], 2)


_INDEX = {name: i for i, name in enumerate(SIGNALS)}


def churn_drivers(ev: Evaluation, model: ChurnModel, n: int) -> tuple[Driver, ...]:
    """The `n` largest log-odds contributions (`churn.contributions`) by absolute value
    (ties: feature order), zeros left out, as drivers named by churn feature."""
    coefficients, values, names = model.coefficients, ev.features, model.features
    parts = contributions(model, values)
    order = sorted(range(len(parts)), key=[-abs(p) for p in parts].__getitem__)
    drivers = []
    for i in order[:n]:
        part = parts[i]
        if part != 0.0:
            drivers.append(
                trusted(
                    Driver,
                    {
                        "signal": names[i],
                        "value": _round4(values[i]),
                        "weight": round(coefficients[i], 4),
                        "effect": round(part, 4),
                        "event_ids": (),
                    },
                )
            )
    return tuple(drivers)


def _round4(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def as_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def score_record(step: Step) -> ScoreRecord:
    """The score of a step, with its drivers of change since the previous published score
    (`state.memory.emitted`)."""
    state, ev, classes, config, model = step.state, step.ev, step.classes, step.config, step.model
    evidence = state.evidence
    change, health_change = change_drivers(ev, evidence, state.memory, config)
    cancelled = state.billing.cancelled
    return trusted(
        ScoreRecord,
        {
            "account_id": state.account_id,
            "ts": step.at,
            "event_id": step.event_id,
            "health": round(ev.health.health, 2),
            "band": classes.band,
            "trend_7d": step.trends[0],
            "trend_30d": step.trends[1],
            "coverage": round(ev.health.coverage, 4),
            "freshness_days": freshness_days(ev, evidence),
            "signals": dict(zip(SIGNALS, map(_round4, ev.values), strict=True)),
            "readiness_quadrant": classes.readiness,
            "success_quadrant": classes.success,
            "happiness_band": classes.happiness,
            # a cancelled account has already churned: it carries no churn risk
            "churn_risk": None if cancelled else round(ev.churn_risk, 4),
            "churn_drivers": ()
            if cancelled
            else churn_drivers(ev, model, config.health.max_drivers),
            "tier": classes.tier,
            "engagement": ENGAGEMENT[classes.tier],
            "success_potential": classes.potential,
            "fits": dict(ev.fits),
            "opportunities": classes.opportunities,
            "drivers": step.drivers(),
            "change_drivers": change,
            "health_change": health_change,
            "segment": ev.segment,
            "mrr": ev.mrr,
            "cancelled": cancelled,
            "events_applied": state.clock.events_applied,
            "config_version": config.version,
            "model_version": model.version,
            "schema_version": SCHEMA_VERSION,
        },
    )


def transitions(step: Step) -> tuple[Transition, ...]:
    """One Transition per classification whose value changed since the previous step (the
    state's memory), with the health drivers."""
    old, new = step.state.memory, step.classes
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
    return tuple(transition(step, kind, a, b) for kind, a, b in pairs if a != b)


def transition(
    step: Step, kind: TransitionKind, old: str | bool | None, new: str | bool | None
) -> Transition:
    def text(v: str | bool | None) -> str | None:
        return None if v is None else str(v).lower() if isinstance(v, bool) else str(v)

    return trusted(
        Transition,
        {
            "account_id": step.state.account_id,
            "ts": step.at,
            "kind": kind,
            "from_value": text(old),
            "to_value": text(new),
            "event_id": step.event_id,
            "drivers": step.drivers(),
            "config_version": step.config.version,
            "schema_version": SCHEMA_VERSION,
        },
    )
