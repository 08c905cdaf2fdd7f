"""Kafka messages and ClickHouse rows carry the outputs exactly as their models serialise
them (the fast paths skip pydantic's serializer)."""

from __future__ import annotations

import orjson

import scoring
from devtools.demo.portfolio import generate
from schemas.decode import decode_event
from schemas.outputs import Driver
from streams.clickhouse.rows import drivers_json
from streams.pipeline import BatchProcessor, RawRecord
from streams.sinks import encode


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
        for drivers in groups:
            expected = [d.model_dump(mode="json") for d in drivers]
            assert orjson.loads(drivers_json(drivers)) == expected
            checked += len(drivers)
    assert checked > 1000
    validated = Driver(signal="velocity", value=None, weight=1, effect=-2, event_ids=["e1"])
    assert orjson.loads(drivers_json([validated])) == [validated.model_dump(mode="json")]


def test_kafka_messages_are_byte_for_byte_the_models_json() -> None:
    config = scoring.load_config()
    model = scoring.default_churn_model(config)
    processor = BatchProcessor(config, {}, lambda: model)
    records = [
        RawRecord("t", 0, i, str(e["account_id"]).encode(), orjson.dumps(e))
        for i, e in enumerate(generate(accounts=6, days=60, seed=9))
    ]
    records += [  # dead letters, with a receive time to the microsecond
        RawRecord("t", 0, len(records), b"acct-x", b"{not json"),
        RawRecord("t", 0, len(records) + 1, b"other", records[0].value),
    ]
    table: dict[str, bytes] = {}
    out = processor.run(records, table.get, table.__setitem__)
    kinds = (out.scores, out.transitions, out.alerts, out.dead_letters)
    assert all(kinds) and len(out.dead_letters) == 2
    for models in kinds:
        for m in models:
            assert encode(m) == m.model_dump_json().encode()
