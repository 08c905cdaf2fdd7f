"""The walking skeleton end to end: real Kafka in, scores out on Kafka and in ClickHouse."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter

import pytest

from devtools.demo.portfolio import generate
from devtools.kafka_io import produce_events
from tests.integration.harness import Pipeline, latest_by_account

pytestmark = pytest.mark.integration

PROGRESS = re.compile(r"received=(\d+) .*scores=(\d+) ")


def test_events_produced_to_kafka_come_back_as_scores_on_the_topic_and_in_clickhouse(
    kafka_bootstrap, tmp_path
):
    pipeline = Pipeline.create(kafka_bootstrap, tmp_path)
    events = list(generate(accounts=12, days=14, seed=3))
    expected = Counter(e["account_id"] for e in events)

    with pipeline.worker() as worker:
        sent = asyncio.run(produce_events(kafka_bootstrap, pipeline.settings.input_topics, events))
        assert sent == len(events)

        # Scores are emitted on meaningful change or heartbeat (scoring.emission), not per
        # event, and the clock's sweeps of the last days re-score accounts after the last
        # event: wait for the worker to count every event and its score count to hold still
        # over three progress lines (2 s apart), then read what it published.
        published = None
        deadline = time.monotonic() + 120
        while published is None and worker.running and time.monotonic() < deadline:
            progress = PROGRESS.finditer(worker.log_path.read_text())
            done = [int(m[2]) for m in progress if int(m[1]) == len(events)]
            published = done[-1] if len(done) >= 3 and len(set(done[-3:])) == 1 else None
            time.sleep(0.2)
        assert worker.running and published, worker.log_tail()
        scores = pipeline.read_output("scores", lambda s: len(s) >= published, timeout=60)
        assert len(scores) == published, worker.log_tail()
    latest = latest_by_account(scores)
    print(f"\nproduced {sent} events to {kafka_bootstrap}; read {len(scores)} score messages "
          f"for {len(latest)} accounts back from {pipeline.settings.topic('scores')}")  # fmt: skip
    assert set(latest) == set(expected)
    assert len(scores) < len(events)
    for record in latest.values():
        assert 0 <= record["health"] <= 100
        assert 1 <= record["events_applied"] <= expected[record["account_id"]]
        assert record["config_version"]

    with pipeline.clickhouse() as ch:
        db = ch.database
        rows = ch.query_dicts(
            f"SELECT account_id, events_applied, health FROM {db}.latest_score FINAL"
        )
        history = ch.query(f"SELECT count(), uniqExact(account_id) FROM {db}.score_history")[0]
    print(f"ClickHouse {db}.latest_score: {len(rows)} accounts; score_history: {history[0]} rows")
    assert {r["account_id"]: r["events_applied"] for r in rows} == {
        a: s["events_applied"] for a, s in latest.items()
    }
    for r in rows:
        assert r["health"] == pytest.approx(latest[r["account_id"]]["health"], abs=1e-3)
    assert history[1] == len(expected)
    assert history[0] == len(scores)
