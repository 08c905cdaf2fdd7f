"""bench.signal_power: AUC of health and of each signal against observed churn."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bench.signal_power import Observation, auc, observations_from_events, signal_power
from scoring.names import SIGNALS

DAY = 86_400.0


@pytest.mark.parametrize(
    ("values", "labels", "expected"),
    [
        ([3.0, 2.0, 1.0, 0.0], [False, False, True, True], 1.0),  # stayers above leavers
        ([0.0, 1.0, 2.0, 3.0], [False, False, True, True], 0.0),  # the wrong way round
        ([1.0, 1.0, 1.0, 1.0], [False, True, False, True], 0.5),  # ties count half
        ([2.0, 1.0, 1.0, 0.0], [False, False, True, True], 0.875),
        ([1.0, 2.0], [False, False], None),  # one class only
    ],
)
def test_auc_ranks_stayers_above_leavers(
    values: list[float], labels: list[bool], expected: float | None
) -> None:
    assert auc(values, labels) == (None if expected is None else pytest.approx(expected))


def _score(account: str, day: float, health: float, **signals: float) -> dict[str, object]:
    ts = f"2026-01-{1 + int(day):02d}T00:00:00Z"
    return {"account_id": account, "ts": ts, "health": health, "signals": signals}


def test_each_observation_takes_the_latest_score_at_or_before_it() -> None:
    t = 1767225600.0 + 5 * DAY  # 2026-01-06
    scores = [
        _score("stays", 0, 80.0, adoption=0.2),
        _score("stays", 6, 10.0, adoption=0.9),  # after the observation: not seen
        _score("leaves", 4, 30.0, adoption=0.9, velocity=-0.5),
    ]
    obs = [
        Observation("stays", t, False),
        Observation("leaves", t, True),
        Observation("x", t, True),
    ]
    powers = {p.name: p for p in signal_power(obs, scores)}
    assert [p for p in powers] == ["health", *SIGNALS]
    assert powers["health"].auc == 1.0 and powers["health"].known == 1.0
    assert powers["adoption"].auc == 0.0  # points the wrong way here
    assert powers["velocity"].known == 0.5 and powers["velocity"].auc is None
    assert powers["goal_clarity"].known == 0.0


def test_observations_follow_the_churnsim_protocol(tmp_path: Path) -> None:
    """Observed every 14 days once subscribed 28 days, until cancelled; label: cancels
    within 56 days; no observation whose horizon runs past the last event."""

    def event(account: str, day: int, kind: str) -> bytes:
        ts = f"2026-{1 + day // 28:02d}-{1 + day % 28:02d}T00:00:00Z"
        return orjson.dumps({"account_id": account, "ts": ts, "type": kind}) + b"\n"

    path = tmp_path / "events.jsonl"
    path.write_bytes(
        event("a", 0, "subscription_started")
        + event("b", 0, "subscription_started")
        + event("a", 70, "subscription_cancelled")
        + event("b", 200, "subscription_changed")
    )
    obs = observations_from_events(path, 56.0, 14.0, 28.0, None)
    a = [(round((o.ts - obs[0].ts) / DAY), o.label) for o in obs if o.account_id == "a"]
    assert a[0] == (0, True) and all(label for _, label in a)
    assert max(d for d, _ in a) < 70 - 28 + 1
    b = [o for o in obs if o.account_id == "b"]
    assert b and not any(o.label for o in b)
