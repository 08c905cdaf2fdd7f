"""Usage signals: feature breadth, feature depth, velocity, adoption (seed 002: footprint)."""

from __future__ import annotations

from scoring.bounded import estimate_distinct
from scoring.config import ScoringConfig
from scoring.decay import SCALE, Series
from scoring.facts import UsageFacts


def active_users(usage: UsageFacts, now_day: int, config: ScoringConfig) -> float:
    """Distinct users seen in the last `active_user_days` (sketch estimate)."""
    since = now_day - int(config.windows.active_user_days) + 1
    return estimate_distinct(usage.users, since, config.usage.user_registers)


def feature_breadth(
    usage: UsageFacts, plan: str | None, now_day: int, config: ScoringConfig
) -> float | None:
    """Distinct features used in the last `breadth_days` / features the plan entitles (0..1)."""
    if not usage.features:
        return None
    since = now_day - int(config.windows.breadth_days) + 1
    used = sum(map(since.__le__, usage.features.values()))  # features used since `since`
    entitled = config.usage.plan_features.get(plan or "", config.usage.catalog_features)
    return min(1.0, used / entitled)


def _completed_value(series: Series, now_day: int, index: int, half_life: float) -> float:
    """The decayed sum at the start of `now_day` without `now_day`'s own bucket: the
    completed days only (today's bucket is never sealed, so it is still in `recent`)."""
    total = series.value(now_day, index, half_life)
    for day, units in reversed(series.recent):
        if day == now_day:
            total -= units / SCALE
        if day <= now_day:
            break
    return max(0.0, total)


def _exposure(days: int, half_life: float) -> float:
    """sum_{k=1..days} 2^(-k/h): the decay weight of `days` completed days, so that a
    decayed sum over them divided by it is their (decay-weighted) mean per day."""
    q: float = 2.0 ** (-1.0 / half_life)
    return q * (1.0 - q**days) / (1.0 - q)


def usage_rates(
    usage: Series | None, now_day: int, first_day: int, config: ScoringConfig
) -> tuple[float, float] | None:
    """Per-day usage rates at the short and the long half-life over the completed days
    since the account's first day (`first_day`, its first event of any family): each
    rate is the decay-weighted mean of the daily usage, so a young account's rates are
    not diluted by days before it existed. None without usage data or a completed day."""
    days = now_day - first_day
    if usage is None or usage.is_empty or days < 1:
        return None
    hl = config.half_lives_days
    short, long = hl.usage_short, hl.usage_long
    return (
        _completed_value(usage, now_day, 0, short) / _exposure(days, short),
        _completed_value(usage, now_day, 1, long) / _exposure(days, long),
    )


def velocity(
    rates: tuple[float, float] | None, age_days: int, config: ScoringConfig
) -> float | None:
    """(short rate - long rate) / (short + long): -1 stopping, 0 steady, 1 accelerating.

    Unknown until the account is `usage.velocity_warmup_days` old (`age_days`: completed
    days since its first day): before that the two windows cover the same few days."""
    if rates is None or age_days < config.usage.velocity_warmup_days:
        return None
    short, long = rates
    if short + long <= 0.0:
        return None
    return (short - long) / (short + long)


def feature_depth(
    rates: tuple[float, float] | None, active: float, config: ScoringConfig
) -> float | None:
    """Usage per active user per day r (long half-life) against the product norm n:
    r / (r + n), 0.5 at the norm. With no user active within `active_user_days` it is 0:
    the usage left in the long-window rate is old, and nobody uses the product now (this
    keeps depth decaying as days pass without activity, instead of jumping up when the
    active users fall to none)."""
    if rates is None:
        return None
    if active <= 0.0:
        return 0.0
    per_user = rates[1] / max(active, 1.0)
    return per_user / (per_user + config.usage.depth_norm_per_user_per_day)


def adoption(usage: UsageFacts, active: float, seats: int | None) -> float | None:
    """Active users / licensed seats (0..1); unknown without usage data or seats."""
    if not usage.users or not seats:
        return None
    return min(1.0, active / seats)
