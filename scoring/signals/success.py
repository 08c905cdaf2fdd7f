"""Success signals: goal clarity, priority, milestone completion (seeds 000, 001) and fits (004)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from schemas.events import Fit
from scoring.config import ScoringConfig
from scoring.decay import DAY, DAYS_PER_MONTH, EMPTY, Series, day_of
from scoring.facts import SuccessFacts


def goal_clarity(success: SuccessFacts, config: ScoringConfig) -> float | None:
    """Goals defined (vs goal_target) and milestones planned (vs milestone_target), 0..1."""
    goals, planned = len(success.goals), len(success.planned)
    if not goals and not planned:
        return None
    s = config.success
    w = s.clarity_weights
    total = w.goals + w.milestones
    if total <= 0.0:
        return None
    g = min(1.0, goals / s.goal_target)
    m = min(1.0, planned / s.milestone_target)
    return (w.goals * g + w.milestones * m) / total


def time_to_value_score(
    success: SuccessFacts, started_ts: float | None, now_day: int, config: ScoringConfig
) -> float | None:
    """1 if the first milestone was completed within ttfv_target_days of the subscription start,
    target / actual if later; target / elapsed while still waiting past the target, which
    needs a milestone planned (without a success plan, first value is undefined for the
    account: unknown, not a wait that grows with tenure); else None."""
    if started_ts is None:
        return None
    target = config.success.ttfv_target_days
    if success.first_value_ts is not None:
        days = max(0.0, success.first_value_ts - started_ts) / DAY
    else:
        days = float(now_day - day_of(started_ts))
        if days <= target or not success.planned:
            return None
    return 1.0 if days <= target else target / days


def overdue_milestones(success: SuccessFacts, now_day: int) -> int:
    """Planned, not completed, and past the due day."""
    done = success.completed
    return sum(
        1 for key, p in success.planned.items() if day_of(p.due) < now_day and key not in done
    )


def overdue_ids(success: SuccessFacts, now_day: int) -> tuple[str, ...]:
    """The ids of the overdue milestones, sorted."""
    if not success.planned:
        return ()
    done = success.completed
    return tuple(
        sorted(k for k, p in success.planned.items() if day_of(p.due) < now_day and k not in done)
    )


def milestone_completion(
    success: SuccessFacts, ttv: float | None, now_day: int, config: ScoringConfig
) -> float | None:
    """completed / planned - overdue_penalty x overdue / planned, blended with time to value."""
    total = len(success.planned.keys() | success.completed.keys())
    if total == 0:
        return None
    s = config.success
    progress = len(success.completed) / total
    value = max(0.0, progress - s.overdue_penalty * overdue_milestones(success, now_day) / total)
    if ttv is None:
        return value
    return (1.0 - s.ttfv_weight) * value + s.ttfv_weight * ttv


def engagement_parts(
    series: Mapping[str, Series], now_day: int, config: ScoringConfig
) -> tuple[float | None, float | None]:
    """Sponsor engagement 1 - exp(-decayed engagement / norm), meeting cadence vs target."""
    s, hl = config.success, config.half_lives_days
    sponsor_series = series.get("sponsor", EMPTY)
    meetings_series = series.get("meetings", EMPTY)
    sponsor = None
    if not sponsor_series.is_empty:
        sponsor = 1.0 - math.exp(-sponsor_series.value(now_day, 0, hl.sponsor) / s.sponsor_norm)
    meetings = None
    if not meetings_series.is_empty:
        per_month = meetings_series.rate(now_day, 0, hl.meetings) * DAYS_PER_MONTH
        meetings = min(1.0, per_month / s.meetings_per_month_target)
    return sponsor, meetings


def priority(
    sponsor: float | None,
    meetings: float | None,
    ttv: float | None,
    velocity: float | None,
    config: ScoringConfig,
) -> float | None:
    """How high the initiative sits on the customer's list (0..1): weighted mean of the known
    parts sponsor engagement, meeting cadence, onboarding pace (time to value), velocity on 0..1."""
    pace = None if velocity is None else (velocity + 1.0) * 0.5
    w = config.success.priority_weights
    num = den = 0.0
    for value, weight in (
        (sponsor, w.sponsor),
        (meetings, w.meetings),
        (ttv, w.onboarding),
        (pace, w.velocity),
    ):
        if value is not None and weight > 0.0:
            num += weight * value
            den += weight
    return None if den == 0.0 else num / den


FIT_NAMES: tuple[str, ...] = tuple(f.value for f in Fit)


def fits(success: SuccessFacts) -> dict[str, bool | None]:
    """The six fits of seed 004; None where never assessed."""
    out: dict[str, bool | None] = {}
    for name in FIT_NAMES:
        entry = success.fits.get(name)
        out[name] = None if entry is None else bool(entry.value)
    return out


def success_potential(fit_values: Mapping[str, bool | None]) -> bool | None:
    """Binary: False if any fit fails, True if all six hold, None otherwise."""
    values = fit_values.values()
    if any(v is False for v in values):
        return False
    if all(v is True for v in values):
        return True
    return None
