"""The deployment's one churn learner, and the wire format of its examples.

`ChurnLearner` turns a sequence of labelled examples into a sequence of
model versions. The streams layer runs exactly one of it per deployment
(fed from the churn-examples topic) and publishes the versions it returns;
`score-file` can run the same class in-process.

The contract the streams layer relies on:

* `ChurnLearner(config, model=None)`: start from `model` (a published
  version) or from the config's default coefficients.
* `add(examples)` takes examples one at a time, in order, and returns the
  model when its version changed during the call, else None. The result
  depends only on the sequence of examples, not on how it is split into
  calls, so a learner replayed from the topic reproduces the same versions.
* `model` is the current model; `pending` is how many of the most recently
  added examples it does not contain yet. The learner's whole state is
  `model` plus those last `pending` examples: `ChurnLearner(config, model)`
  fed those examples again is the same learner. That is how a new owner of
  the learner resumes (streams.churn_model).
* Memory is bounded (`max_pending` examples).

The learning policy: outcomes arrive lopsided (a cancellation labels its
snapshots at once, survival only once the horizon has passed) and learning
from one class alone drives every prediction toward it, so examples wait
until both classes have `min_per_class`, then are learned together with
`scoring.churn.learn`. The wait is bounded by `max_pending`, oldest dropped
first.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime

import orjson

from scoring.churn import ChurnModel, LabelledExample, default_churn_model, learn
from scoring.config import ScoringConfig
from scoring.errors import ScoringError
from scoring.track import TrackRecordRow

MIN_PER_CLASS = 20
MAX_PENDING = 20_000


class ChurnLearner:
    def __init__(
        self,
        config: ScoringConfig,
        model: ChurnModel | None = None,
        *,
        min_per_class: int = MIN_PER_CLASS,
        max_pending: int = MAX_PENDING,
    ) -> None:
        if min_per_class < 1 or max_pending < 2 * min_per_class:
            raise ScoringError("need min_per_class >= 1 and max_pending >= 2 * min_per_class")
        self.config = config
        self.model = model if model is not None else default_churn_model(config)
        self.min_per_class = min_per_class
        self.max_pending = max_pending
        self._pending: deque[LabelledExample] = deque()
        self._churned = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(self, examples: Sequence[LabelledExample]) -> ChurnModel | None:
        before = self.model.version
        for example in examples:
            self._add_one(example)
        return self.model if self.model.version != before else None

    def _add_one(self, example: LabelledExample) -> None:
        self._pending.append(example)
        self._churned += example.churned
        if len(self._pending) > self.max_pending:
            self._churned -= self._pending.popleft().churned
        survived = len(self._pending) - self._churned
        if min(self._churned, survived) >= self.min_per_class:
            self.model = learn(self.model, list(self._pending))
            self._pending.clear()
            self._churned = 0


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
