"""process(): exactly-once, lateness, transitions and the classifications from event histories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import scoring
from schemas.decode import validate_event
from schemas.events import Event, Tier
from schemas.outputs import Band, Engagement, ReadinessQuadrant, SuccessQuadrant
from scoring import (
    ChurnModel,
    ScoringConfig,
    ScoringError,
    TooLateError,
    is_too_late,
    new_state,
    process,
    process_shadow,
    score_state,
)
from scoring.config_load import config_from_mapping, packaged_defaults
from scoring.engine import is_duplicate
from scoring.evaluate import evaluate
from scoring.names import SIGNALS
from tests.unit.scoring.factory import Events, last_score, make, run
from tests.unit.scoring.scripts import healthy


def test_a_duplicate_event_id_returns_no_score_and_the_same_state(
    config: ScoringConfig, model: ChurnModel
) -> None:
    event = make("feature_used", 1, user_id="u1", feature="reports")
    first = process(None, event, config, model)
    again = process(first.state, event, config, model)
    assert first.score is not None
    assert again.score is None and again.state is first.state
    assert is_duplicate(first.state, event)


def test_the_input_state_is_not_mutated(config: ScoringConfig, model: ChurnModel) -> None:
    state, _ = run(healthy(days=5), config, model)
    assert state is not None
    before = state.to_bytes()
    process(state, make("nps_response", 30, event_id="x", score=0), config, model)
    assert state.to_bytes() == before


def test_lateness_rule(config: ScoringConfig, model: ChurnModel) -> None:
    state = process(None, make("feature_used", 10, user_id="u", feature="f"), config, model).state
    lateness_days = config.allowed_lateness_hours / 24
    on_time = make("feature_used", 10 - lateness_days, event_id="ok", user_id="u", feature="f")
    too_late = make(
        "feature_used", 10 - lateness_days - 0.01, event_id="late", user_id="u", feature="f"
    )
    assert not is_too_late(None, too_late, config)
    assert not is_too_late(state, on_time, config)
    assert is_too_late(state, too_late, config)
    assert process(state, on_time, config, model).score is not None
    with pytest.raises(TooLateError):
        process(state, too_late, config, model)


def test_a_redelivered_event_is_a_duplicate_even_past_the_lateness_bound(
    config: ScoringConfig, model: ChurnModel
) -> None:
    old = make("feature_used", 1, event_id="old", user_id="u", feature="f")
    state = process(None, old, config, model).state
    state = process(state, make("feature_used", 9, user_id="u", feature="f"), config, model).state
    assert is_too_late(state, old, config)
    again = process(state, old, config, model)
    assert again.duplicate and again.state is state


def test_an_event_of_another_account_is_refused(config: ScoringConfig, model: ChurnModel) -> None:
    with pytest.raises(ScoringError):
        process(
            new_state("a"),
            make("feature_used", 1, account="b", user_id="u", feature="f"),
            config,
            model,
        )


def test_first_event_enters_a_band_and_a_tier_then_nothing_repeats(
    config: ScoringConfig, model: ChurnModel
) -> None:
    _, steps = run(
        [make("feature_used", 1, event_id=f"e{i}", user_id="u", feature="f") for i in range(3)],
        config,
        model,
    )
    kinds = [t.kind for t in steps[0].transitions]
    assert kinds == ["health_band", "tier"]
    assert steps[0].transitions[0].from_value is None
    assert steps[1].transitions == () and steps[2].transitions == ()


def test_an_events_transitions_and_score_share_one_build_of_the_health_drivers(
    config: ScoringConfig, model: ChurnModel
) -> None:
    _, steps = run(healthy(days=40).items, config, model)
    shared = 0
    for step in steps:
        if step.transitions and step.score is not None:
            drivers = step.score.drivers
            assert drivers and all(t.drivers is drivers for t in step.transitions)
            shared += 1
    assert shared >= 3


def _readiness(events: Events, config: ScoringConfig, model: ChurnModel) -> ReadinessQuadrant:
    return last_score(events, config, model).readiness_quadrant  # type: ignore[no-any-return]


def test_achiever_clear_goals_and_high_priority(config: ScoringConfig, model: ChurnModel) -> None:
    ev = Events().add("goal_defined", 0, goal_id="G", desired_outcome="x")
    for i in range(3):
        ev.add("milestone_planned", 0, milestone_id=f"M{i}", due=30)
    ev.add("sponsor_engaged", 1).add("sponsor_engaged", 2).add("meeting_held", 3).add(
        "meeting_held", 4
    )
    assert _readiness(ev, config, model) is ReadinessQuadrant.ACHIEVER


def test_soldier_high_priority_without_clear_goals(
    config: ScoringConfig, model: ChurnModel
) -> None:
    ev = Events().add("milestone_planned", 0, milestone_id="M", due=30)
    ev.add("sponsor_engaged", 1).add("sponsor_engaged", 2).add("meeting_held", 3).add(
        "meeting_held", 4
    )
    assert _readiness(ev, config, model) is ReadinessQuadrant.SOLDIER


def _stalled_usage() -> Events:
    ev = Events()
    for day in range(10):
        ev.add("feature_used", day, user_id="u", feature="f", quantity=5)
    return ev


def test_dreamer_clear_goals_but_low_priority(config: ScoringConfig, model: ChurnModel) -> None:
    ev = _stalled_usage().add("goal_defined", 80, goal_id="G", desired_outcome="x")
    for i in range(3):
        ev.add("milestone_planned", 80, milestone_id=f"M{i}", due=120)
    assert _readiness(ev, config, model) is ReadinessQuadrant.DREAMER


def test_wanderer_neither_goals_nor_priority(config: ScoringConfig, model: ChurnModel) -> None:
    ev = _stalled_usage().add("milestone_planned", 80, milestone_id="M", due=120)
    assert _readiness(ev, config, model) is ReadinessQuadrant.WANDERER


@pytest.mark.parametrize(
    ("nps", "mrr", "handling_minutes", "expected"),
    [
        (10, 5000.0, 60.0, SuccessQuadrant.CUSTOMER_SUCCESS),
        (0, 5000.0, 60.0, SuccessQuadrant.FLIGHT_RISK),  # profitable but unhappy
        (10, 50.0, 6000.0, SuccessQuadrant.UNPROFITABLE),  # happy but costing us
        (0, 50.0, 6000.0, SuccessQuadrant.REASSESS),
    ],
)
def test_success_quadrants_from_histories(
    config: ScoringConfig,
    model: ChurnModel,
    nps: int,
    mrr: float,
    handling_minutes: float,
    expected: SuccessQuadrant,
) -> None:
    ev = Events().add("subscription_started", 0, plan="growth", mrr=mrr, seats=10)
    ev.add("ticket_opened", 1, ticket_id="T1").add(
        "ticket_resolved", 2, ticket_id="T1", handling_minutes=handling_minutes
    )
    ev.add("nps_response", 3, score=nps).add("invoice_paid", 4, invoice_id="I1", amount=mrr)
    assert last_score(ev, config, model).success_quadrant is expected


def test_success_quadrant_does_not_flap_inside_the_band(
    config: ScoringConfig, model: ChurnModel
) -> None:
    """Company happiness = margin here (no invoices); the MRR moves it around the 0 border."""
    ev = Events().add("subscription_started", 10, plan="growth", mrr=1000.0, seats=10)
    ev.add("ticket_resolved", 10, ticket_id="T", handling_minutes=3000.0).add(
        "nps_response", 10, score=10
    )
    state, _ = run(ev, config, model)
    assert state is not None
    m0 = evaluate(state, config, model).values[SIGNALS.index("company_happiness")]
    assert m0 is not None
    cost = 1000.0 * (1 - m0) if m0 >= 0 else 1000.0 / (1 + m0)

    def mrr_for(margin: float) -> float:
        return cost / (1 - margin) if margin >= 0 else cost * (1 + margin)

    quadrants = []
    for i, margin in enumerate([0.3, -0.05, 0.05, -0.08, 0.08, -0.15, 0.05, -0.05, 0.15]):
        day = 10.5 + i / 100  # same day: decay does not move the cost
        change = make(
            "subscription_changed",
            day,
            event_id=f"c{i}",
            plan="growth",
            mrr=mrr_for(margin),
            seats=10,
        )
        step = process(state, change, config, model)
        state = step.state
        assert step.score is not None
        assert step.score.signals["company_happiness"] == pytest.approx(margin, abs=1e-4)
        quadrants.append(step.score.success_quadrant)
    cs, up = SuccessQuadrant.CUSTOMER_SUCCESS, SuccessQuadrant.UNPROFITABLE
    assert quadrants == [cs, cs, cs, cs, cs, up, up, up, cs]


def test_success_potential_moves_with_fits(config: ScoringConfig, model: ChurnModel) -> None:
    fits = ["technical", "functional", "resource", "competence", "experience", "cultural"]
    ev = Events()
    for i, fit in enumerate(fits):
        ev.add("fit_assessed", i, fit=fit, holds=True)
    ev.add("fit_assessed", 10, fit="resource", holds=False)
    _, steps = run(ev, config, model)
    assert [s.score.success_potential for s in steps if s.score] == [None] * 5 + [True, False]
    changes = [t for s in steps for t in s.transitions if t.kind == "success_potential"]
    assert [(t.from_value, t.to_value) for t in changes] == [(None, "true"), ("true", "false")]
    last = steps[-1].score
    assert last is not None and last.fits["resource"] is False


def test_importance_override_sets_tier_and_engagement(
    config: ScoringConfig, model: ChurnModel
) -> None:
    ev = Events().add("subscription_started", 0, plan="growth", mrr=100.0, seats=5)
    ev.add("importance_set", 1, tier="must_have")
    score = last_score(ev, config, model)
    assert (score.tier, score.engagement) == (Tier.MUST_HAVE, Engagement.ONE_TO_ONE)
    ev.add("importance_set", 2, tier=None)
    score = last_score(ev, config, model)
    assert (score.tier, score.engagement) == (Tier.NICE_TO_HAVE, Engagement.ONE_TO_MANY)


def test_tier_from_the_value_at_stake(config: ScoringConfig, model: ChurnModel) -> None:
    for mrr, tier in [
        (100.0, Tier.NICE_TO_HAVE),
        (2000.0, Tier.WANT_TO_HAVE),  # LTV = MRR x lifetime(churn risk ~10 %)
        (5000.0, Tier.MUST_HAVE),
    ]:
        ev = Events().add("subscription_started", 0, plan="growth", mrr=mrr, seats=5)
        assert last_score(ev, config, model).tier is tier


def test_a_healthy_account_is_green_with_opportunities(
    config: ScoringConfig, model: ChurnModel
) -> None:
    ev = healthy(days=22)
    score = last_score(ev, config, model)
    assert score.band is Band.GREEN and score.health >= 73
    assert score.coverage == 1.0
    assert "advocacy" in score.opportunities  # NPS 10, a milestone 7 days ago
    assert "expansion" in score.opportunities  # 4 active users on 4 seats


def test_expansion_milestone_completed_is_an_opportunity(
    config: ScoringConfig, model: ChurnModel
) -> None:
    ev = healthy(days=22)
    ev.add("subscription_changed", 22, plan="starter", mrr=2000.0, seats=40)  # far from the limit
    assert "expansion" not in last_score(ev, config, model).opportunities
    ev.add("milestone_planned", 22, milestone_id="X", due=30, expansion=True)
    ev.add("milestone_completed", 22.5, milestone_id="X")
    assert "expansion" in last_score(ev, config, model).opportunities


def test_drivers_name_signals_effects_and_events(config: ScoringConfig, model: ChurnModel) -> None:
    score = last_score(healthy(days=22), config, model)
    assert 0 < len(score.drivers) <= config.health.max_drivers
    assert all(d.event_ids for d in score.drivers)
    effects = [abs(d.effect) for d in score.drivers]
    assert effects == sorted(effects, reverse=True)
    assert score.churn_drivers and all(d.weight != 0 for d in score.churn_drivers)
    assert score.freshness_days is not None and score.freshness_days >= 0


def test_segment_picks_the_scorecard(config: ScoringConfig, model: ChurnModel) -> None:
    default = last_score(healthy(days=10), config, model)
    enterprise = last_score(healthy(days=10, segment="enterprise"), config, model)
    assert (default.segment, enterprise.segment) == ("default", "enterprise")
    assert default.signals == enterprise.signals
    assert default.health != enterprise.health


def test_shadow_scorecard(config: ScoringConfig, model: ChurnModel) -> None:
    state, _ = run(healthy(days=10), config, model)
    assert state is not None
    assert process_shadow(state, config, model) is None
    shadow_config = config_from_mapping({**packaged_defaults(), "shadow_scorecard": "enterprise"})
    shadow = process_shadow(state, shadow_config, model)
    assert shadow is not None
    assert shadow.config_version == f"{config.version}:shadow:enterprise"
    assert shadow.health == score_state(state, config, model, "enterprise").health
    assert shadow.health != score_state(state, config, model).health


def test_score_state_needs_an_event_and_a_known_scorecard(
    config: ScoringConfig, model: ChurnModel
) -> None:
    with pytest.raises(ScoringError):
        score_state(new_state("a"), config, model)
    state, _ = run(healthy(days=2), config, model)
    assert state is not None
    with pytest.raises(ScoringError, match="no scorecard"):
        score_state(state, config, model, "nope")


def test_a_producer_duplicate_from_a_lagging_family_is_still_recognised() -> None:
    """A worker catching up reads one family's topic far behind the others: that
    family's first event is older than more than 64 applied events of the account,
    yet a second copy of it (a producer retry) must count as a duplicate."""
    config = scoring.load_config()
    model = scoring.default_churn_model(config)
    start = datetime(2026, 3, 1, tzinfo=UTC)

    def usage(i: int) -> Event:
        return validate_event(
            {
                "event_id": f"u{i}",
                "account_id": "lag",
                "ts": (start + timedelta(hours=i)).isoformat(),
                "type": "feature_used",
                "schema_version": "1.0",
                "feature": "reports",
                "user_id": f"user-{i % 7}",
            }
        )

    state = None
    for i in range(1, 101):
        state = scoring.process(state, usage(i), config, model).state
    late = validate_event(
        {
            "event_id": "s1",
            "account_id": "lag",
            "ts": start.isoformat(),  # older than all 100 usage events
            "type": "ticket_opened",
            "schema_version": "1.0",
            "ticket_id": "T1",
        }
    )
    first = scoring.process(state, late, config, model)
    assert not first.duplicate
    again = scoring.process(first.state, late, config, model)
    assert again.duplicate and again.state is first.state
