"""Output models -> ClickHouse rows, one function per table family.

Drivers are stored as JSON text: Grafana shows them as they are, and their
shape can grow without a migration.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from schemas.outputs import Alert, DeadLetter, Driver, ScoreRecord, Transition
from scoring import ShadowScore, TrackRecordRow

SCORE_COLUMNS = (
    "account_id", "ts", "event_id", "health", "band", "trend_7d", "trend_30d", "coverage",
    "freshness_days", "signals", "readiness_quadrant", "success_quadrant", "happiness_band",
    "churn_risk", "tier", "engagement", "success_potential", "fits", "opportunities",
    "drivers", "churn_drivers", "segment", "mrr", "cancelled", "events_applied",
    "config_version", "model_version",
)  # fmt: skip
TRANSITION_COLUMNS = (
    "account_id", "ts", "kind", "from_value", "to_value", "event_id", "drivers",
    "config_version",
)  # fmt: skip
ALERT_COLUMNS = (
    "alert_id", "account_id", "ts", "kind", "severity", "dedupe_key", "message", "tier",
    "engagement", "event_id", "drivers", "config_version",
)  # fmt: skip
TRACK_RECORD_COLUMNS = (
    "model_version", "computed_at", "examples", "positives", "auc", "brier",
    "bin_lower", "bin_predicted", "bin_observed", "bin_count", "auc_previous", "auc_fell",
)  # fmt: skip
DEAD_LETTER_COLUMNS = (
    "received_at", "source_topic", "partition", "offset", "key", "reason", "field", "detail",
    "payload", "payload_bytes", "event_id", "account_id",
)  # fmt: skip
SHADOW_COLUMNS = (
    "account_id", "ts", "event_id", "events_applied", "scorecard", "health", "band",
    "coverage", "readiness_quadrant", "success_quadrant", "churn_risk", "tier",
    "live_health", "live_band", "config_version", "live_config_version",
)  # fmt: skip
DEAD_LETTER_ROW_COLUMNS = ("failed_at", "table_name", "row", "error", "error_code", "attempts")

MONTHLY_PARTITIONS = {
    "score_history": "ts",
    "transitions": "ts",
    "alerts": "ts",
    "dead_letters": "received_at",
    "shadow_scores": "ts",
}
"""The tables `PARTITION BY toYYYYMM(column)` (migrations/0001_initial.sql), by table: the
writer splits an insert so that none spans more than a bounded number of months."""


def drivers_json(drivers: Sequence[Driver]) -> str:
    """As `[d.model_dump(mode="json") ...]` would write them, at a fraction of the cost: a
    driver's fields are JSON-ready as they are (strings, floats, a tuple of ids)."""
    return orjson.dumps([d.__dict__ for d in drivers]).decode()


def _opt_bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


def score_row(s: ScoreRecord) -> list[Any]:
    return [
        s.account_id, s.ts, s.event_id, s.health, s.band.value, s.trend_7d, s.trend_30d,
        s.coverage, s.freshness_days, dict(s.signals),
        s.readiness_quadrant.value if s.readiness_quadrant else None,
        s.success_quadrant.value if s.success_quadrant else None,
        s.happiness_band.value if s.happiness_band else None,
        s.churn_risk, s.tier.value, s.engagement.value, _opt_bool(s.success_potential),
        {k: _opt_bool(v) for k, v in s.fits.items()}, list(s.opportunities),
        drivers_json(s.drivers), drivers_json(s.churn_drivers), s.segment, s.mrr,
        int(s.cancelled), s.events_applied, s.config_version, s.model_version,
    ]  # fmt: skip


def shadow_row(s: ShadowScore) -> list[Any]:
    return [
        s.account_id, s.ts, s.event_id, s.events_applied, s.scorecard, s.health, s.band.value,
        s.coverage, s.readiness_quadrant.value if s.readiness_quadrant else None,
        s.success_quadrant.value if s.success_quadrant else None, s.churn_risk, s.tier.value,
        s.live_health, s.live_band.value, s.config_version, s.live_config_version,
    ]  # fmt: skip


def transition_row(t: Transition) -> list[Any]:
    return [
        t.account_id, t.ts, t.kind, t.from_value, t.to_value, t.event_id,
        drivers_json(t.drivers), t.config_version,
    ]  # fmt: skip


def alert_row(a: Alert) -> list[Any]:
    return [
        a.alert_id, a.account_id, a.ts, a.kind, a.severity.value, a.dedupe_key, a.message,
        a.tier.value, a.engagement.value, a.event_id, drivers_json(a.drivers), a.config_version,
    ]  # fmt: skip


def dead_letter_row(d: DeadLetter) -> list[Any]:
    return [
        d.received_at, d.source_topic, d.partition, d.offset, d.key, d.reason.value, d.field,
        d.detail, d.payload, d.payload_bytes, d.event_id, d.account_id,
    ]  # fmt: skip


def track_record_row(
    r: TrackRecordRow, computed_at: datetime, auc_previous: float | None = None, fell: bool = False
) -> list[Any]:
    """Calibration bins become parallel arrays; an empty bin's rates are NaN. `auc_previous`
    and `fell`: the previous version's AUC and whether this one's fell (`scoring.auc_fell`)."""
    nan = float("nan")
    bins = r.calibration
    return [
        r.model_version, computed_at, r.examples, r.positives, r.auc, None,
        [b.lower for b in bins],
        [nan if b.mean_predicted is None else b.mean_predicted for b in bins],
        [nan if b.observed_rate is None else b.observed_rate for b in bins],
        [b.examples for b in bins], auc_previous, int(fell),
    ]  # fmt: skip
