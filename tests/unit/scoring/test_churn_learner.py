"""The deployment's churn learner: the waiting policy, determinism, resumption, the codec."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

import scoring
from scoring.track import TrackRecordRow

CONFIG = scoring.load_config()


def example(i: int, churned: bool, rng: random.Random | None = None) -> scoring.LabelledExample:
    model = scoring.default_churn_model(CONFIG)
    base = 0.2 if churned else 0.8
    jitter = (lambda: rng.uniform(-0.1, 0.1)) if rng else (lambda: 0.0)
    features = tuple(round(base + jitter() - 0.5, 3) for _ in model.coefficients)
    return scoring.LabelledExample(
        f"a{i}", datetime(2026, 1, 1, tzinfo=UTC), features, 0.5, model.version, churned
    )


def stream(n: int, seed: int = 3) -> list[scoring.LabelledExample]:
    rng = random.Random(seed)
    return [example(i, rng.random() < 0.3, rng) for i in range(n)]


def test_positives_alone_do_not_move_the_model_then_both_classes_do():
    learner = scoring.ChurnLearner(CONFIG, min_per_class=5)
    start = learner.model
    assert learner.add([example(i, True) for i in range(50)]) is None
    assert learner.model is start and learner.pending == 50
    learner.add([example(i, False) for i in range(5)])
    assert learner.model is not start and learner.pending == 0


def test_the_wait_is_bounded():
    learner = scoring.ChurnLearner(CONFIG, max_pending=100)
    learner.add([example(i, True) for i in range(250)])
    assert learner.pending == 100


def test_add_returns_the_model_only_when_its_version_changes():
    learner = scoring.ChurnLearner(CONFIG, min_per_class=2)
    versions = []
    for ex in stream(3 * CONFIG.churn.version_every):
        new = learner.add([ex])
        if new is not None:
            assert new is learner.model
            versions.append(new.version)
    assert versions == [f"{CONFIG.version}+m{i}" for i in (1, 2)]


@pytest.mark.parametrize("chunk", [1, 7, 500])
def test_the_models_depend_on_the_sequence_not_on_how_it_is_split(chunk: int):
    examples = stream(1200)
    whole = scoring.ChurnLearner(CONFIG, min_per_class=3)
    whole.add(examples)
    split = scoring.ChurnLearner(CONFIG, min_per_class=3)
    for i in range(0, len(examples), chunk):
        split.add(examples[i : i + chunk])
    assert split.model == whole.model and split.pending == whole.pending


def test_model_plus_the_pending_examples_is_the_whole_state():
    """What a new owner of the learner does: start from the published model and feed the
    last `pending` examples again; it then learns exactly as the first one would have."""
    examples = stream(900)
    first = scoring.ChurnLearner(CONFIG, min_per_class=4)
    first.add(examples[:601])
    assert first.pending > 0, "the cut should fall between two learning rounds"
    model = scoring.ChurnModel.from_bytes(first.model.to_bytes())
    second = scoring.ChurnLearner(CONFIG, model, min_per_class=4)
    second.add(examples[601 - first.pending : 601])
    first.add(examples[601:])
    second.add(examples[601:])
    assert second.model == first.model


def test_examples_survive_the_topic_codec():
    ex = stream(1)[0]
    assert scoring.example_from_bytes(scoring.example_to_bytes(ex)) == ex
    with pytest.raises(scoring.ScoringError):
        scoring.example_from_bytes(b'["a", "x"]')


def _row(version: str, auc: float | None, examples: int = 100) -> TrackRecordRow:
    return TrackRecordRow(version, examples, 10, auc, None, None, ())


def test_a_version_whose_auc_falls_by_more_than_the_margin_is_flagged():
    rows = [_row("m1", 0.70), _row("m2", 0.68), _row("m3", None), _row("m4", 0.60),
            _row("m5", 0.40, examples=5), _row("m6", 0.66)]  # fmt: skip
    assert scoring.auc_fell(rows, margin=0.05, min_examples=20) == [
        (None, False),
        (0.70, False),
        (0.68, False),
        (0.68, True),
        (0.60, False),
        (0.60, False),
    ]
