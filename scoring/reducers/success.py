"""Success reducers: goals, milestones, fits, sponsors, meetings, importance.

A milestone is completed when its newest completion is not older than its newest
plan (a plan made after the completion reopens it), so its status is a function of
its events in any order, and forgetting a completed milestone whole is exact for
every newer event about it: only an older plan arriving after it was pushed out
(more than `limits.max_milestones` newer ones within the lateness) could reopen it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas import events as ev
from scoring.bounded import put_max
from scoring.facts import Planned, Stamped
from scoring.scratch import Reducer, Scratch, newer, rebuild


def _success(s: Scratch, **changes: Any) -> None:
    s.success = rebuild(s.success, **changes)


def _goal(s: Scratch, e: ev.GoalDefined, ts: float, day: int, h: int) -> str:
    _success(s, goals=put_max(s.success.goals, e.goal_id, ts, s.config.limits.max_goals))
    return "goals"


def _bounded_milestones(
    planned: Mapping[str, Planned], completed: Mapping[str, float], cap: int
) -> tuple[Mapping[str, Planned], Mapping[str, float]]:
    """At most `cap` milestones, planned or completed. A milestone is forgotten whole (its
    plan with its completion), so a completed one never stays behind as planned only (it
    would turn overdue); completed milestones go first, the oldest completion first, so
    completions of ids never planned cannot push out open ones; then the oldest plan."""
    keys = planned.keys() | completed.keys()
    if len(keys) <= cap:
        return planned, completed
    planned, completed = dict(planned), dict(completed)
    for _ in range(len(keys) - cap):
        if completed:
            victim = min(completed, key=lambda k: (completed[k], k))
        else:
            victim = min(planned, key=lambda k: (planned[k].ts, planned[k].stamp, k))
        planned.pop(victim, None)
        completed.pop(victim, None)
    return planned, completed


def _milestone_planned(s: Scratch, e: ev.MilestonePlanned, ts: float, day: int, h: int) -> str:
    """The newest plan wins; a plan newer than the milestone's completion reopens it."""
    w = s.success
    if newer(ts, h, w.planned.get(e.milestone_id)):
        entry = Planned(ts, h, e.due.timestamp(), e.expansion)
        completed = w.completed
        done = completed.get(e.milestone_id)
        if done is not None and done < ts:
            completed = {k: t for k, t in completed.items() if k != e.milestone_id}
        planned, completed = _bounded_milestones(
            {**w.planned, e.milestone_id: entry}, completed, s.config.limits.max_milestones
        )
        _success(s, planned=planned, completed=completed)
    return "milestones"


def _milestone_completed(s: Scratch, e: ev.MilestoneCompleted, ts: float, day: int, h: int) -> str:
    """The newest completion, kept when it is not older than the milestone's newest plan."""
    w = s.success
    first = ts if w.first_value_ts is None else min(w.first_value_ts, ts)
    old = w.completed.get(e.milestone_id)
    plan = w.planned.get(e.milestone_id)
    if (old is not None and old >= ts) or (plan is not None and ts < plan.ts):
        if first != w.first_value_ts:
            _success(s, first_value_ts=first)
        return "milestones"
    planned, completed = _bounded_milestones(
        w.planned, {**w.completed, e.milestone_id: ts}, s.config.limits.max_milestones
    )
    _success(s, planned=planned, completed=completed, first_value_ts=first)
    return "milestones"


def _fit(s: Scratch, e: ev.FitAssessed, ts: float, day: int, h: int) -> str:
    if newer(ts, h, s.success.fits.get(e.fit.value)):
        _success(s, fits={**s.success.fits, e.fit.value: Stamped(ts, h, e.holds)})
    return "fits"


def _sponsor(s: Scratch, e: ev.SponsorEngaged, ts: float, day: int, h: int) -> str:
    s.add("sponsor", day, getattr(s.config.success.sponsor_seniority, e.seniority))
    return "engagement"


def _meeting(s: Scratch, e: ev.MeetingHeld, ts: float, day: int, h: int) -> str:
    s.add("meetings", day, 1.0)
    s.add("meeting_minutes", day, e.duration_minutes)
    return "engagement"


def _importance(s: Scratch, e: ev.ImportanceSet, ts: float, day: int, h: int) -> str:
    if newer(ts, h, s.success.importance):
        tier = None if e.tier is None else e.tier.value
        _success(s, importance=Stamped(ts, h, tier))
    return "importance"


REDUCERS: dict[str, Reducer] = {
    "goal_defined": _goal,
    "milestone_planned": _milestone_planned,
    "milestone_completed": _milestone_completed,
    "fit_assessed": _fit,
    "sponsor_engaged": _sponsor,
    "meeting_held": _meeting,
    "importance_set": _importance,
}
