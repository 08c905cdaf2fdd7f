"""Churn risk: a logistic model over behavioural features (`scoring.churn_features`).

    x_i = feature i, log-scaled; an unknown feature reads as the model's centre c_i
    churn_risk = P(cancel within horizon) = 1 / (1 + exp(-(b0 + sum_i b_i x_i)))

Coefficients are kept in the features' own (log) units, so a prediction is a
dot product of ~30 floats, pure Python, no library. The model before any
outcome is known is the config's prior (`churn.prior`: domain directions such
as "nearer the term's end is riskier", not fitted to any data set);
`scoring.churn_learner.ChurnLearner` refits it from the outcomes the service
labels itself (`scoring.outcomes`). The version is
`<config version>+m<refits>`; the track record is kept per version.
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
from scoring.names import CHURN_FEATURES
from scoring.track import TrackRecordRow, VersionStats, row_of


@dataclass(frozen=True, slots=True)
class LabelledExample:
    """A past snapshot of an account whose outcome is now known."""

    account_id: str
    snapshot_ts: datetime
    features: tuple[float, ...]
    """Churn features in `CHURN_FEATURES` order, unknowns as centres."""
    predicted: float
    model_version: str
    """The version that made `predicted`: the track record files the outcome under it."""
    churned: bool


@dataclass(frozen=True, slots=True)
class ChurnModel:
    config_version: str
    features: tuple[str, ...]
    """Feature names, the order of `coefficients` and `centres`."""
    intercept: float
    coefficients: tuple[float, ...]
    """Log-odds per unit of each (log-scaled) feature."""
    centres: tuple[float, ...]
    """Each feature's typical value: what an unknown feature reads as."""
    refits: int
    updates: int
    """Examples the newest refit was fitted on (0: the prior)."""
    track_bins: int
    track_versions: int
    track: Mapping[str, VersionStats]
    """Per model version, oldest first, at most `track_versions`."""

    @property
    def version(self) -> str:
        return f"{self.config_version}+m{self.refits}"

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
            for key in ("features", "coefficients", "centres"):
                doc[key] = tuple(doc[key])
            model = cls(track=track, **doc)
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
            raise ScoringError(f"corrupt ChurnModel bytes: {exc}") from exc
        if not (len(model.features) == len(model.coefficients) == len(model.centres)):
            raise ScoringError("corrupt ChurnModel bytes: feature, coefficient counts differ")
        return model

    def coefficient_table(self) -> list[tuple[str, float, float]]:
        """(feature, coefficient, centre) rows, the intercept first (centre 0)."""
        return [
            ("intercept", self.intercept, 0.0),
            *zip(self.features, self.coefficients, self.centres, strict=True),
        ]


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def default_churn_model(config: ScoringConfig) -> ChurnModel:
    """The model before it has learned anything: the config's prior."""
    c = config.churn
    weights = tuple(c.prior[f].weight if f in c.prior else 0.0 for f in CHURN_FEATURES)
    centres = tuple(c.prior[f].typical if f in c.prior else 0.0 for f in CHURN_FEATURES)
    intercept = _logit(c.prior_risk) - sum(map(operator.mul, weights, centres))
    return ChurnModel(
        config_version=config.version,
        features=CHURN_FEATURES,
        intercept=intercept,
        coefficients=weights,
        centres=centres,
        refits=0,
        updates=0,
        track_bins=c.track_record_bins,
        track_versions=c.track_record_versions,
        track={},
    )


def churn_features(model: ChurnModel, raw: Sequence[float | None]) -> tuple[float, ...]:
    """The features with unknowns (None) read as the model's centres."""
    return tuple([c if x is None else x for x, c in zip(raw, model.centres, strict=True)])


def _sigmoid(z: float) -> float:
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def predict(model: ChurnModel, features: Sequence[float]) -> float:
    return _sigmoid(model.intercept + sum(map(operator.mul, model.coefficients, features)))


def contributions(model: ChurnModel, features: Sequence[float]) -> tuple[float, ...]:
    """Log-odds contribution b_i (x_i - c_i) of each feature against its typical value."""
    return tuple(
        b * (x - c) for b, x, c in zip(model.coefficients, features, model.centres, strict=True)
    )


def file_outcomes(model: ChurnModel, examples: Sequence[LabelledExample]) -> ChurnModel:
    """The model with each example's outcome filed in the track record under the version
    that predicted it (coefficients unchanged: they move only through
    `scoring.churn_learner.ChurnLearner`, which needs the config and keeps its examples)."""
    if not examples:
        return model
    track = dict(model.track)
    for ex in examples:
        stats = track.get(ex.model_version) or VersionStats.empty(
            ex.model_version, model.track_bins
        )
        track[ex.model_version] = stats.add(ex.predicted, ex.churned)
        while len(track) > model.track_versions:
            del track[next(iter(track))]
    return replace(model, track=track)


def track_record(model: ChurnModel) -> list[TrackRecordRow]:
    """AUC and calibration per model version, oldest version first."""
    return [row_of(stats) for stats in model.track.values()]
