"""The logistic churn model: prediction, drivers, pure learning, versions, persistence."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scoring import (
    ChurnModel,
    LabelledExample,
    ScoringConfig,
    default_churn_model,
    learn,
    track_record,
)
from scoring.churn import churn_features, contributions, predict
from scoring.names import SIGNALS


def test_default_model_predicts_the_base_rate_when_nothing_is_known(model: ChurnModel) -> None:
    features = churn_features((None,) * len(SIGNALS))
    assert features == (0.0,) * len(SIGNALS)
    assert predict(model, features) == pytest.approx(1 / (1 + 2.718281828**2.2), rel=1e-6)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ((None,) * len(SIGNALS), (0.0,) * len(SIGNALS)),
        (
            (1.0, 0.0, -1.0, 0.5, None, 1.0, 0.0, 0.25, 0.75, 1.0),
            (0.5, -0.5, -0.5, 0.0, 0.0, 0.5, 0.0, -0.25, 0.25, 0.5),
        ),
    ],
)
def test_features_are_signals_on_a_unit_scale_centred_on_neutral(
    values: tuple[float | None, ...], expected: tuple[float, ...]
) -> None:
    assert churn_features(values) == pytest.approx(expected)


def test_worse_signals_mean_more_risk(model: ChurnModel) -> None:
    good = churn_features((1.0,) * len(SIGNALS))
    bad = churn_features((0.0, 0.0, -1.0, 0.0, 0.0, -1.0, -1.0, 0.0, 0.0, 0.0))
    assert predict(model, good) < 0.01 < 0.9 < predict(model, bad)
    assert sum(contributions(model, bad)) > 0


def _example(features: tuple[float, ...], churned: bool, version: str = "v+m0") -> LabelledExample:
    return LabelledExample("a", datetime(2026, 1, 1, tzinfo=UTC), features, 0.3, version, churned)


def test_learning_is_pure_and_moves_towards_the_outcome(model: ChurnModel) -> None:
    x = (0.0, 0.0, -0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    before = predict(model, x)
    learned = learn(model, [_example(x, True)] * 20)
    assert model.updates == 0 and model.track == {}
    assert learned.updates == 20
    assert predict(learned, x) > before
    assert learn(learned, []) is learned


def test_version_moves_every_n_examples(config: ScoringConfig) -> None:
    model = default_churn_model(config)
    assert model.version == f"{config.version}+m0"
    learned = learn(model, [_example((0.0,) * len(SIGNALS), False)] * config.churn.version_every)
    assert learned.version == f"{config.version}+m1"


def test_track_record_is_filed_under_the_predicting_version(model: ChurnModel) -> None:
    examples = [_example((0.0,) * len(SIGNALS), i % 3 == 0, version="old") for i in range(9)]
    examples += [_example((0.0,) * len(SIGNALS), False, version="new")]
    rows = track_record(learn(model, examples))
    assert [(r.model_version, r.examples, r.positives) for r in rows] == [
        ("old", 9, 3),
        ("new", 1, 0),
    ]
    assert rows[0].observed_rate == pytest.approx(1 / 3)
    assert rows[0].mean_predicted == pytest.approx(0.3)


def test_track_record_keeps_a_bounded_number_of_versions(model: ChurnModel) -> None:
    examples = [_example((0.0,) * len(SIGNALS), False, version=f"v{i}") for i in range(50)]
    rows = track_record(learn(model, examples))
    assert len(rows) == model.track_versions
    assert rows[-1].model_version == "v49"


def test_model_round_trips_through_bytes(model: ChurnModel) -> None:
    learned = learn(
        model, [_example((0.1,) * len(SIGNALS), True), _example((-0.1,) * len(SIGNALS), False)]
    )
    again = ChurnModel.from_bytes(learned.to_bytes())
    assert again == learned
    assert again.version == learned.version
