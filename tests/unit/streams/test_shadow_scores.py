"""The shadow scorecard in the pipeline: shadow rows beside the live scores, and the live
outputs and states exactly those of a run without a shadow."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

import scoring
from scoring.config_load import config_from_mapping, packaged_defaults
from scoring.names import SIGNALS, SIGNED_SIGNALS
from streams.clickhouse.rows import SHADOW_COLUMNS, shadow_row
from streams.pipeline import BatchOutput, BatchProcessor, RawRecord
from tests.support.records import TOPICS, portfolio_records

CANDIDATE = "candidate"


def shadow_config(**weights: float) -> scoring.ScoringConfig:
    """The packaged config with a `candidate` scorecard (the default one with `weights`
    changed) as its shadow."""
    data = packaged_defaults()
    card = {**data["scorecards"]["default"], **weights}
    data = {**data, "scorecards": {**data["scorecards"], CANDIDATE: card}}
    return config_from_mapping({**data, "shadow_scorecard": CANDIDATE})


@pytest.fixture(scope="module")
def records() -> list[RawRecord]:
    return portfolio_records(accounts=10, days=60, seed=11)


def _run(
    config: scoring.ScoringConfig, records: list[RawRecord], batch: int = 97
) -> tuple[BatchOutput, dict[str, bytes]]:
    model = scoring.default_churn_model(config)
    processor = BatchProcessor(config, {t: f for f, t in TOPICS.items()}, lambda: model)
    table: dict[str, bytes] = {}
    total = BatchOutput()
    for i in range(0, len(records), batch):
        out = processor.run(records[i : i + batch], table.get, table.__setitem__)
        total.scores += out.scores
        total.transitions += out.transitions
        total.alerts += out.alerts
        total.examples += out.examples
        total.dead_letters += out.dead_letters
        total.shadows += out.shadows
    return total, table


def _health(signals: dict[str, float | None], weights: tuple[float, ...]) -> float:
    """docs/scoring.md "Health", written out: the weighted mean of the known signals on 0..1."""
    parts = [
        (w, (v + 1) / 2 if name in SIGNED_SIGNALS else v)
        for name, w in zip(SIGNALS, weights, strict=True)
        if (v := signals[name]) is not None and w > 0
    ]
    return 100 * sum(w * u for w, u in parts) / sum(w for w, _ in parts)


def _json(models: list[Any]) -> list[bytes]:
    return [orjson.dumps(m.model_dump(mode="json")) for m in models]


def test_live_outputs_and_states_are_those_of_a_run_without_shadow(
    records: list[RawRecord],
) -> None:
    with_shadow = shadow_config(customer_happiness=0.6)
    without = config_from_mapping({**with_shadow.model_dump(), "shadow_scorecard": None})
    live, live_table = _run(without, records)
    shadowed, shadowed_table = _run(with_shadow, records)
    assert live.shadows == []
    assert _json(shadowed.scores) == _json(live.scores)
    assert _json(shadowed.transitions) == _json(live.transitions)
    assert _json(shadowed.alerts) == _json(live.alerts)
    assert shadowed.examples == live.examples
    assert shadowed_table == live_table  # the saved states, byte for byte
    assert len(live.scores) > 50 and live.transitions and live.alerts


def test_one_shadow_per_live_score_with_the_candidate_weights(
    records: list[RawRecord],
) -> None:
    config = shadow_config(customer_happiness=0.6)
    out, _ = _run(config, records)
    assert [(s.account_id, s.ts, s.event_id, s.events_applied) for s in out.shadows] == [
        (s.account_id, s.ts, s.event_id, s.events_applied) for s in out.scores
    ]
    card = config.scorecards[CANDIDATE]
    differ = 0
    for live, shadow in zip(out.scores, out.shadows, strict=True):
        assert (shadow.live_health, shadow.live_band) == (live.health, live.band)
        assert shadow.config_version == f"{config.version}:shadow:{CANDIDATE}"
        assert shadow.live_config_version == live.config_version == config.version
        # the weights do not move churn risk, quadrants or tier
        assert (shadow.churn_risk, shadow.tier) == (live.churn_risk, live.tier)
        assert shadow.success_quadrant == live.success_quadrant
        assert shadow.readiness_quadrant == live.readiness_quadrant
        # health from the live score's (rounded) signals under the candidate weights
        expected = _health(live.signals, card.weights)
        assert shadow.health == pytest.approx(expected, abs=0.02)
        if live.segment == "default" and live.signals["customer_happiness"] is None:
            assert shadow.health == live.health  # the changed weight rests on nothing
        differ += abs(shadow.health - live.health) > 1.0
    assert differ > len(out.shadows) // 4


def test_a_shadow_row_has_a_value_per_column(records: list[RawRecord]) -> None:
    out, _ = _run(shadow_config(customer_happiness=0.6), records[:300])
    row = shadow_row(out.shadows[0])
    assert len(row) == len(SHADOW_COLUMNS)
    named = dict(zip(SHADOW_COLUMNS, row, strict=True))
    assert named["band"] in ("green", "yellow", "red") and named["scorecard"] == CANDIDATE


def test_a_failing_shadow_costs_no_live_output(
    records: list[RawRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = shadow_config(customer_happiness=0.6)
    expected, _ = _run(config, records[:300])

    def broken(*_: object) -> None:
        raise RuntimeError("shadow bug")

    monkeypatch.setattr(scoring, "shadow_score", broken)
    out, _ = _run(config, records[:300])
    assert expected.shadows and out.shadows == []
    assert out.dead_letters == expected.dead_letters == []
    assert _json(out.scores) == _json(expected.scores)
