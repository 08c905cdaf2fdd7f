"""The churn model's track record: how good were its predictions, per model version.

Bounded statistics of (predicted p, observed outcome) pairs: per version,
counts in `AUC_BINS` bins of log-odds (for AUC) and in equal-width
probability bins (for calibration: mean predicted vs observed rate).
Binned AUC counts pairs inside one bin as ties (half), so it is a slight
underestimate of the exact AUC (bins are 0.25 log-odds wide).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

AUC_BINS = 64
_LOGIT_MIN, _LOGIT_MAX = -8.0, 8.0


def _logit_bin(p: float) -> int:
    p = min(max(p, 1e-9), 1.0 - 1e-9)
    z = math.log(p / (1.0 - p))
    i = int((z - _LOGIT_MIN) / (_LOGIT_MAX - _LOGIT_MIN) * AUC_BINS)
    return min(AUC_BINS - 1, max(0, i))


class CalibrationBin(NamedTuple):
    lower: float
    upper: float
    examples: int
    mean_predicted: float | None
    observed_rate: float | None


@dataclass(frozen=True, slots=True)
class VersionStats:
    """Outcome statistics of the predictions one model version made."""

    version: str
    auc_positives: tuple[int, ...]
    auc_negatives: tuple[int, ...]
    cal_examples: tuple[int, ...]
    cal_positives: tuple[int, ...]
    cal_predicted: tuple[float, ...]

    @classmethod
    def empty(cls, version: str, bins: int) -> VersionStats:
        zeros = (0,) * AUC_BINS
        return cls(version, zeros, zeros, (0,) * bins, (0,) * bins, (0.0,) * bins)

    def add(self, predicted: float, outcome: bool) -> VersionStats:
        a = _logit_bin(predicted)
        bins = len(self.cal_examples)
        c = min(bins - 1, int(predicted * bins))
        pos, neg = list(self.auc_positives), list(self.auc_negatives)
        (pos if outcome else neg)[a] += 1
        n, k, s = list(self.cal_examples), list(self.cal_positives), list(self.cal_predicted)
        n[c] += 1
        k[c] += int(outcome)
        s[c] += predicted
        return VersionStats(self.version, tuple(pos), tuple(neg), tuple(n), tuple(k), tuple(s))

    @property
    def examples(self) -> int:
        return sum(self.cal_examples)

    @property
    def positives(self) -> int:
        return sum(self.cal_positives)

    def auc(self) -> float | None:
        """P(score of a churner > score of a survivor), ties counted half; None without both."""
        return binned_auc(self.auc_positives, self.auc_negatives)

    def calibration(self) -> tuple[CalibrationBin, ...]:
        bins = len(self.cal_examples)
        out = []
        for i, (n, k, s) in enumerate(
            zip(self.cal_examples, self.cal_positives, self.cal_predicted, strict=True)
        ):
            mean = s / n if n else None
            rate = k / n if n else None
            out.append(CalibrationBin(i / bins, (i + 1) / bins, n, mean, rate))
        return tuple(out)


def binned_auc(positives: Sequence[int], negatives: Sequence[int]) -> float | None:
    total_pos, total_neg = sum(positives), sum(negatives)
    if not total_pos or not total_neg:
        return None
    below = 0
    wins = 0.0
    for pos, neg in zip(positives, negatives, strict=True):
        wins += pos * (below + 0.5 * neg)
        below += neg
    return wins / (total_pos * total_neg)


def roc_auc(scores: Sequence[float], outcomes: Sequence[bool]) -> float | None:
    """Exact AUC (Mann-Whitney, ties half) of scores against outcomes."""
    pairs = sorted(zip(scores, outcomes, strict=True))
    total_pos = sum(1 for _, y in pairs if y)
    total_neg = len(pairs) - total_pos
    if not total_pos or not total_neg:
        return None
    wins = 0.0
    below = 0
    i = 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        pos = sum(1 for _, y in pairs[i:j] if y)
        neg = (j - i) - pos
        wins += pos * (below + 0.5 * neg)
        below += neg
        i = j
    return wins / (total_pos * total_neg)


@dataclass(frozen=True, slots=True)
class TrackRecordRow:
    """One row of the ClickHouse track-record table: one model version."""

    model_version: str
    examples: int
    positives: int
    auc: float | None
    mean_predicted: float | None
    observed_rate: float | None
    calibration: tuple[CalibrationBin, ...]


def row_of(stats: VersionStats) -> TrackRecordRow:
    n = stats.examples
    mean = sum(stats.cal_predicted) / n if n else None
    rate = stats.positives / n if n else None
    return TrackRecordRow(
        stats.version, n, stats.positives, stats.auc(), mean, rate, stats.calibration()
    )
