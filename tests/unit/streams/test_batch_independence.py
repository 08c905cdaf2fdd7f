"""BatchProcessor publishes the same outputs however the records are batched."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

import scoring
from schemas.decode import decode_event
from streams.pipeline import BatchOutput, BatchProcessor, RawRecord
from tests.support.records import TOPICS, portfolio_records


@pytest.fixture(scope="module")
def records() -> list[RawRecord]:
    return portfolio_records(accounts=8, days=60, seed=5)


def _run(batches: Iterable[Sequence[RawRecord]]) -> BatchOutput:
    config = scoring.load_config()
    model = scoring.default_churn_model(config)
    processor = BatchProcessor(config, {t: f for f, t in TOPICS.items()}, lambda: model)
    table: dict[str, bytes] = {}
    total = BatchOutput()
    for batch in batches:
        out = processor.run(batch, table.get, table.__setitem__)
        total.scores += out.scores
        total.transitions += out.transitions
        total.alerts += out.alerts
        total.applied += out.applied
    return total


def _by_account(models: Iterable[Any]) -> dict[str, list[str]]:
    """Outputs per account, in order: batching may interleave accounts differently."""
    out: dict[str, list[str]] = {}
    for m in models:
        out.setdefault(m.account_id, []).append(m.model_dump_json())
    return out


def test_one_batch_and_one_record_per_batch_publish_the_same_outputs(
    records: list[RawRecord],
) -> None:
    whole = _run([records])
    single = _run([[r] for r in records])
    chunks = _run([records[i : i + 37] for i in range(0, len(records), 37)])
    assert whole.applied == single.applied == chunks.applied == len(records)
    for other in (single, chunks):
        assert _by_account(other.scores) == _by_account(whole.scores)
        assert _by_account(other.transitions) == _by_account(whole.transitions)
        assert _by_account(other.alerts) == _by_account(whole.alerts)
    # the run is not trivial: throttled scores, transitions and alerts of several kinds
    assert len(records) > 3 * len(whole.scores) > 0
    assert len({t.kind for t in whole.transitions}) >= 3
    assert len({a.kind for a in whole.alerts}) >= 3, sorted({a.kind for a in whole.alerts})


def test_every_transition_is_published_not_only_the_last_of_a_batch(
    records: list[RawRecord],
) -> None:
    out = _run([records])
    steps: list[Any] = []
    states: dict[str, scoring.AccountState] = {}
    config = scoring.load_config()
    model = scoring.default_churn_model(config)
    for r in records:
        event = decode_event(r.value or b"", None)
        step = scoring.process(states.get(event.account_id), event, config, model)
        states[event.account_id] = step.state
        steps.append(step)
    assert _by_account(t for s in steps for t in s.transitions) == _by_account(out.transitions)
    assert _by_account(a for s in steps for a in s.alerts) == _by_account(out.alerts)
    assert _by_account(s.score for s in steps if s.emit) == _by_account(out.scores)


def _doc_example() -> dict[str, Any]:
    """The Python consumer of docs/consumers.md, loaded without running it."""
    text = (Path(__file__).resolve().parents[3] / "docs" / "consumers.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {"__name__": "consumers_doc"}
    exec(compile(code, "docs/consumers.md", "exec"), namespace)
    return namespace


def test_published_outputs_validate_with_the_consumer_example_of_the_docs(
    records: list[RawRecord], capsys: pytest.CaptureFixture[str]
) -> None:
    doc = _doc_example()
    schemas = Path(__file__).resolve().parents[3] / "schemas" / "json" / "outputs"
    checks = doc["validators"](schemas)
    out = _run([records])
    for name, models in (
        ("scores", out.scores),
        ("transitions", out.transitions),
        ("alerts", out.alerts),
    ):
        topic = f"healthscore.{name}"
        for model in models:
            record = doc["decode"](checks[topic], model.model_dump_json().encode())
            assert record is not None, (name, model)
            doc["handle"](topic, record)
    assert doc["decode"](checks["healthscore.alerts"], b'{"kind": "x"}') is None
    assert "] acct-" in capsys.readouterr().out
