"""The churn model: behavioural features, the prior, prediction, drivers, persistence."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from scoring import (
    ChurnModel,
    LabelledExample,
    ScoringConfig,
    file_outcomes,
    process,
    track_record,
)
from scoring.churn import churn_features, contributions, predict
from scoring.churn_features import mix_series
from scoring.evaluate import evaluate
from scoring.names import CHURN_FEATURES, CHURN_MIX_SERIES, MIX_BUCKETS
from tests.unit.scoring.factory import Events, run

INDEX = {name: i for i, name in enumerate(CHURN_FEATURES)}


def test_the_prior_predicts_the_prior_risk_for_a_typical_account(
    config: ScoringConfig, model: ChurnModel
) -> None:
    typical = churn_features(model, (None,) * len(CHURN_FEATURES))
    assert typical == model.centres
    assert predict(model, typical) == pytest.approx(config.churn.prior_risk, rel=1e-9)
    assert not any(contributions(model, typical))


def _with(model: ChurnModel, **values: float) -> tuple[float, ...]:
    raw: list[float | None] = [None] * len(CHURN_FEATURES)
    for name, v in values.items():
        raw[INDEX[name]] = v
    return churn_features(model, raw)


@pytest.mark.parametrize(
    ("feature", "riskier", "safer"),
    [
        ("term_days_left", 1.0, 5.0),  # log1p(days): renewal in 2 days vs in 5 months
        ("seats", 0.7, 3.0),
        ("mrr", 3.0, 7.0),
        ("usage_28d", 1.0, 7.0),
        ("days_idle", 3.0, 0.0),
        ("usage_change", -1.0, 0.0),
        ("unpaid_failed_invoices", 1.0, 0.0),
    ],
)
def test_the_prior_points_the_domain_way(
    model: ChurnModel, feature: str, riskier: float, safer: float
) -> None:
    assert predict(model, _with(model, **{feature: riskier})) > predict(
        model, _with(model, **{feature: safer})
    )


def test_features_are_read_from_the_facts(config: ScoringConfig, model: ChurnModel) -> None:
    events = (
        Events("acct-1")
        .add("subscription_started", 0, plan="growth", mrr=999.0, seats=9, term_end=30)
        .add("feature_used", 1, user_id="u1", feature="reports", quantity=3.0)
        .add("feature_used", 10, user_id="u2", feature="reports", quantity=1.0)
    )
    _, steps = run(events, config, model)
    ev = evaluate(steps[-1].state, config, model)
    f = dict(zip(CHURN_FEATURES, ev.features, strict=True))
    assert f["term_days_left"] == pytest.approx(math.log1p(20.0))
    assert f["term_length_days"] == pytest.approx(math.log1p(30.0))
    assert f["mrr"] == pytest.approx(math.log1p(999.0))
    assert f["seats"] == pytest.approx(math.log1p(9.0))
    assert f["days_idle"] == 0.0
    bucket = int(mix_series("reports")[3:])
    assert f[f"usage_mix_{bucket}"] > 0.0
    assert all(f[f"usage_mix_{i}"] == 0.0 for i in range(MIX_BUCKETS) if i != bucket)
    assert f["customer_happiness"] == model.centres[INDEX["customer_happiness"]]  # unknown


def test_the_mix_vector_has_a_fixed_size_whatever_the_catalogue() -> None:
    names = {mix_series(f"feature-{i}") for i in range(1000)}
    assert names == set(CHURN_MIX_SERIES)


def test_each_score_names_the_model_version_and_churn_drivers_name_features(
    config: ScoringConfig, model: ChurnModel
) -> None:
    events = Events("acct-1").add(
        "subscription_started", 0, plan="growth", mrr=50.0, seats=1, term_end=3
    )
    step = process(None, next(iter(events)), config, model)
    assert step.score is not None
    assert step.score.model_version == model.version
    assert step.score.churn_drivers[0].signal in CHURN_FEATURES


def _example(features: tuple[float, ...], churned: bool, version: str = "v+m0") -> LabelledExample:
    return LabelledExample("a", datetime(2026, 1, 1, tzinfo=UTC), features, 0.3, version, churned)


def test_track_record_is_filed_under_the_predicting_version(model: ChurnModel) -> None:
    x = model.centres
    examples = [_example(x, i % 3 == 0, version="old") for i in range(9)]
    examples += [_example(x, False, version="new")]
    filed = file_outcomes(model, examples)
    assert filed.coefficients == model.coefficients
    rows = track_record(filed)
    assert [(r.model_version, r.examples, r.positives) for r in rows] == [
        ("old", 9, 3),
        ("new", 1, 0),
    ]
    assert rows[0].observed_rate == pytest.approx(1 / 3)
    assert rows[0].mean_predicted == pytest.approx(0.3)


def test_track_record_keeps_a_bounded_number_of_versions(model: ChurnModel) -> None:
    examples = [_example(model.centres, False, version=f"v{i}") for i in range(50)]
    rows = track_record(file_outcomes(model, examples))
    assert len(rows) == model.track_versions
    assert rows[-1].model_version == "v49"


def test_model_round_trips_through_bytes(model: ChurnModel) -> None:
    filed = file_outcomes(model, [_example(model.centres, True), _example(model.centres, False)])
    again = ChurnModel.from_bytes(filed.to_bytes())
    assert again == filed
    assert again.version == filed.version
