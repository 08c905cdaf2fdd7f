"""The churn model's inputs: behavioural metrics per account, log-scaled.

Following "Fighting Churn With Data" (C. Gold): the contract (days left in the
current term, the term's length), plan size (MRR, seats), usage volume over a
28-day half-life and its mix by feature, usage per active user, usage now
against the account's own longer baseline, days since last activity,
distinct features used, tenure, seat utilisation, unpaid failed invoices and
customer happiness. Counts are log-scaled here (log1p); standardising is the
model's job (`scoring.churn_learner` learns centres and scales from data).

A quantity the facts cannot tell yet (no subscription terms, no usage ever,
no happiness data) is None: the model reads it as its learned centre, so an
unknown contributes nothing.

The mix vector hashes each feature name into one of `MIX_BUCKETS` decayed
counters (`scoring.names.CHURN_MIX_SERIES`), so its size is fixed whatever
the product's catalogue; the learner finds which buckets matter.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from typing import Any

from scoring.config import ScoringConfig
from scoring.decay import DAY, LN2, Series
from scoring.names import CHURN_MIX_SERIES, MIX_BUCKETS
from scoring.state import AccountState

WINDOW_DAYS = 28.0
"""Decayed rates are read as volumes over this many days."""


def mix_series(feature: str) -> str:
    """The decayed counter of the usage-mix bucket a feature name hashes into."""
    return CHURN_MIX_SERIES[zlib.crc32(feature.encode()) % MIX_BUCKETS]


def _log1p(x: float) -> float:
    return math.log1p(x) if x > 0.0 else 0.0


def _mix(
    memo: dict[str, Any], series: Mapping[str, Series], now_day: int, half_life: float
) -> list[float]:
    """The usage-mix features, log1p(volume over 28 days) per bucket.

    The hot path: an event changes one bucket's counter, so each bucket's value is
    kept in `memo["mix"]` with the counter object and day it was read for, and only
    a bucket whose counter was replaced (or a new day) is read again."""
    cached = memo.get("mix")
    factor = LN2 / half_life * WINDOW_DAYS
    if cached is None or cached[0] != now_day:
        refs: list[Series | None] = [None] * MIX_BUCKETS
        values = [0.0] * MIX_BUCKETS
    else:
        refs, values = list(cached[1]), list(cached[2])
    for i, name in enumerate(CHURN_MIX_SERIES):
        s = series.get(name)
        if s is not refs[i]:
            refs[i] = s
            values[i] = 0.0 if s is None else _log1p(s.value(now_day, 0, half_life) * factor)
    memo["mix"] = (now_day, refs, values)
    return values


def churn_raw_features(
    state: AccountState,
    now_ts: float,
    now_day: int,
    active_users: float,
    customer_happiness: float | None,
    config: ScoringConfig,
) -> tuple[float | None, ...]:
    """The churn features of a state at its watermark, in `CHURN_FEATURES` order (None:
    unknown)."""
    u, b = state.usage, state.billing
    terms = b.terms
    if terms is not None and terms.term_end is not None:
        left: float | None = _log1p(max(0.0, terms.term_end - now_ts) / DAY)
        length: float | None = _log1p(max(0.0, terms.term_end - terms.ts) / DAY)
    else:
        left = length = None
    mrr = _log1p(terms.mrr) if terms is not None else None
    seats = _log1p(float(terms.seats)) if terms is not None and terms.seats else None
    hl = config.half_lives_days
    series = u.series
    usage = series.get("usage")
    if usage is None or usage.is_empty:
        volume = per_user = change = None
    else:
        short = usage.rate(now_day, 0, hl.usage_short) * WINDOW_DAYS
        long = usage.rate(now_day, 1, hl.usage_long) * WINDOW_DAYS
        volume = _log1p(long)
        per_user = _log1p(long / max(1.0, active_users))
        change = _log1p(short) - volume
    if u.features:
        last = max(u.features.values())
        idle: float | None = _log1p(max(0, now_day - last))
        since = now_day - int(WINDOW_DAYS) + 1
        used: float | None = _log1p(sum(map(since.__le__, u.features.values())))
    else:
        idle = used = None
    started = b.started_ts if b.started_ts is not None else state.clock.first_ts
    tenure = _log1p(max(0.0, now_ts - started) / DAY) if started is not None else None
    utilisation = (
        min(2.0, active_users / terms.seats)
        if terms is not None and terms.seats and u.users
        else None
    )
    unpaid = sum(1 for k, m in b.failed.items() if b.paid.get(k, -math.inf) < m.ts)
    mix = _mix(u.memo, series, now_day, hl.usage_long)
    return (
        left,
        length,
        mrr,
        seats,
        volume,
        per_user,
        change,
        idle,
        used,
        tenure,
        utilisation,
        _log1p(float(unpaid)),
        customer_happiness,
        *mix,
    )
