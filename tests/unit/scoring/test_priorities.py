"""Priorities a team can act on: the importance tier from the value at stake, severity as
tier x urgency, readiness from evidence or its absence (docs/scoring.md)."""

from __future__ import annotations

import dataclasses

import pytest

from schemas.events import Tier
from schemas.outputs import Alert, ReadinessQuadrant, Severity
from scoring import ChurnModel, ScoringConfig
from scoring.alerts import account_urgency
from tests.unit.scoring.factory import Events, run


def _declining(ev: Events, start: int, days: int) -> Events:
    """An account going wrong: detractor NPS, escalated tickets, failed invoices, no usage."""
    for i, day in enumerate(range(start, start + days, 3)):
        ev.add("ticket_opened", day + 0.1, ticket_id=f"T{i}", priority="urgent")
        ev.add("ticket_escalated", day + 0.2, ticket_id=f"T{i}")
        ev.add("nps_response", day + 0.3, score=0)
        ev.add("csat_response", day + 0.4, score=1)
        ev.add("invoice_failed", day + 0.5, invoice_id=f"F{i}", amount=100.0)
    return ev


def _busy(ev: Events, start: int, days: int, users: int) -> Events:
    for day in range(start, start + days):
        for user in range(users if day % 2 else 1):  # usage swings day to day
            ev.add("feature_used", day + 0.4, user_id=f"u{user}", feature=f"f{day % 5}")
    return ev


def test_a_must_have_account_stays_must_have_whatever_its_churn_risk(
    config: ScoringConfig, model: ChurnModel
) -> None:
    ev = Events().add("subscription_started", 0, plan="enterprise", mrr=5000.0, seats=50)
    _busy(ev, 0, 10, 20)
    _declining(ev, 10, 40)
    _, steps = run(ev, config, model)
    scores = [s.score for s in steps if s.score is not None]
    assert max(s.churn_risk for s in scores) >= config.alerts.churn_risk_threshold
    assert {s.tier for s in scores} == {Tier.MUST_HAVE}


def test_a_high_mrr_account_is_must_have(config: ScoringConfig, model: ChurnModel) -> None:
    ev = Events().add("subscription_started", 0, plan="enterprise", mrr=2900.0, seats=120)
    _busy(ev, 0, 5, 10)
    _, steps = run(ev, config, model)
    assert {s.score.tier for s in steps if s.score is not None} == {Tier.MUST_HAVE}


def test_the_tier_changes_only_when_the_value_at_stake_changes(
    config: ScoringConfig, model: ChurnModel
) -> None:
    """Usage, happiness and churn risk swing; only the two plan changes move the tier."""
    ev = Events().add("subscription_started", 0, plan="growth", mrr=2200.0, seats=20)
    _busy(ev, 0, 20, 20)
    _declining(ev, 20, 20)
    ev.add("subscription_changed", 40.5, plan="starter", mrr=300.0, seats=5)
    _busy(ev, 41, 10, 5)
    ev.add("subscription_changed", 51.5, plan="enterprise", mrr=3000.0, seats=50)
    _busy(ev, 52, 10, 20)
    ev.items.sort(key=lambda e: e.ts)
    _, steps = run(ev, config, model)
    by_id = {e.event_id: e for e in ev}
    moves = [t for s in steps for t in s.transitions if t.kind == "tier"]
    assert [(t.from_value, t.to_value) for t in moves] == [
        (None, "must_have"),
        ("must_have", "nice_to_have"),
        ("nice_to_have", "must_have"),
    ]
    assert [by_id[t.event_id].type for t in moves[1:]] == ["subscription_changed"] * 2
    risks = [s.score.churn_risk for s in steps if s.score is not None]
    assert max(risks) - min(risks) > 0.2  # the risk did swing


def test_an_open_expansion_milestone_raises_the_value_at_stake(
    config: ScoringConfig, model: ChurnModel
) -> None:
    ev = Events().add("subscription_started", 0, plan="growth", mrr=1800.0, seats=20)
    ev.add("milestone_planned", 1, milestone_id="X", due=30, expansion=True)
    _, steps = run(ev, config, model)
    assert [s.score.tier for s in steps] == [Tier.WANT_TO_HAVE, Tier.MUST_HAVE]


# --- severity = tier x urgency -------------------------------------------------------


def test_a_must_have_account_crossing_the_churn_threshold_raises_a_critical_alert(
    config: ScoringConfig, model: ChurnModel
) -> None:
    ev = Events().add("subscription_started", 0, plan="enterprise", mrr=5000.0, seats=50)
    _busy(ev, 0, 10, 20)
    _declining(ev, 10, 40)
    _, steps = run(ev, config, model)
    (alert,) = [a for s in steps for a in s.alerts if a.kind == "churn_risk_high"]
    assert (alert.tier, alert.severity) == (Tier.MUST_HAVE, Severity.CRITICAL)


@pytest.mark.parametrize(
    ("churn_risk", "drop", "arr_at_risk", "expected"),
    [
        (0.1, 0.0, 0.0, "normal"),
        (0.3, 0.0, 0.0, "elevated"),
        (0.5, 0.0, 0.0, "high"),
        (0.1, 10.0, 0.0, "elevated"),
        (0.1, 25.0, 0.0, "high"),
        (0.1, 0.0, 12_000.0, "elevated"),
        (0.1, 0.0, 60_000.0, "high"),
        (0.3, 25.0, 0.0, "high"),  # the highest of the three
    ],
)
def test_the_account_urgency_is_the_highest_of_risk_drop_speed_and_arr_at_risk(
    config: ScoringConfig, churn_risk: float, drop: float, arr_at_risk: float, expected: str
) -> None:
    assert account_urgency(churn_risk, drop, arr_at_risk, config) == expected


def test_risk_raises_the_severity_of_an_overdue_milestone(
    config: ScoringConfig, model: ChurnModel
) -> None:
    """The same overdue milestone on the same must-have account: medium while the account is
    well, critical once its churn risk is high. The model has learned a higher base rate
    than the prior's (intercept + 1.5 log-odds), so the declining account's risk crosses the
    threshold; the healthy one's stays low."""
    model = dataclasses.replace(model, intercept=model.intercept + 1.5)

    def overdue_alert(declining: bool) -> Alert:
        ev = Events().add("subscription_started", 0, plan="enterprise", mrr=5000.0, seats=50)
        if declining:
            _busy(ev, 0, 10, 20)
            _declining(ev, 10, 22)
        else:
            _busy(ev, 0, 30, 20)
        ev.add("milestone_planned", 30, milestone_id="M1", due=31)
        ev.add("feature_used", 32.5, user_id="u0", feature="f0")
        ev.items.sort(key=lambda e: e.ts)
        _, steps = run(ev, config, model)
        (alert,) = [a for s in steps for a in s.alerts if a.kind == "milestone_overdue"]
        return alert

    assert overdue_alert(declining=False).severity is Severity.MEDIUM
    assert overdue_alert(declining=True).severity is Severity.CRITICAL


def test_an_opportunity_is_not_raised_by_risk(config: ScoringConfig) -> None:
    assert not config.alerts.kinds.expansion_opportunity.raised_by_risk
    assert not config.alerts.kinds.advocacy_opportunity.raised_by_risk


# --- readiness from evidence or its absence ------------------------------------------


def _readiness(ev: Events, config: ScoringConfig, model: ChurnModel) -> list[tuple[float, object]]:
    """(days since the first event, readiness quadrant) of every score."""
    _, steps = run(ev, config, model)
    first = ev.items[0].ts
    return [
        ((s.score.ts - first).total_seconds() / 86400, s.score.readiness_quadrant)
        for s in steps
        if s.score is not None
    ]


def test_no_goal_or_sponsor_evidence_after_the_window_is_a_wanderer(
    config: ScoringConfig, model: ChurnModel
) -> None:
    ev = Events().add("subscription_started", 0, plan="growth", mrr=500.0, seats=20)
    _busy(ev, 0, 45, 20)
    window = config.readiness.observation_days
    seen = _readiness(ev, config, model)
    assert {q for d, q in seen if d < window} == {None}  # unknown while observed
    assert {q for d, q in seen if d >= window} == {ReadinessQuadrant.WANDERER}


def test_usage_alone_never_makes_an_account_high_priority(
    config: ScoringConfig, model: ChurnModel
) -> None:
    """Goals and milestones are clear and usage grows fast, but no sponsor nor meeting is
    recorded: a Dreamer once observed, never an Achiever or a Soldier."""
    ev = Events().add("subscription_started", 0, plan="growth", mrr=500.0, seats=40)
    ev.add("goal_defined", 0.1, goal_id="G1", desired_outcome="close the books faster")
    for i in range(3):
        ev.add("milestone_planned", 0.2, milestone_id=f"M{i}", due=5 + i)
        ev.add("milestone_completed", 2 + i, milestone_id=f"M{i}")
    for day in range(45):
        for user in range(1 + day // 2):  # usage keeps growing: velocity high
            ev.add("feature_used", day + 0.4, user_id=f"u{user}", feature=f"f{user % 6}")
    ev.items.sort(key=lambda e: e.ts)
    seen = _readiness(ev, config, model)
    assert {q for _, q in seen} == {None, ReadinessQuadrant.DREAMER}
    assert seen[-1][1] is ReadinessQuadrant.DREAMER


def test_evidence_arriving_after_the_window_replaces_the_known_low(
    config: ScoringConfig, model: ChurnModel
) -> None:
    ev = Events().add("subscription_started", 0, plan="growth", mrr=500.0, seats=20)
    _busy(ev, 0, 40, 5)
    ev.add("goal_defined", 40.5, goal_id="G1", desired_outcome="one source of truth")
    for i in range(3):
        ev.add("milestone_planned", 40.6, milestone_id=f"M{i}", due=60 + i)
    for day in (40.7, 41.7, 42.7):
        ev.add("sponsor_engaged", day, seniority="executive")
        ev.add("meeting_held", day, kind="check_in", duration_minutes=30)
    ev.items.sort(key=lambda e: e.ts)
    seen = _readiness(ev, config, model)
    assert [q for d, q in seen if 31 <= d < 40.5] == [ReadinessQuadrant.WANDERER] * len(
        [d for d, _ in seen if 31 <= d < 40.5]
    )
    assert seen[-1][1] is ReadinessQuadrant.ACHIEVER
