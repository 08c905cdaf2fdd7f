"""Usage signals: feature breadth, feature depth, velocity, adoption (seed 002: footprint)."""

from __future__ import annotations

from scoring.bounded import estimate_distinct
from scoring.config import ScoringConfig
from scoring.decay import Series
from scoring.state import UsageFacts


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


def usage_rates(
    usage: Series | None, now_day: int, config: ScoringConfig
) -> tuple[float, float] | None:
    """Per-day usage rates at the short and the long half-life; None without usage data."""
    if usage is None or usage.is_empty:
        return None
    hl = config.half_lives_days
    return usage.rate(now_day, 0, hl.usage_short), usage.rate(now_day, 1, hl.usage_long)


def velocity(rates: tuple[float, float] | None) -> float | None:
    """(short rate - long rate) / (short + long): -1 stopping, 0 steady, 1 accelerating."""
    if rates is None:
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
