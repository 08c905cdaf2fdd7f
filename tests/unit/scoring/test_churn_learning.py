"""The churn model learns from outcomes the service observes itself."""

from __future__ import annotations

from scoring import (
    AccountState,
    ChurnModel,
    LabelledExample,
    ScoringConfig,
    learn,
    process,
    track_record,
)
from scoring.churn import predict
from scoring.track import roc_auc
from tests.unit.scoring.synthetic import portfolio


def _replay(
    seed: int, accounts: int, config: ScoringConfig, model: ChurnModel, learning: bool
) -> tuple[ChurnModel, list[LabelledExample]]:
    states: dict[str, AccountState] = {}
    examples: list[LabelledExample] = []
    for event in portfolio(seed, accounts):
        step = process(states.get(event.account_id), event, config, model)
        states[event.account_id] = step.state
        if step.examples:
            examples.extend(step.examples)
            if learning:
                model = learn(model, step.examples)
    return model, examples


def test_online_learning_beats_the_default_coefficients(
    config: ScoringConfig, model: ChurnModel
) -> None:
    learned, train = _replay(seed=11, accounts=120, config=config, model=model, learning=True)
    _, held_out = _replay(seed=12, accounts=120, config=config, model=model, learning=False)
    assert learned.updates == len(train) > 500
    assert sum(e.churned for e in train) > 50

    outcomes = [e.churned for e in held_out]
    before = roc_auc([predict(model, e.features) for e in held_out], outcomes)
    after = roc_auc([predict(learned, e.features) for e in held_out], outcomes)
    assert before is not None and after is not None
    print(
        f"\nheld-out AUC: default {before:.3f} -> learned {after:.3f} (+{after - before:.3f}), "
        f"{len(train)} training examples, model {learned.version}"
    )
    assert after > before + 0.1

    rows = track_record(learned)
    assert rows and rows[0].model_version == f"{config.version}+m0"
    assert sum(r.examples for r in rows) == len(train)
    assert all(r.auc is None or 0.0 <= r.auc <= 1.0 for r in rows)
