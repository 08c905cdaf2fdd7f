"""Churn training data the service labels itself.

While a subscription is active, the state keeps one snapshot (churn
features + predicted p + model version) per `snapshot_interval_days` of
event time. A snapshot's outcome becomes known when either

* `subscription_cancelled` arrives at time c: every snapshot taken in
  [c - horizon, c] is a positive example (older ones were already
  negatives; snapshots after c are dropped unlabelled), or
* event time passes snapshot ts + horizon with no cancellation, and that
  point is sealed (before watermark - allowed lateness, so no late
  cancellation can still change the answer): a negative example.

At most horizon / interval + 2 snapshots are ever pending.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from scoring.churn import LabelledExample
from scoring.config import ScoringConfig
from scoring.decay import DAY
from scoring.facts import Snapshot


def max_snapshots(config: ScoringConfig) -> int:
    c = config.churn
    return math.ceil(c.horizon_days / c.snapshot_interval_days) + 2


def _example(account_id: str, s: Snapshot, churned: bool) -> LabelledExample:
    ts = datetime.fromtimestamp(s.ts, UTC)
    return LabelledExample(account_id, ts, s.features, s.predicted, s.model_version, churned)


def label_cancellation(
    account_id: str, snapshots: tuple[Snapshot, ...], cancel_ts: float, config: ScoringConfig
) -> tuple[tuple[Snapshot, ...], tuple[LabelledExample, ...]]:
    """Label the snapshots a cancellation at `cancel_ts` settles."""
    horizon = config.churn.horizon_days * DAY
    examples = tuple(
        _example(account_id, s, cancel_ts - s.ts <= horizon) for s in snapshots if s.ts <= cancel_ts
    )
    return (), examples


def label_survivors(
    account_id: str, snapshots: tuple[Snapshot, ...], now_ts: float, config: ScoringConfig
) -> tuple[tuple[Snapshot, ...], tuple[LabelledExample, ...]]:
    """Snapshots whose horizon ended before the sealed point are negatives."""
    sealed = now_ts - config.lateness_seconds
    horizon = config.churn.horizon_days * DAY
    if not snapshots or snapshots[0].ts + horizon > sealed:
        return snapshots, ()
    done = tuple(s for s in snapshots if s.ts + horizon <= sealed)
    keep = tuple(s for s in snapshots if s.ts + horizon > sealed)
    return keep, tuple(_example(account_id, s, False) for s in done)


def due_snapshot(
    last_ts: float | None, first_ts: float, now_ts: float, config: ScoringConfig
) -> bool:
    """A new snapshot is due one interval after the previous one (or after the first event)."""
    anchor = first_ts if last_ts is None else last_ts
    return now_ts >= anchor + config.churn.snapshot_interval_days * DAY


def round_features(features: tuple[float, ...]) -> tuple[float, ...]:
    """Snapshots keep 3 decimals: plenty for learning, small in the state."""
    return tuple(round(x, 3) for x in features)
