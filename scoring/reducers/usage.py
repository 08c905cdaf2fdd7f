"""Usage reducers: feature_used feeds features, active users and the usage counter."""

from __future__ import annotations

from schemas import events as ev
from scoring.bounded import feature_key, put_max, small_hash
from scoring.churn_features import mix_series
from scoring.decay import EMPTY
from scoring.facts import UsageFacts
from scoring.scratch import Reducer, Scratch


def _feature_used(s: Scratch, e: ev.FeatureUsed, ts: float, day: int, h: int) -> str:
    u, cfg = s.usage, s.config.usage
    features = put_max(u.features, feature_key(e.feature), day, cfg.max_features)
    register = small_hash(e.user_id) % cfg.user_registers
    users = put_max(u.users, register, day, cfg.user_registers)
    mix = mix_series(e.feature)
    series = {
        **u.series,
        "usage": u.series.get("usage", EMPTY).add(day, e.quantity),
        mix: u.series.get(mix, EMPTY).add(day, e.quantity),
    }
    # The hot path. Most events repeat a feature and a user already seen that day: then the
    # memoised breadth and active users (functions of features and users only) stay valid.
    view = u.memo.get("view")
    memo = (
        {"view": view} if view is not None and features is u.features and users is u.users else {}
    )
    mix_memo = u.memo.get("mix")  # the churn usage mix, checked bucket by bucket when read
    if mix_memo is not None:
        memo["mix"] = mix_memo
    s.usage = UsageFacts(features, users, series, memo)
    return "usage"


REDUCERS: dict[str, Reducer] = {"feature_used": _feature_used}
