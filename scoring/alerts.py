"""Alerts: what a customer success team acts on (domain.md, "Outputs").

An alert is the *rising edge of a condition*. After every event,
`conditions` lists the conditions that hold for the account, in a fixed
order; the memory keeps the list of the previous event, and a condition that
holds now but did not then raises an alert, unless its kind is disabled, the
account's tier is below the kind's `min_tier`, or an alert of the same kind
fired on the account less than the kind's cool-down ago (event time,
`Memory.fired`).

    condition key (the episode)       holds while
    entered_work_to_keep:<kind>       the success quadrant is work_to_keep:<kind>
    churn_risk_high                   churn risk >= threshold (>= threshold - hysteresis once high)
    health_drop                       health is N points below its peak of the last D days
    gone_quiet:<last usage day>       no usage for `gone_quiet.days` days after a habit of it
                                      (starts on a tick only, see `conditions`)
    milestone_overdue:<milestone>     a planned milestone is past its due day, not completed
    payment_failed:<invoice>          an invoice failed and has not been paid since
    success_potential_lost            a fit fails (success potential False)
    expansion_opportunity             the expansion opportunity is open
    advocacy_opportunity              the advocacy opportunity is open

The kind is the part of the key before the first ":". The dedupe key is
`<account id>:<kind>[:<episode>]`, with the whole milestone or invoice id (the
memory keeps `short_id`s); the alert id is a hash of the dedupe key and the
triggering event id, so a replay of the same events gives the same ids.
Severity is tier x urgency (`alerts.severity`, a matrix): the urgency is the
kind's own (`alerts.kinds.<kind>.urgency`), raised, for the kinds
`raised_by_risk`, to the account's urgency from its churn risk, the speed of
its health drop and the ARR at risk (`alerts.urgency`); the engagement is the
tier's (seed 003).

A cancelled account (`subscription_cancelled`, until a new subscription)
holds no condition, so it raises no alert from its cancellation on. An account
with no subscription on record is not cancelled: a deployment may feed no
billing events at all.

The cool-down is per account and kind: a rising edge of a kind that alerted on
the account less than the kind's cool-down ago raises nothing, whatever its
episode (four milestones of one stalled plan falling overdue in turn are one
alert a month, not four). The dedupe key still names the episode that alerted.

Conditions are computed on every event, so they must stay cheap: everything
here is a few comparisons unless a condition set changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

from schemas.events import SCHEMA_VERSION, Tier
from schemas.outputs import Alert, Driver, Severity, SuccessQuadrant
from scoring.bounded import short_id
from scoring.classes import Classes
from scoring.classify import ENGAGEMENT
from scoring.config import ScoringConfig
from scoring.config_sections import URGENCIES, AlertKind, Urgency
from scoring.decay import DAY
from scoring.evaluate import Evaluation, value_at_stake
from scoring.facts import EVENT_FAMILIES, BillingFacts, Memory
from scoring.memo import memoized
from scoring.names import COMPANY_HAPPINESS, CUSTOMER_HAPPINESS, MILESTONE_COMPLETION, SIGNALS
from scoring.outputs import change_drivers, churn_drivers, contribution_driver
from scoring.signals.company import outstanding_ids
from scoring.state import AccountState
from scoring.step import Step
from scoring.trusted import trusted

USAGE_SIGNALS = ("feature_breadth", "feature_depth", "velocity", "adoption")
"""The signals a `gone_quiet` alert names as its drivers."""
_USAGE = EVENT_FAMILIES.index("usage")

KINDS: tuple[str, ...] = (
    "entered_work_to_keep",
    "churn_risk_high",
    "health_drop",
    "gone_quiet",
    "milestone_overdue",
    "payment_failed",
    "success_potential_lost",
    "expansion_opportunity",
    "advocacy_opportunity",
)
"""Every alert kind, in the order its conditions are listed."""

_WORK_TO_KEEP: dict[SuccessQuadrant | None, str] = {
    SuccessQuadrant.FLIGHT_RISK: "entered_work_to_keep:flight_risk",
    SuccessQuadrant.UNPROFITABLE: "entered_work_to_keep:unprofitable",
}
_OPPORTUNITY = {"expansion": "expansion_opportunity", "advocacy": "advocacy_opportunity"}
_TIER_LEVEL = {Tier.NICE_TO_HAVE: 0, Tier.WANT_TO_HAVE: 1, Tier.MUST_HAVE: 2}


class AlertStep(NamedTuple):
    alerts: tuple[Alert, ...]
    fired: tuple[tuple[str, float], ...]


def health_drop(
    memory: Memory, now_day: int, health: float, days: int, since_day: int | None = None
) -> float:
    """Points health stands below its peak of the last `days` days, counting the daily
    points of the previous memory (the last health of each day, and of today so far)
    from `since_day` on."""
    points = memory.health_points
    if not points:
        return 0.0
    start = memory.health_start
    lo = now_day - days
    if since_day is not None and since_day > lo:
        lo = since_day
    lo -= start
    peak = 0.0
    for p in points[lo if lo > 0 else 0 : now_day - start + 1]:  # a plain loop is fastest
        if p is not None and p > peak:
            peak = p
    return peak - health if peak > health else 0.0


def drop_since(state: AccountState, config: ScoringConfig) -> int | None:
    """The first day whose health counts as a peak: once the account is old enough for
    every usage signal to be known (velocity's `usage.velocity_warmup_days`, at least its
    second day: health swings while it onboards, and a signal that becomes known moves it),
    and from the day its coverage first reached `health_drop_min_coverage` (a score on
    little known data is no reference). None: never."""
    covered = state.memory.covered_since
    first = state.clock.first_ts
    if covered is None or first is None:
        return None
    return max(covered, int(first // DAY) + max(1, config.usage.velocity_warmup_days))


def gone_quiet(state: AccountState, now_day: int, config: ScoringConfig) -> str | None:
    """The `gone_quiet` condition key, `gone_quiet:<last usage day, ISO>`, when the account
    used the product with a habit (`gone_quiet.min_baseline_per_day`, after being observed
    `gone_quiet.baseline_days`) and then not at all for `gone_quiet.days` full days.

    The last usage day is the day of the usage family's watermark (every usage event
    updates it), so the common case costs one comparison; the baseline is the long
    half-life usage rate as of the end of that day, which no later event changes.
    """
    newest = state.clock.family_max[_USAGE]
    if newest is None:
        return None
    q = config.gone_quiet
    last = int(newest // DAY)
    if now_day - last - 1 < q.days or state.billing.cancelled:
        return None
    first = state.clock.first_ts
    if first is None or last - int(first // DAY) < q.baseline_days:
        return None
    usage = state.usage.series.get("usage")
    if usage is None:
        return None
    baseline = usage.rate(last + 1, 1, config.half_lives_days.usage_long)
    if baseline < q.min_baseline_per_day:
        return None
    return "gone_quiet:" + _day(last * DAY)


def _keys(prefix: str, ids: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(prefix + short_id(i) for i in ids)


def _payment_keys(billing: BillingFacts) -> tuple[str, ...]:
    return _keys("payment_failed:", outstanding_ids(billing))


def conditions(
    state: AccountState,
    classes: Classes,
    ev: Evaluation,
    config: ScoringConfig,
    tick: bool = False,
) -> tuple[str, ...]:
    """The alert conditions holding after this event (or `tick`).

    `gone_quiet` starts only on a tick: a tick comes on the partition's event time, which
    waits for every input topic (`streams.clock`), while an event of a family read ahead
    of the usage topic (a worker catching up) would make any account look quiet. An event
    keeps it while it holds.

    Entering work to keep is a change of quadrant: an account whose first success
    quadrant is work to keep is listed there (the work-to-keep board) and holds no
    condition until it leaves and comes back.

    `state` has the event applied and its memory not yet advanced: the memory's
    conditions give the hysteresis, its daily health points the recent peak.
    A cancelled account holds none (it is terminal until a new subscription), so
    whatever holds once it subscribes again is a rising edge.
    Runs on every event: the keys of milestones and invoices are memoised on
    their facts.
    """
    if state.billing.cancelled:  # terminal until a new subscription: nothing to act on
        return ()
    a = config.alerts
    previous = state.memory
    held = previous.conditions
    wtk = _WORK_TO_KEEP.get(classes.success)
    if wtk is not None and wtk not in held and previous.success in (None, classes.success):
        wtk = None  # the account's first quadrant: where it stands, not an entry
    out: tuple[str, ...] = () if wtk is None else (wtk,)
    threshold = a.churn_risk_threshold
    if held and "churn_risk_high" in held:
        threshold -= a.churn_risk_hysteresis
    if ev.churn_risk >= threshold:
        out += ("churn_risk_high",)
    h = ev.health
    if h.coverage >= a.health_drop_min_coverage and previous.covered_since is not None:
        points = a.health_drop_points
        if held and "health_drop" in held:
            points -= a.health_drop_hysteresis
        since = drop_since(state, config)
        if health_drop(previous, ev.now_day, h.health, a.health_drop_days, since) >= points:
            out += ("health_drop",)
    quiet = gone_quiet(state, ev.now_day, config)
    if quiet is not None and (tick or (held and quiet in held)):
        out += (quiet,)
    sv = ev.success
    overdue = sv.overdue
    if overdue:
        memo = state.success.memo  # fresh whenever the success facts change
        hit = memo.get("alert_keys")
        if hit is None or hit[0] is not overdue:
            hit = memo["alert_keys"] = (overdue, _keys("milestone_overdue:", overdue))
        out += hit[1]
    billing = state.billing
    if billing.failed:
        keys = billing.memo.get("alert_keys")  # fresh whenever the billing facts change
        if keys is None:
            keys = billing.memo["alert_keys"] = _payment_keys(billing)
        out += keys
    if sv.potential is False:
        out += ("success_potential_lost",)
    if classes.opportunities:
        out += tuple(_OPPORTUNITY[o] for o in classes.opportunities)
    return out[: a.max_tracked] if len(out) > a.max_tracked else out


def _outstanding(billing: BillingFacts) -> tuple[str, ...]:
    if not billing.failed:
        return ()
    return memoized(billing.memo, "outstanding", (), outstanding_ids, billing)


def _level(value: float, thresholds: tuple[float, float]) -> int:
    return (value >= thresholds[0]) + (value >= thresholds[1])


def account_urgency(
    churn_risk: float, drop_points: float, arr_at_risk: float, config: ScoringConfig
) -> Urgency:
    """How soon the team must act on this account: the highest of the urgencies of its
    churn risk, the speed of its health drop and the ARR at risk (`alerts.urgency`)."""
    u = config.alerts.urgency
    level = max(
        _level(churn_risk, u.churn_risk),
        _level(drop_points, u.health_drop_points),
        _level(arr_at_risk, u.arr_at_risk),
    )
    return URGENCIES[level]


def urgency(spec: AlertKind, state: AccountState, ev: Evaluation, config: ScoringConfig) -> Urgency:
    """The urgency of an alert: its kind's, raised to the account's if the kind is
    `raised_by_risk` (opportunities are not)."""
    if not spec.raised_by_risk:
        return spec.urgency
    a = config.alerts
    drop = health_drop(
        state.memory, ev.now_day, ev.health.health, a.health_drop_days, drop_since(state, config)
    )
    risk = ev.churn_risk
    account = account_urgency(risk, drop, risk * value_at_stake(ev, config), config)
    return max(spec.urgency, account, key=URGENCIES.index)


def severity(tier: Tier, urgency: Urgency, config: ScoringConfig) -> Severity:
    """Tier x urgency (`alerts.severity`, docs/scoring.md "Severity")."""
    row: tuple[Severity, Severity, Severity] = getattr(config.alerts.severity, tier.value)
    return row[URGENCIES.index(urgency)]


def alert_id(dedupe_key: str, event_id: str) -> str:
    return hashlib.blake2b(f"{dedupe_key}|{event_id}".encode(), digest_size=16).hexdigest()


def _spec(kind: str, config: ScoringConfig) -> AlertKind:
    spec: AlertKind = getattr(config.alerts.kinds, kind)
    return spec


def _prune(
    fired: dict[str, float], now: float, config: ScoringConfig
) -> tuple[tuple[str, float], ...]:
    """Drop the keys whose cool-down is over; keep at most `max_tracked`, the newest."""
    live = {
        key: ts
        for key, ts in fired.items()
        if now - ts < _spec(key.partition(":")[0], config).cooldown_days * DAY
    }
    cap = config.alerts.max_tracked
    if len(live) > cap:
        newest = sorted(live.items(), key=lambda kv: (-kv[1], kv[0]))[:cap]
        live = dict(newest)
    return tuple(sorted(live.items()))


def _last_fired(fired: dict[str, float], kind: str) -> float | None:
    """When an alert of `kind` last fired on the account (any episode), if remembered."""
    times = [ts for key, ts in fired.items() if key.partition(":")[0] == kind]
    return max(times) if times else None


def raise_alerts(step: Step, held: tuple[str, ...]) -> AlertStep:
    """The alerts of the conditions in `held` that did not hold at the previous event
    (`step.state.memory.conditions`, the memory not yet advanced), and the new cool-downs."""
    previous, config = step.state.memory, step.config
    if held == previous.conditions:
        return AlertStep((), previous.fired)
    before = set(previous.conditions)
    rising = [key for key in held if key not in before]
    if not rising:
        return AlertStep((), previous.fired)
    now = step.ev.now_ts
    fired = dict(previous.fired)
    tier = step.classes.tier
    alerts = []
    for key in rising:
        kind = key.partition(":")[0]
        spec = _spec(kind, config)
        if not spec.enabled or _TIER_LEVEL[tier] < _TIER_LEVEL[spec.min_tier]:
            continue
        last = _last_fired(fired, kind)
        if last is not None and now - last < spec.cooldown_days * DAY:
            continue
        fired[key] = now
        alerts.append(_alert(kind, key, spec, step))
    if not alerts:
        return AlertStep((), previous.fired)
    return AlertStep(tuple(alerts), _prune(fired, now, config))


# --- building one alert (rare: only on a rising edge) --------------------------------


def _signal_drivers(step: Step, signals: tuple[str, ...]) -> tuple[Driver, ...]:
    """The health contributions of `signals` (those known), as drivers."""
    n_ids = step.config.limits.driver_event_ids
    return tuple(
        contribution_driver(c, step.state.evidence, n_ids)
        for c in step.ev.health.contributions()
        if c.signal in signals
    )


def _fit_drivers(step: Step) -> tuple[Driver, ...]:
    ids = tuple(e for _, e in reversed(step.state.evidence.get("fits", ())))
    ids = ids[: step.config.limits.driver_event_ids]
    return tuple(
        trusted(
            Driver,
            {"signal": f"fit:{name}", "value": 0.0, "weight": 0.0, "effect": 0.0, "event_ids": ids},
        )
        for name, holds in step.ev.fits.items()
        if holds is False
    )


def _value(ev: Evaluation, signal: str) -> str:
    v = ev.values[SIGNALS.index(signal)]
    return "unknown" if v is None else f"{v:+.2f}"


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).date().isoformat()


def _message(kind: str, episode: str, step: Step) -> str:
    state, ev, cfg = step.state, step.ev, step.config
    a = cfg.alerts
    if kind == "entered_work_to_keep":
        why = "profitable but unhappy" if episode == "flight_risk" else "happy but costing us"
        return (
            f"Entered work to keep ({episode.replace('_', ' ')}): {why} "
            f"(customer happiness {_value(ev, CUSTOMER_HAPPINESS)}, "
            f"company happiness {_value(ev, COMPANY_HAPPINESS)})."
        )
    if kind == "churn_risk_high":
        return (
            f"Churn risk {ev.churn_risk:.0%} crossed the {a.churn_risk_threshold:.0%} threshold "
            f"({cfg.churn.horizon_days:g}-day horizon)."
        )
    if kind == "health_drop":
        drop = health_drop(
            state.memory, ev.now_day, ev.health.health, a.health_drop_days, drop_since(state, cfg)
        )
        return (
            f"Health dropped {drop:.1f} points within {a.health_drop_days} days "
            f"(now {ev.health.health:.1f})."
        )
    if kind == "milestone_overdue":
        planned = state.success.planned.get(episode)
        due = f" (due {_day(planned.due)})" if planned is not None else ""
        return f"Milestone {episode} is overdue{due}."
    if kind == "payment_failed":
        failed = state.billing.failed.get(episode)
        amount = f" of {failed.amount:,.2f}" if failed is not None else ""
        return f"Payment failed: invoice {episode}{amount} is unpaid."
    if kind == "success_potential_lost":
        failing = ", ".join(name for name, holds in ev.fits.items() if holds is False)
        return f"Success potential lost: the {failing} fit(s) fail."
    if kind == "expansion_opportunity":
        return "Expansion opportunity: healthy account near its plan limits or expanding."
    if kind == "gone_quiet":
        last = datetime.fromisoformat(episode).replace(tzinfo=UTC).timestamp()
        rate = state.usage.series["usage"].rate(
            int(last // DAY) + 1, 1, cfg.half_lives_days.usage_long
        )
        return (
            f"Gone quiet: no product usage for {ev.now_day - int(last // DAY) - 1} days "
            f"since {episode}, after a usage rate of {rate:.1f} a day."
        )
    return "Advocacy opportunity: a promoter with a recent milestone: ask for a referral."


def _moved(step: Step) -> str:
    """The largest drivers of change since the account's previous published score."""
    state = step.state
    change, health_change = change_drivers(step.ev, state.evidence, state.memory, step.config)
    if not change or health_change is None:
        return ""
    moves = ", ".join(f"{d.signal.replace('_', ' ')} {d.effect:+.1f}" for d in change[:3])
    return f" Health {health_change:+.1f} since the last published score: {moves}."


PickDrivers = Callable[[Step], tuple[Driver, ...]]
_DRIVERS: dict[str, PickDrivers] = {
    "entered_work_to_keep": lambda s: _signal_drivers(s, (CUSTOMER_HAPPINESS, COMPANY_HAPPINESS)),
    "churn_risk_high": lambda s: churn_drivers(s.ev, s.model, s.config.health.max_drivers),
    "milestone_overdue": lambda s: _signal_drivers(s, (MILESTONE_COMPLETION,)),
    "payment_failed": lambda s: _signal_drivers(s, (COMPANY_HAPPINESS,)),
    "success_potential_lost": _fit_drivers,
    "gone_quiet": lambda s: _signal_drivers(s, USAGE_SIGNALS),
}


def _episode(kind: str, short: str, state: AccountState, ev: Evaluation) -> str:
    """The full milestone or invoice id behind a condition key (memory keeps `short_id`s)."""
    if kind == "milestone_overdue":
        candidates = ev.success.overdue
    elif kind == "payment_failed":
        candidates = _outstanding(state.billing)
    else:
        return short
    return next((c for c in candidates if short_id(c) == short), short)


def _alert(kind: str, key: str, spec: AlertKind, step: Step) -> Alert:
    """The alert of a rising edge of condition `key`."""
    state, classes, config = step.state, step.classes, step.config
    episode = _episode(kind, key.partition(":")[2], state, step.ev)
    dedupe_key = f"{state.account_id}:{kind}:{episode}" if episode else f"{state.account_id}:{kind}"
    pick = _DRIVERS.get(kind)
    drivers = pick(step) if pick else ()
    if not drivers:
        drivers = step.drivers()
    return trusted(
        Alert,
        {
            "alert_id": alert_id(dedupe_key, step.event_id),
            "account_id": state.account_id,
            "ts": step.at,
            "kind": kind,
            "severity": severity(classes.tier, urgency(spec, state, step.ev, config), config),
            "dedupe_key": dedupe_key,
            "message": _message(kind, episode, step) + _moved(step),
            "tier": classes.tier,
            "engagement": ENGAGEMENT[classes.tier],
            "event_id": step.event_id,
            "drivers": drivers,
            "config_version": config.version,
            "schema_version": SCHEMA_VERSION,
        },
    )
