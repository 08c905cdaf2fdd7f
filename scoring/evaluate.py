"""Evaluating the facts of a state at its watermark: signals, health, churn risk, fits.

Everything here reads facts only (never `memory`), so it gives the same
answer for the same events in any order within the lateness bound. Time
enters at day resolution (`now_day`), which lets each family's part be
memoised on its facts object (`scoring.memo`): an event recomputes only
the parts of the family it touched, plus health and churn risk.
"""

from __future__ import annotations

from typing import NamedTuple

from scoring import churn
from scoring.churn_features import churn_raw_features
from scoring.config import ScoringConfig
from scoring.config_sections import Scorecard
from scoring.decay import day_of
from scoring.facts import BillingFacts, SuccessFacts, SupportFacts, UsageFacts
from scoring.health import HealthResult, health_score
from scoring.memo import memoized
from scoring.signals import company, happiness, success, usage
from scoring.state import AccountState


class UsageView(NamedTuple):
    breadth: float | None
    active: float
    adoption: float | None
    seat_utilization: float | None


class SuccessView(NamedTuple):
    clarity: float | None
    ttv: float | None
    milestones: float | None
    sponsor: float | None
    meetings: float | None
    open_expansion: bool
    """An expansion-tagged milestone is planned and not completed yet."""
    recent_expansion: bool
    """An expansion-tagged milestone was completed within `recent_milestone_days`."""
    recent_milestone: bool
    overdue: tuple[str, ...]
    """Ids of the overdue milestones (planned, not completed, due day passed), sorted."""
    fits: dict[str, bool | None]
    potential: bool | None


class Evaluation(NamedTuple):
    now_ts: float
    now_day: int
    values: tuple[float | None, ...]
    """Signal values in SIGNALS order."""
    segment: str
    scorecard: Scorecard
    health: HealthResult
    features: tuple[float, ...]
    churn_risk: float
    mrr: float
    usage: UsageView
    success: SuccessView
    strong_nps: bool

    @property
    def fits(self) -> dict[str, bool | None]:
        return self.success.fits

    @property
    def potential(self) -> bool | None:
        return self.success.potential


def _usage_view(
    u: UsageFacts, plan: str | None, seats: int | None, now_day: int, config: ScoringConfig
) -> UsageView:
    active = usage.active_users(u, now_day, config)
    return UsageView(
        usage.feature_breadth(u, plan, now_day, config),
        active,
        usage.adoption(u, active, seats),
        active / seats if seats and u.users else None,
    )


def _usage_dynamics(
    u: UsageFacts, active: float, now_day: int, first_day: int, config: ScoringConfig
) -> tuple[float | None, float | None]:
    rates = usage.usage_rates(u.series.get("usage"), now_day, first_day, config)
    velocity = usage.velocity(rates, now_day - first_day, config)
    return velocity, usage.feature_depth(rates, active, config)


def _success_view(
    w: SuccessFacts, started: float | None, now_day: int, config: ScoringConfig
) -> SuccessView:
    ttv = success.time_to_value_score(w, started, now_day, config)
    since = now_day - config.windows.recent_milestone_days
    recent = [k for k, t in w.completed.items() if day_of(t) >= since]
    fits = success.fits(w)
    sponsor, meetings = success.engagement_parts(w.series, now_day, config)
    return SuccessView(
        clarity=success.goal_clarity(w, config),
        ttv=ttv,
        milestones=success.milestone_completion(w, ttv, now_day, config),
        sponsor=sponsor,
        meetings=meetings,
        open_expansion=any(p.expansion and k not in w.completed for k, p in w.planned.items()),
        recent_expansion=any((p := w.planned.get(k)) is not None and p.expansion for k in recent),
        recent_milestone=bool(recent),
        overdue=success.overdue_ids(w, now_day),
        fits=fits,
        potential=success.success_potential(fits),
    )


def _customer_view(
    s: SupportFacts, now_day: int, first_day: int, config: ScoringConfig
) -> tuple[float | None, bool]:
    parts = happiness.happiness_parts(s, s.series, now_day, config, first_day)
    nps = s.last_nps
    strong_nps = (
        nps is not None
        and int(nps.value or 0) >= config.opportunities.advocacy_nps
        and day_of(nps.ts) >= now_day - config.windows.strong_nps_days
    )
    return happiness.customer_happiness(parts, config), strong_nps


def _company_view(
    b: BillingFacts, now_day: int, config: ScoringConfig
) -> tuple[float | None, float | None]:
    happiness = company.company_happiness(
        company.company_parts(b, b.series, now_day, config), config
    )
    return happiness, company.commitment(b, now_day, config)


def evaluate(
    state: AccountState,
    config: ScoringConfig,
    model: churn.ChurnModel,
    scorecard: Scorecard | None = None,
) -> Evaluation:
    """All facts-derived outputs at the state's watermark (a state with events applied).

    Each family's part is memoised on its facts object with every other input
    in the key (`scoring.memo`); the usage view's key must stay free of the usage
    series, because `scoring.reducers.usage` carries it over when only the series changed.
    """
    now_ts = state.clock.max_ts
    assert now_ts is not None, "evaluate() needs a state with at least one event"
    now_day = day_of(now_ts)
    u, s, b, w = state.usage, state.support, state.billing, state.success
    terms = b.terms
    plan, seats = (terms.plan, terms.seats) if terms else (None, None)

    uv = memoized(
        u.memo, "view", (config, now_day, plan, seats), _usage_view, u, plan, seats, now_day, config
    )
    first_day = day_of(state.clock.first_ts if state.clock.first_ts is not None else now_ts)
    velocity, depth = memoized(
        u.memo,
        "dynamics",
        (config, now_day, uv.active, first_day),
        _usage_dynamics,
        u,
        uv.active,
        now_day,
        first_day,
        config,
    )
    sv = memoized(
        w.memo,
        "view",
        (config, now_day, b.started_ts),
        _success_view,
        w,
        b.started_ts,
        now_day,
        config,
    )
    customer, strong_nps = memoized(
        s.memo, "view", (config, now_day, first_day), _customer_view, s, now_day, first_day, config
    )
    company_value, commitment = memoized(
        b.memo, "view", (config, now_day), _company_view, b, now_day, config
    )
    values = (
        uv.breadth,
        depth,
        velocity,
        uv.adoption,
        sv.milestones,
        customer,
        company_value,
        sv.clarity,
        success.priority(sv.sponsor, sv.meetings, sv.ttv, velocity, config),
        commitment,
    )
    segment = str(b.segment.value) if b.segment is not None else config.default_segment
    card = scorecard or config.scorecard_for(segment)
    raw = churn_raw_features(state, now_ts, now_day, uv.active, customer, config)
    features = churn.churn_features(model, raw)
    return Evaluation(
        now_ts,
        now_day,
        values,
        segment,
        card,
        health_score(values, card.weights),
        features,
        churn.predict(model, features),
        terms.mrr if terms else 0.0,
        uv,
        sv,
        strong_nps,
    )


def value_at_stake(ev: Evaluation, config: ScoringConfig) -> float:
    """Seed 003: the annual value at stake, ARR (12 x MRR) x expansion potential.

    Churn risk is not an input: a big account at risk is the one a team must not
    lose, so risk raises alert urgency, never lowers importance. Neither is usage:
    expansion potential counts only an open expansion-tagged milestone, so the value
    moves with the subscription terms and the success plan (a plan change, an
    expansion), not with the day's activity. A cancelled account keeps the value of
    its last terms (a win-back list is ordered by it); it is terminal elsewhere.
    """
    t = config.tiers
    return 12.0 * ev.mrr * (1.0 + t.expansion_milestone_uplift * ev.success.open_expansion)
