"""Alerts (scoring.alerts): one table row per kind, then severity, cool-down and dedupe."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from schemas.events import Tier
from schemas.outputs import Alert, Engagement, Severity
from scoring import ChurnModel, ConfigError, ScoringConfig, process
from scoring.alerts import KINDS, alert_id, conditions, health_drop, severity
from scoring.classes import classify_all
from scoring.config_load import config_from_mapping, packaged_defaults
from scoring.config_sections import URGENCIES, AlertKinds
from scoring.evaluate import evaluate
from scoring.facts import Memory
from tests.unit.scoring.factory import Events, at, run
from tests.unit.scoring.scripts import healthy


def with_config(**sections: Any) -> ScoringConfig:
    """The default config with some `alerts` / `emit` entries replaced."""
    data = packaged_defaults()
    for name, changes in sections.items():
        data[name] = {**data[name], **changes}
    return config_from_mapping(data)


def with_kind(kind: str, **changes: Any) -> ScoringConfig:
    data = packaged_defaults()
    kinds = data["alerts"]["kinds"]
    kinds[kind] = {**kinds[kind], **changes}
    return config_from_mapping(data)


# --- histories, one per alert kind ---------------------------------------------------


def _profitable(mrr: float = 5000.0, days: int = 20, tier: str | None = None) -> Events:
    """A profitable, busy, happy account: customer_success, no alert of its own."""
    ev = Events()
    ev.add("subscription_started", 0, plan="growth", mrr=mrr, seats=10)
    ev.add("invoice_paid", 0.5, invoice_id="I0", amount=mrr)
    if tier is not None:
        ev.add("importance_set", 0.6, tier=tier)
    for day in range(days):
        for user in range(8):
            ev.add("feature_used", day + 0.3, user_id=f"u{user}", feature=f"f{user}", quantity=3)
    ev.add("nps_response", 2, score=9).add("csat_response", 3, score=5)
    return ev


def flight_risk() -> Events:
    """Profitable, then NPS collapses and tickets escalate."""
    ev = _profitable()
    for day in (20.1, 20.2, 20.3, 21, 21.5, 22):
        ev.add("nps_response", day, score=0)
    for i in range(4):
        ev.add("ticket_opened", 20.4 + i * 0.3, ticket_id=f"T{i}", priority="urgent")
        ev.add("ticket_escalated", 20.5 + i * 0.3, ticket_id=f"T{i}")
    return _sorted(ev)


def unprofitable() -> Events:
    """Happy, but credits and support time cost more than the MRR."""
    ev = _profitable(mrr=300.0)
    for i in range(3):
        ev.add("credit_issued", 20 + i, amount=900.0)
        ev.add("ticket_opened", 20.2 + i, ticket_id=f"T{i}")
        ev.add("ticket_resolved", 20.4 + i, ticket_id=f"T{i}", handling_minutes=600)
    ev.add("nps_response", 22.5, score=10)
    return _sorted(ev)


def churning() -> Events:
    """Usage stops, NPS collapses, invoices fail: churn risk crosses 50 %."""
    ev = Events().add("subscription_started", 0, plan="growth", mrr=500.0, seats=20)
    for day in range(28):
        for user in range(3):
            ev.add("feature_used", day + 0.3, user_id=f"u{user}", feature="f", quantity=1)
    ev.add("nps_response", 1, score=8)
    for day in (40, 41, 42, 43):
        ev.add("nps_response", day, score=0)
        ev.add("invoice_failed", day + 0.1, invoice_id=f"I{day}", amount=500.0)
    return _sorted(ev)


def health_drop_script() -> Events:
    return flight_risk()


def overdue() -> Events:
    ev = _profitable(days=10)
    ev.add("milestone_planned", 1, milestone_id="M1", due=5)
    ev.add("milestone_planned", 1, milestone_id="M2", due=30)
    return _sorted(ev)


def payment_failed(tier: str = "must_have") -> Events:
    ev = _profitable(days=5, tier=tier)
    ev.add("invoice_failed", 5, invoice_id="I1", amount=5000.0)
    ev.add("feature_used", 5.5, user_id="u0", feature="f0")
    return ev


def potential_lost() -> Events:
    ev = _profitable(days=5)
    for fit in ("technical", "functional", "resource"):
        ev.add("fit_assessed", 5, fit=fit, holds=True)
    ev.add("fit_assessed", 5.1, fit="cultural", holds=False)
    return ev


CASES: list[tuple[str, Callable[[], Events], str]] = [
    ("entered_work_to_keep", flight_risk, "entered_work_to_keep:flight_risk"),
    ("entered_work_to_keep", unprofitable, "entered_work_to_keep:unprofitable"),
    ("churn_risk_high", churning, "churn_risk_high"),
    ("health_drop", health_drop_script, "health_drop"),
    ("milestone_overdue", overdue, "milestone_overdue:M1"),
    ("payment_failed", payment_failed, "payment_failed:I1"),
    ("success_potential_lost", potential_lost, "success_potential_lost"),
    ("expansion_opportunity", healthy, "expansion_opportunity"),
    ("advocacy_opportunity", healthy, "advocacy_opportunity"),
]


def _sorted(ev: Events) -> Events:
    ev.items.sort(key=lambda e: e.ts)
    return ev


def alerts_of(ev: Events, config: ScoringConfig, model: ChurnModel) -> list[Alert]:
    _, steps = run(ev, config, model)
    return [a for s in steps for a in s.alerts]


def test_every_kind_has_a_case_and_a_config_entry() -> None:
    # gone_quiet starts on a tick only: its cases are in test_clock.py
    assert {kind for kind, _, _ in CASES} | {"gone_quiet"} == set(KINDS)
    assert tuple(AlertKinds.model_fields) == KINDS


@pytest.mark.parametrize(("kind", "script", "key"), CASES, ids=[c[2] for c in CASES])
def test_each_kind_raises_exactly_one_alert_for_its_episode(
    config: ScoringConfig, model: ChurnModel, kind: str, script: Callable[[], Events], key: str
) -> None:
    ev = script()
    alerts = [a for a in alerts_of(ev, config, model) if a.kind == kind]
    assert len(alerts) == 1, [a.message for a in alerts]
    alert = alerts[0]
    assert alert.dedupe_key == f"{ev.account}:{key}"
    assert alert.alert_id == alert_id(alert.dedupe_key, alert.event_id)
    spec = getattr(config.alerts.kinds, kind)
    row = getattr(config.alerts.severity, alert.tier.value)
    assert alert.severity in row[URGENCIES.index(spec.urgency) :]
    assert alert.message and alert.drivers
    assert alert.config_version == config.version
    Alert.model_validate(alert.model_dump())  # built without validation: still valid


def test_no_alert_for_a_healthy_profitable_account(
    config: ScoringConfig, model: ChurnModel
) -> None:
    assert alerts_of(_profitable(days=30), config, model) == []


def test_replaying_the_same_events_gives_the_same_alert_ids(
    config: ScoringConfig, model: ChurnModel
) -> None:
    first = [a.model_dump_json() for a in alerts_of(flight_risk(), config, model)]
    again = [a.model_dump_json() for a in alerts_of(flight_risk(), config, model)]
    assert first == again and first


# --- severity: tier x urgency ------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "urgency", "expected"),
    [
        (Tier.MUST_HAVE, "high", Severity.CRITICAL),
        (Tier.MUST_HAVE, "elevated", Severity.HIGH),
        (Tier.MUST_HAVE, "normal", Severity.MEDIUM),
        (Tier.WANT_TO_HAVE, "high", Severity.HIGH),
        (Tier.WANT_TO_HAVE, "normal", Severity.LOW),
        (Tier.NICE_TO_HAVE, "high", Severity.MEDIUM),
        (Tier.NICE_TO_HAVE, "elevated", Severity.LOW),
    ],
)
def test_severity_is_tier_by_urgency(
    config: ScoringConfig, tier: Tier, urgency: str, expected: Severity
) -> None:
    assert severity(tier, urgency, config) is expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tier", "severity_", "engagement"),
    [
        ("must_have", Severity.CRITICAL, Engagement.ONE_TO_ONE),
        ("want_to_have", Severity.HIGH, Engagement.ONE_TO_SOME),
        ("nice_to_have", Severity.MEDIUM, Engagement.ONE_TO_MANY),
    ],
)
def test_a_failed_payment_is_more_severe_on_a_more_important_account(
    config: ScoringConfig, model: ChurnModel, tier: str, severity_: Severity, engagement: Engagement
) -> None:
    every_tier = with_kind("payment_failed", min_tier="nice_to_have")
    (alert,) = [a for a in alerts_of(payment_failed(tier), every_tier, model)]
    assert (alert.kind, alert.tier, alert.severity, alert.engagement) == (
        "payment_failed",
        Tier(tier),
        severity_,
        engagement,
    )


def test_a_disabled_kind_or_a_tier_below_min_tier_raises_nothing(model: ChurnModel) -> None:
    disabled = with_kind("payment_failed", enabled=False)
    assert alerts_of(payment_failed("must_have"), disabled, model) == []
    must_only = with_kind("payment_failed", min_tier="must_have")
    assert alerts_of(payment_failed("nice_to_have"), must_only, model) == []
    assert [a.kind for a in alerts_of(payment_failed("must_have"), must_only, model)] == [
        "payment_failed"
    ]


# --- cool-down and dedupe ------------------------------------------------------------


def _refailing(days: list[float]) -> Events:
    """Invoice I1 fails on each of `days` and is paid half a day later."""
    ev = _profitable(days=2)
    for day in days:
        ev.add("invoice_failed", day, invoice_id="I1", amount=5000.0)
        ev.add("invoice_paid", day + 0.5, invoice_id="I1", amount=5000.0)
    return ev


@pytest.mark.parametrize(
    ("fail_days", "cooldown", "expected_days"),
    [
        ([3, 5, 8], 7, [3]),  # within the cool-down of the first alert
        ([3, 11, 13], 7, [3, 11]),  # the cool-down ran out; 13 is within 11's
        ([3, 5, 8], 0, [3, 5, 8]),  # no cool-down: every episode alerts
        ([3, 5, 8], 1.5, [3, 5, 8]),
    ],
)
def test_cooldown_per_dedupe_key_in_event_time(
    model: ChurnModel, fail_days: list[float], cooldown: float, expected_days: list[float]
) -> None:
    config = with_kind("payment_failed", cooldown_days=cooldown)
    alerts = alerts_of(_refailing(fail_days), config, model)
    assert [a.kind for a in alerts] == ["payment_failed"] * len(expected_days)
    assert [a.ts.day - 5 for a in alerts] == expected_days  # ORIGIN is the 5th


def test_a_condition_that_keeps_holding_alerts_once(
    config: ScoringConfig, model: ChurnModel
) -> None:
    ev = payment_failed()
    for day in range(6, 40):  # the invoice stays unpaid for weeks
        ev.add("feature_used", day, user_id="u1", feature="f1")
    assert [a.kind for a in alerts_of(ev, config, model)].count("payment_failed") == 1


def no_cooldown(*kinds: str) -> ScoringConfig:
    data = packaged_defaults()
    for kind in kinds:
        data["alerts"]["kinds"][kind]["cooldown_days"] = 0
    return config_from_mapping(data)


def test_each_episode_has_its_own_dedupe_key(model: ChurnModel) -> None:
    config = no_cooldown("milestone_overdue", "payment_failed")  # else one per account and kind
    ev = _profitable(days=3)
    ev.add("milestone_planned", 1, milestone_id="M1", due=5)
    ev.add("milestone_planned", 1, milestone_id="M2", due=6)
    ev.add("invoice_failed", 3, invoice_id="A", amount=10.0)
    ev.add("invoice_failed", 3.1, invoice_id="B", amount=10.0)
    for day in range(4, 10):
        ev.add("feature_used", day, user_id="u1", feature="f1")
    alerts = alerts_of(_sorted(ev), config, model)
    keys = sorted(a.dedupe_key.removeprefix("acct-1:") for a in alerts)
    assert keys == [
        "milestone_overdue:M1",
        "milestone_overdue:M2",
        "payment_failed:A",
        "payment_failed:B",
    ]
    assert len({a.alert_id for a in alerts}) == 4


def test_long_ids_are_kept_short_in_memory_but_whole_in_the_alert(
    config: ScoringConfig, model: ChurnModel
) -> None:
    invoice = "invoice-" + "x" * 120
    ev = _profitable(days=2).add("invoice_failed", 3, invoice_id=invoice, amount=1.0)
    state, steps = run(ev, config, model)
    (alert,) = [a for s in steps for a in s.alerts]
    assert alert.dedupe_key == f"acct-1:payment_failed:{invoice}"
    assert state is not None
    assert all(len(key) <= 40 for key in state.memory.conditions)


def test_conditions_and_cooldowns_stay_bounded(model: ChurnModel) -> None:
    data = packaged_defaults()
    data["alerts"]["max_tracked"] = 4
    data["alerts"]["kinds"]["milestone_overdue"]["cooldown_days"] = 0
    config = config_from_mapping(data)
    ev = _profitable(days=2)
    for i in range(10):
        ev.add("milestone_planned", 1, milestone_id=f"M{i}", due=2)
    ev.add("feature_used", 4, user_id="u1", feature="f1")
    state, steps = run(_sorted(ev), config, model)
    assert state is not None
    assert len(state.memory.conditions) <= 4 and len(state.memory.fired) <= 4
    assert len([a for s in steps for a in s.alerts]) == 4


def test_cooldowns_past_their_time_are_forgotten(model: ChurnModel) -> None:
    config = with_kind("payment_failed", cooldown_days=2)
    state, _ = run(_refailing([3, 10]), config, model)
    assert state is not None
    assert [key for key, _ in state.memory.fired] == ["payment_failed:I1"]
    assert state.memory.fired[0][1] == at(10).timestamp()


# --- conditions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "now_day", "since", "expected"),
    [
        ((), 10, None, 0.0),
        ((80.0, None, 70.0), 12, None, 10.0),  # peak 80 on day 10, now 70
        ((80.0, None, 70.0), 18, None, 0.0),  # day 10 is out of the 7-day window
        ((90.0, 60.0, 70.0), 12, 11, 0.0),  # day 10 is before `since`
        ((90.0, 60.0, 75.0), 12, 11, 5.0),
        ((90.0, 60.0, 75.0), 12, 13, 0.0),  # nothing counts yet
    ],
)
def test_health_drop_against_the_recent_peak(
    points: tuple[float | None, ...], now_day: int, since: int | None, expected: float
) -> None:
    memory = Memory(health_start=10, health_points=points)
    assert health_drop(memory, now_day, 70.0, 7, since) == pytest.approx(expected)


def test_a_peak_scored_on_little_known_data_is_no_reference(
    config: ScoringConfig, model: ChurnModel
) -> None:
    """A worker catching up reads the support and success topics first: a glowing NPS and
    meetings alone (coverage 0.3) score 100 for days, then billing and usage arrive and
    health settles near 50, more than the alert's 15 points below: still no alert, the
    100 rested on too little known data."""
    ev = Events()
    ev.add("nps_response", 1, score=10).add("csat_response", 2, score=5)
    for day in range(3, 8):
        ev.add("meeting_held", day)
    ev.add("subscription_started", 0, plan="growth", mrr=100.0, seats=40)
    for day in range(8):
        ev.add("feature_used", day, user_id="u1", feature="f1")
    state, steps = run(ev, config, model)
    assert state is not None and state.memory.covered_since is not None
    health = [s.score.health for s in steps if s.score is not None]
    assert max(health[:7]) == 100.0 and max(health[8:]) < 100.0 - config.alerts.health_drop_points
    assert [a.kind for s in steps for a in s.alerts if a.kind == "health_drop"] == []


@pytest.mark.parametrize(
    ("was_high", "risk", "high"),
    [
        (False, 0.49, False),
        (False, 0.50, True),  # crossed the threshold
        (True, 0.46, True),  # inside the hysteresis band: still high, no new alert
        (True, 0.449, False),  # re-armed
    ],
)
def test_churn_risk_condition_has_hysteresis(
    config: ScoringConfig, model: ChurnModel, was_high: bool, risk: float, high: bool
) -> None:
    state, _ = run(_profitable(days=2), config, model)
    assert state is not None
    held = ("churn_risk_high",) if was_high else ()
    state = state.with_memory(state.memory.with_outputs(held, (), None))
    ev = evaluate(state, config, model)._replace(churn_risk=risk)
    classes = classify_all(state, ev, config)
    assert ("churn_risk_high" in conditions(state, classes, ev, config)) is high


@pytest.mark.parametrize(
    ("was_dropped", "health", "dropped", "coverage"),
    [
        (False, 66.0, False, 1.0),  # 14 points below the peak of 80
        (False, 65.0, True, 1.0),  # 15
        (True, 68.0, True, 1.0),  # 12: within the 3-point hysteresis
        (True, 68.1, False, 1.0),
        (False, 50.0, False, 0.4),  # a score resting on too little known data
    ],
)
def test_health_drop_condition_has_hysteresis_and_needs_coverage(
    config: ScoringConfig,
    model: ChurnModel,
    was_dropped: bool,
    health: float,
    dropped: bool,
    coverage: float,
) -> None:
    state, _ = run(_profitable(days=20), config, model)  # past the onboarding days
    assert state is not None
    ev = evaluate(state, config, model)
    held = ("health_drop",) if was_dropped else ()
    memory = Memory(
        health_start=ev.now_day - 3,
        health_points=(80.0, 75.0, 70.0),
        conditions=held,
        covered_since=ev.now_day - 3,
    )
    state = state.with_memory(memory)
    ev = ev._replace(health=ev.health._replace(health=health, coverage=coverage))
    classes = classify_all(state, ev, config)
    assert ("health_drop" in conditions(state, classes, ev, config)) is dropped


def test_a_duplicate_raises_nothing(config: ScoringConfig, model: ChurnModel) -> None:
    state, _ = run(payment_failed(), config, model)
    assert state is not None
    again = process(state, payment_failed().items[-2], config, model)
    assert again.duplicate and again.alerts == () and not again.emit


@pytest.mark.parametrize(
    ("section", "changes", "problem"),
    [
        ("alerts", {"health_drop_hysteresis": 15}, "health_drop_hysteresis must be below"),
        ("alerts", {"churn_risk_hysteresis": 0.6}, "churn_risk_hysteresis must be below"),
        ("alerts", {"churn_risk_threshold": 1.5}, "alerts.churn_risk_threshold"),
        ("alerts", {"severity": {"must_have": ["low"] * 3, "want_to_have": ["low"] * 3}}, "nice"),
        (
            "alerts",
            {
                "urgency": {
                    "churn_risk": [0.6, 0.5],
                    "health_drop_points": [1, 2],
                    "arr_at_risk": [1, 2],
                }
            },
            "churn_risk: the elevated",
        ),
        ("emit", {"heartbeat_hours": 0}, "emit.heartbeat_hours"),
        ("emit", {"health_change": -1}, "emit.health_change"),
    ],
)
def test_the_alert_and_emit_config_is_validated(
    section: str, changes: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigError) as error:
        with_config(**{section: changes})
    assert problem in str(error.value)


def test_an_unknown_severity_or_kind_is_refused() -> None:
    data = packaged_defaults()
    data["alerts"]["kinds"]["payment_failed"]["urgency"] = "urgent"
    with pytest.raises(ConfigError, match=r"alerts\.kinds\.payment_failed\.urgency"):
        config_from_mapping(data)
    data = packaged_defaults()
    data["alerts"]["kinds"]["payment_late"] = data["alerts"]["kinds"]["payment_failed"]
    with pytest.raises(ConfigError, match=r"alerts\.kinds\.payment_late: unknown key"):
        config_from_mapping(data)


def test_the_health_of_an_account_still_onboarding_is_no_reference_for_a_drop(
    config: ScoringConfig, model: ChurnModel
) -> None:
    """Velocity becomes known only after its warm-up (`usage.velocity_warmup_days`), and a
    signal that becomes known moves health (steady usage pulls it towards 50): the health
    of the days before is no peak to measure a drop from. The first day of the
    unprofitable story takes about 12 points from the health after the warm-up: no drop
    alert, though the health before the warm-up was more than 15 points higher. A drop
    after that still alerts."""
    story = unprofitable()
    story.items = [e for e in story.items if e.ts < at(21)]
    state, steps = run(story, config, model)
    assert state is not None
    points = state.memory.health_points
    warmup = config.usage.velocity_warmup_days
    settled = max(p for p in points[warmup:20] if p is not None)
    assert max(p for p in points[:warmup] if p is not None) - min(points[20:]) >= 15  # type: ignore[type-var]
    assert settled - min(points[20:]) < config.alerts.health_drop_points  # type: ignore[type-var]
    assert [a.kind for s in steps for a in s.alerts if a.kind == "health_drop"] == []
    ev = _profitable(days=30)
    for day in (30.1, 30.2, 30.3, 31):
        ev.add("nps_response", day, score=0)
    for i in range(4):
        ev.add("ticket_opened", 30.4 + i * 0.1, ticket_id=f"T{i}", priority="urgent")
        ev.add("ticket_escalated", 30.45 + i * 0.1, ticket_id=f"T{i}")
    assert "health_drop" in [a.kind for a in alerts_of(_sorted(ev), config, model)]


# --- volume: what a team can act on ---------------------------------------------------


def test_an_account_with_no_subscription_on_record_still_raises_its_alerts(
    config: ScoringConfig, model: ChurnModel
) -> None:
    """A deployment may feed usage and success events but no billing: an account with no
    subscription on record is not cancelled, so what holds for it raises, at the tier of
    no value at stake (nice-to-have, so milestone alerts stay off by `min_tier`)."""
    ev = Events()
    ev.add("fit_assessed", 0.1, fit="resource", holds=False)
    ev.add("milestone_planned", 0.2, milestone_id="M1", due=2)
    for day in range(1, 6):
        ev.add("feature_used", day + 0.3, user_id="u0", feature="f0", quantity=3)
    _, steps = run(ev, config, model)
    raised = [a for s in steps for a in s.alerts]
    assert [a.kind for a in raised] == ["success_potential_lost"]
    assert raised[0].ts == at(0.1) and raised[0].tier is Tier.NICE_TO_HAVE


def test_one_alert_per_account_and_kind_within_the_cool_down(
    config: ScoringConfig, model: ChurnModel
) -> None:
    """Four milestones of one account falling overdue one after another are one stalled
    plan to act on: one alert within the kind's cool-down (30 days), not four; the next
    after it has run out."""
    ev = _profitable(days=3)
    for i, due in enumerate((5, 12, 19, 40)):
        ev.add("milestone_planned", 1, milestone_id=f"M{i}", due=due)
    for day in range(4, 45):
        ev.add("feature_used", day, user_id="u1", feature="f1")
    alerts = [a for a in alerts_of(_sorted(ev), config, model) if a.kind == "milestone_overdue"]
    assert [a.dedupe_key.removeprefix("acct-1:") for a in alerts] == [
        "milestone_overdue:M0",
        "milestone_overdue:M3",
    ]


def test_a_failed_payment_alerts_on_a_must_have_account_only(
    config: ScoringConfig, model: ChurnModel
) -> None:
    """domain.md: "payment failed on a must-have account"."""
    assert config.alerts.kinds.payment_failed.min_tier is Tier.MUST_HAVE
    assert alerts_of(payment_failed("want_to_have"), config, model) == []
    assert alerts_of(payment_failed("nice_to_have"), config, model) == []
    assert [a.kind for a in alerts_of(payment_failed("must_have"), config, model)] == [
        "payment_failed"
    ]


def test_a_first_quadrant_in_work_to_keep_is_where_the_account_stands_not_an_entry(
    config: ScoringConfig, model: ChurnModel
) -> None:
    """Entering work to keep is a change: an account whose first success quadrant is
    work to keep (its first happiness evidence is an escalated ticket) is listed there
    and raises no alert; leaving for customer success and slipping back raises one."""
    ev = Events()
    ev.add("subscription_started", 0, plan="growth", mrr=5000.0, seats=10)
    ev.add("invoice_paid", 0.5, invoice_id="I0", amount=5000.0)
    for day in range(60):
        for user in range(8):
            ev.add("feature_used", day + 0.3, user_id=f"u{user}", feature=f"f{user}", quantity=3)
    ev.add("ticket_opened", 2, ticket_id="T0", priority="urgent")
    ev.add("ticket_escalated", 2.1, ticket_id="T0")
    ev.add("nps_response", 2.2, score=0)
    ev.add("ticket_resolved", 12, ticket_id="T0")
    for day in (14, 16, 18, 20):
        ev.add("nps_response", day, score=10).add("csat_response", day + 0.1, score=5)
    for i, day in enumerate((40.1, 40.2, 40.3, 41, 41.5, 42)):
        ev.add("ticket_opened", day, ticket_id=f"T{i + 1}", priority="urgent")
        ev.add("ticket_escalated", day + 0.01, ticket_id=f"T{i + 1}")
        ev.add("nps_response", day + 0.02, score=0)
    _, steps = run(_sorted(ev), config, model)
    quadrants = [t.to_value for s in steps for t in s.transitions if t.kind == "success_quadrant"]
    assert quadrants[:3] == [
        "work_to_keep:flight_risk",
        "customer_success",
        "work_to_keep:flight_risk",
    ], quadrants
    entered = [a for s in steps for a in s.alerts if a.kind == "entered_work_to_keep"]
    assert len(entered) == 1, [a.message for a in entered]
    assert entered[0].ts.timestamp() >= at(40.1).timestamp()
