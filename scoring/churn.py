"""Churn risk: a logistic model over the signals that learns from observed outcomes.

    x_i = u_i - 0.5      (u_i: signal i on 0..1; an unknown signal is neutral, x_i = 0)
    churn_risk = P(cancel within horizon) = 1 / (1 + exp(-(b0 + sum_i b_i x_i)))

The default coefficients live in the config (`churn.coefficients`). The
service labels its own training data (see `scoring.outcomes`) and `learn`
applies online logistic regression (one SGD step per example, small L2 on
the coefficients, none on the intercept). The model version is
`<config version>+m<updates // version_every>`: it moves every
`version_every` learned examples, and the track record is kept per version.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import orjson

from scoring.config import ScoringConfig
from scoring.errors import ScoringError
from scoring.names import SIGNALS, SIGNED_SIGNALS
from scoring.track import TrackRecordRow, VersionStats, row_of


@dataclass(frozen=True, slots=True)
class LabelledExample:
    """A past snapshot of an account whose outcome is now known."""

    account_id: str
    snapshot_ts: datetime
    features: tuple[float, ...]
    predicted: float
    model_version: str
    """The version that made `predicted`: the track record files the outcome under it."""
    churned: bool


@dataclass(frozen=True, slots=True)
class ChurnModel:
    config_version: str
    intercept: float
    coefficients: tuple[float, ...]
    """In `scoring.names.SIGNALS` order."""
    updates: int
    learning_rate: float
    l2: float
    version_every: int
    track_bins: int
    track_versions: int
    track: Mapping[str, VersionStats]
    """Per model version, oldest first, at most `track_versions`."""

    @property
    def version(self) -> str:
        return f"{self.config_version}+m{self.updates // self.version_every}"

    def to_bytes(self) -> bytes:
        doc = {name: getattr(self, name) for name in ChurnModel.__slots__ if name != "track"}
        doc["track"] = [
            [
                s.version,
                s.auc_positives,
                s.auc_negatives,
                s.cal_examples,
                s.cal_positives,
                s.cal_predicted,
            ]
            for s in self.track.values()
        ]
        return orjson.dumps(doc)

    @classmethod
    def from_bytes(cls, data: bytes) -> ChurnModel:
        try:
            doc = orjson.loads(data)
            track = {
                t[0]: VersionStats(
                    t[0], tuple(t[1]), tuple(t[2]), tuple(t[3]), tuple(t[4]), tuple(t[5])
                )
                for t in doc.pop("track")
            }
            doc["coefficients"] = tuple(doc["coefficients"])
            return cls(track=track, **doc)
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
            raise ScoringError(f"corrupt ChurnModel bytes: {exc}") from exc


def default_churn_model(config: ScoringConfig) -> ChurnModel:
    """The model before it has learned anything: the config's documented coefficients."""
    c = config.churn
    return ChurnModel(
        config_version=config.version,
        intercept=c.coefficients.intercept,
        coefficients=config.coefficients,
        updates=0,
        learning_rate=c.learning_rate,
        l2=c.l2,
        version_every=c.version_every,
        track_bins=c.track_record_bins,
        track_versions=c.track_record_versions,
        track={},
    )


_SIGNED = tuple(s in SIGNED_SIGNALS for s in SIGNALS)


def churn_features(values: Sequence[float | None]) -> tuple[float, ...]:
    """Centred features in SIGNALS order; unknown signals are neutral (0)."""
    return tuple(
        [
            0.0 if v is None else (v * 0.5 if signed else v - 0.5)
            for v, signed in zip(values, _SIGNED, strict=True)
        ]
    )


def _sigmoid(z: float) -> float:
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def predict(model: ChurnModel, features: Sequence[float]) -> float:
    return _sigmoid(model.intercept + sum(map(operator.mul, model.coefficients, features)))


def contributions(model: ChurnModel, features: Sequence[float]) -> tuple[float, ...]:
    """Log-odds contribution b_i x_i of each signal."""
    return tuple(b * x for b, x in zip(model.coefficients, features, strict=True))


def learn(model: ChurnModel, examples: Sequence[LabelledExample]) -> ChurnModel:
    """One SGD step per example, in order; also files each outcome in the track record."""
    if not examples:
        return model
    b0, coefs = model.intercept, list(model.coefficients)
    lr, l2 = model.learning_rate, model.l2
    track = dict(model.track)
    for ex in examples:
        z = b0 + sum(b * x for b, x in zip(coefs, ex.features, strict=True))
        error = float(ex.churned) - _sigmoid(z)
        b0 += lr * error
        for i, x in enumerate(ex.features):
            coefs[i] += lr * (error * x - l2 * coefs[i])
        stats = track.get(ex.model_version) or VersionStats.empty(
            ex.model_version, model.track_bins
        )
        track[ex.model_version] = stats.add(ex.predicted, ex.churned)
        while len(track) > model.track_versions:
            del track[next(iter(track))]
    return replace(
        model,
        intercept=b0,
        coefficients=tuple(coefs),
        updates=model.updates + len(examples),
        track=track,
    )


def track_record(model: ChurnModel) -> list[TrackRecordRow]:
    """AUC and calibration per model version, oldest version first."""
    return [row_of(stats) for stats in model.track.values()]
