"""The churn learner: periodic refits of a logistic regression anchored to the prior.

Why this model (measured in docs/churn.md): on ChurnSim, with outcomes
arriving as the service sees them, the domain prior alone already ranks
leavers well, and a free logistic regression or gradient boosting refitted on
the examples known so far ranks worse (a year holds a few hundred
cancellations). Maximum a posteriori logistic regression with a Gaussian
prior centred on the prior model keeps what the domain knows and lets the
outcomes move each coefficient as far as they support:

    minimise  sum_i logloss(y_i, b0 + w . z_i) + prior_strength / 2 * |w - w_prior|^2

over standardised features z = (x - mean) / sd of the buffered examples
(Newton's method; the intercept is almost free).

No hindsight and no selection bias: a cancellation labels its snapshots at
once, survival only after the horizon, so a positive waits until its
snapshot's horizon has passed on the learner's clock (the newest survival
seen). Learning from positives early would teach the model what recent
snapshots look like, not what leavers look like.

Safety: an example whose snapshot is older than the clock - horizon -
`max_example_lag_days` (a backdated history), or whose features are not
finite or implausibly large, is not learned from (`rejected`). One refit
moves each standardised coefficient by at most `max_step`.

Memory is bounded: `buffer_examples` learnable examples plus at most as many
waiting positives. The same example sequence gives the same models, however it
is split into calls: that is the contract the streams layer relies on. It runs
exactly one learner per deployment, fed from the churn-examples topic, and a
new owner of that topic rebuilds the learner by replaying the retained
examples from the start (streams.churn_model); `score-file` runs the same
class in-process.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import NamedTuple

import numpy as np
import orjson

from scoring.churn import ChurnModel, LabelledExample, default_churn_model, file_outcomes
from scoring.config import ScoringConfig
from scoring.decay import DAY
from scoring.errors import ScoringError
from scoring.track import TrackRecordRow

MAX_ABS_FEATURE = 1e3
"""Log-scaled features are small; anything beyond this is implausible input."""
NEWTON_STEPS = 12
MIN_PRECISION = 1e-2
"""A floor on the prior's precision: keeps the Newton system solvable when a feature is
constant in the buffer or the outcomes separate."""


class _Example(NamedTuple):
    ts: float
    features: tuple[float, ...]
    churned: bool


def _ts(when: datetime) -> float:
    return when.timestamp()


class ChurnLearner:
    """One deployment's churn learner: `add` labelled examples, read `model`."""

    def __init__(
        self,
        config: ScoringConfig,
        model: ChurnModel | None = None,
        *,
        min_per_class: int | None = None,
    ) -> None:
        self.config = config
        c = config.churn
        self.min_per_class = c.min_per_class if min_per_class is None else min_per_class
        self.prior = default_churn_model(config)
        self.model = model if model is not None else self.prior
        self._horizon = c.horizon_days * DAY
        self._lag = c.max_example_lag_days * DAY
        self._buffer: deque[_Example] = deque(maxlen=c.buffer_examples)
        self._waiting: deque[_Example] = deque(maxlen=c.buffer_examples)
        self.clock: float | None = None
        """The newest horizon end known to have passed: max over survivals of snapshot
        + horizon, and over cancellations of the snapshot time."""
        self.fresh = 0
        """Learnable examples added since the last refit."""
        self.rejected = 0

    @property
    def buffered(self) -> int:
        """Examples held for refits: learnable ones plus positives waiting out their horizon."""
        return len(self._buffer) + len(self._waiting)

    def _plausible(self, ex: LabelledExample) -> bool:
        if len(ex.features) != len(self.prior.features):
            return False
        if not all(math.isfinite(x) and abs(x) <= MAX_ABS_FEATURE for x in ex.features):
            return False
        ts = _ts(ex.snapshot_ts)
        return self.clock is None or ts + self._horizon >= self.clock - self._lag

    def add(self, examples: Sequence[LabelledExample]) -> ChurnModel | None:
        """Take newly labelled examples; the newest model if a refit changed it, else None.

        Examples are taken one at a time, so the models depend only on the sequence of
        examples, not on how it is split into calls. Each outcome is filed in the
        track record under the version that predicted it."""
        before = self.model
        refitted = False
        for ex in examples:
            refitted |= self._add_one(ex)
        return self.model if refitted and self.model is not before else None

    def _add_one(self, ex: LabelledExample) -> bool:
        self.model = file_outcomes(self.model, (ex,))
        if not self._plausible(ex):
            self.rejected += 1
            return False
        ts = _ts(ex.snapshot_ts)
        known = ts if ex.churned else ts + self._horizon
        if self.clock is None or known > self.clock:
            self.clock = known
        item = _Example(ts, ex.features, ex.churned)
        if ex.churned:
            self._waiting.append(item)
        else:
            self._buffer.append(item)
            self.fresh += 1
        self._release()
        if self.fresh < self.config.churn.refit_every:
            return False
        positives = sum(1 for e in self._buffer if e.churned)
        if min(positives, len(self._buffer) - positives) < self.min_per_class:
            return False
        self.fresh = 0
        self.model = self.refit()
        return True

    def _release(self) -> None:
        """Move waiting positives whose horizon has passed on the clock into the buffer."""
        if self.clock is None or not self._waiting:
            return
        keep: deque[_Example] = deque(maxlen=self._waiting.maxlen)
        for e in self._waiting:
            if e.ts + self._horizon <= self.clock:
                self._buffer.append(e)
                self.fresh += 1
            else:
                keep.append(e)
        self._waiting = keep

    def refit(self) -> ChurnModel:
        """The MAP fit on the buffer, each coefficient moved at most `max_step` from now."""
        c = self.config.churn
        x = np.array([e.features for e in self._buffer], dtype=float)
        y = np.array([1.0 if e.churned else 0.0 for e in self._buffer])
        mu = x.mean(axis=0)
        sd = x.std(axis=0)
        sd = np.where(sd > 1e-9, sd, 1.0)
        z = (x - mu) / sd
        n, p = z.shape
        a = np.hstack([np.ones((n, 1)), z])

        def to_std(model: ChurnModel) -> np.ndarray:
            w = np.array(model.coefficients)
            return np.concatenate([[model.intercept + float(w @ mu)], w * sd])

        prior = to_std(self.prior)
        current = to_std(self.model)
        precision = np.full(p + 1, max(float(c.prior_strength), MIN_PRECISION))
        precision[0] = 1e-3
        theta = current.copy()
        for _ in range(NEWTON_STEPS):
            m = 1.0 / (1.0 + np.exp(-np.clip(a @ theta, -30.0, 30.0)))
            grad = a.T @ (m - y) + precision * (theta - prior)
            hess = (a * (m * (1.0 - m))[:, None]).T @ a + np.diag(precision)
            try:
                step = np.linalg.solve(hess, grad)
            except np.linalg.LinAlgError:
                return self.model
            theta = theta - step
            if not np.all(np.isfinite(theta)):
                return self.model
            if float(np.max(np.abs(step))) < 1e-6:
                break
        theta = current + np.clip(theta - current, -c.max_step, c.max_step)
        w = theta[1:] / sd
        intercept = float(theta[0] - w @ mu)
        return replace(
            self.model,
            intercept=round(intercept, 6),
            coefficients=tuple(round(float(v), 6) for v in w),
            centres=tuple(round(float(v), 6) for v in mu),
            refits=self.model.refits + 1,
            updates=n,
        )


def example_to_bytes(example: LabelledExample) -> bytes:
    """One example as the churn-examples topic carries it (JSON, a flat array)."""
    return orjson.dumps(
        [
            example.account_id,
            example.snapshot_ts.timestamp(),
            list(example.features),
            example.predicted,
            example.model_version,
            example.churned,
        ]
    )


def example_from_bytes(data: bytes) -> LabelledExample:
    try:
        account_id, ts, features, predicted, version, churned = orjson.loads(data)
        return LabelledExample(
            str(account_id),
            datetime.fromtimestamp(float(ts), UTC),
            tuple(float(x) for x in features),
            float(predicted),
            str(version),
            bool(churned),
        )
    except (orjson.JSONDecodeError, ValueError, TypeError, OverflowError) as exc:
        raise ScoringError(f"corrupt LabelledExample bytes: {exc}") from exc


def auc_fell(
    rows: Sequence[TrackRecordRow], margin: float, min_examples: int
) -> list[tuple[float | None, bool]]:
    """Per track-record row (oldest version first): the AUC of the version before it, and
    whether this version's AUC fell below that by more than `margin`. Only versions with
    an AUC over at least `min_examples` outcomes are compared."""
    out: list[tuple[float | None, bool]] = []
    previous: float | None = None
    for row in rows:
        auc = row.auc if row.examples >= min_examples else None
        out.append((previous, auc is not None and previous is not None and auc < previous - margin))
        if auc is not None:
            previous = auc
    return out
