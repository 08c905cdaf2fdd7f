"""The churn model learns from outcomes the service observes itself (engine + learner)."""

from __future__ import annotations

from scoring import (
    AccountState,
    ChurnLearner,
    ChurnModel,
    LabelledExample,
    ScoringConfig,
    process,
    track_record,
)
from scoring.churn import predict
from scoring.track import roc_auc
from tests.unit.scoring.synthetic import portfolio


def _replay(
    seed: int, accounts: int, config: ScoringConfig, learner: ChurnLearner | None
) -> tuple[ChurnModel | None, list[LabelledExample]]:
    states: dict[str, AccountState] = {}
    examples: list[LabelledExample] = []
    model = learner.model if learner else ChurnLearner(config).model
    for event in portfolio(seed, accounts):
        step = process(states.get(event.account_id), event, config, model)
        states[event.account_id] = step.state
        if step.examples:
            examples.extend(step.examples)
            if learner is not None:
                learner.add(step.examples)
                model = learner.model
    return (learner.model if learner else None), examples


def test_learning_from_both_outcomes_beats_the_prior_on_held_out_accounts(
    config: ScoringConfig, model: ChurnModel
) -> None:
    churn = config.churn.model_copy(update={"refit_every": 100})
    cfg = config.model_copy(update={"churn": churn})
    learned, train = _replay(seed=11, accounts=120, config=cfg, learner=ChurnLearner(cfg))
    _, held_out = _replay(seed=12, accounts=120, config=cfg, learner=None)
    assert learned is not None and learned.refits >= 1
    assert sum(e.churned for e in train) > 50 and sum(not e.churned for e in train) > 50

    outcomes = [e.churned for e in held_out]
    before = roc_auc([predict(model, e.features) for e in held_out], outcomes)
    after = roc_auc([predict(learned, e.features) for e in held_out], outcomes)
    assert before is not None and after is not None
    print(
        f"\nheld-out AUC: prior {before:.3f} -> learned {after:.3f}, "
        f"{len(train)} examples, model {learned.version}"
    )
    assert after > before

    rows = track_record(learned)
    assert rows and rows[0].model_version == f"{config.version}+m0"
    assert sum(r.examples for r in rows) == len(train)
    assert all(r.auc is None or 0.0 <= r.auc <= 1.0 for r in rows)
