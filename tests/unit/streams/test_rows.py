"""ClickHouse rows carry the drivers exactly as their models serialise them."""

from __future__ import annotations

import orjson

import scoring
from schemas.decode import decode_event
from schemas.outputs import Driver
from streams.clickhouse.rows import drivers_json, score_row, transition_row
from streams.demo.portfolio import generate


def test_drivers_json_equals_the_models_own_json_for_every_driver_of_a_run() -> None:
    config = scoring.load_config()
    model = scoring.default_churn_model(config)
    states: dict[str, scoring.AccountState] = {}
    checked = 0
    for raw in generate(accounts=6, days=60, seed=9):
        event = decode_event(orjson.dumps(raw), None)
        step = scoring.process(states.get(event.account_id), event, config, model)
        states[event.account_id] = step.state
        groups = [t.drivers for t in step.transitions] + [a.drivers for a in step.alerts]
        if step.emit and step.score is not None:
            groups += [step.score.drivers, step.score.churn_drivers]
            score_row(step.score)
        for t in step.transitions:
            transition_row(t)
        for drivers in groups:
            expected = [d.model_dump(mode="json") for d in drivers]
            assert orjson.loads(drivers_json(drivers)) == expected
            checked += len(drivers)
    assert checked > 1000
    validated = Driver(signal="velocity", value=None, weight=1, effect=-2, event_ids=["e1"])
    assert orjson.loads(drivers_json([validated])) == [validated.model_dump(mode="json")]
