"""Issue 22, item 2, on the real broker: writes to ClickHouse that cannot wedge a worker.

* The score, transition and alert tables are partitioned by month, and ClickHouse refuses
  an insert that spans more than `max_partitions_per_insert_block` (100) partitions. One
  `feature_used` per month across 101 months, next to ordinary traffic for other
  accounts, must not stall the worker: every score lands in ClickHouse, every input
  offset is committed, and SIGTERM stops the worker promptly.
* SIGTERM during a ClickHouse outage stops the worker within its shutdown budget
  (`streams.worker.SHUTDOWN_TIMEOUT_SECONDS`), and the offsets of the records whose rows
  were not written are not committed: a restarted worker scores them again.

The outage is made inside the real worker process: a `sitecustomize` module on its
PYTHONPATH wraps `ClickHouse.insert` so that, while a marker file exists, the driver's
insert raises what clickhouse-connect raises for an unreachable server
(`OperationalError`). The
embedded engine cannot be taken away from a running worker otherwise (one process holds
it), and a worker cannot start against an unreachable server (`connect` and `migrate`
need it).
"""

from __future__ import annotations

import asyncio
import os
import textwrap
import time
from datetime import UTC, datetime

import orjson
import pytest

from devtools.demo.portfolio import generate
from devtools.kafka_io import produce_events
from streams.worker import SHUTDOWN_TIMEOUT_SECONDS
from tests.integration.faults_harness import (
    clickhouse_view,
    committed,
    counters,
    emit_every_step_config,
    reference,
    wait_committed,
)
from tests.integration.harness import Pipeline

pytestmark = pytest.mark.integration

MONTHS = 101
BACKFILLED = "acct-m"
COMMIT_TIMEOUT_S = 60  # ordinary traffic of this size commits in a few seconds
STOP_TIMEOUT_S = 30  # the worker's shutdown budget (streams.worker) plus process exit


def monthly_events(months: int = MONTHS) -> list[dict[str, object]]:
    """`feature_used` for one account on the first of each month from 2010-01."""
    events = []
    for i in range(months):
        ts = datetime(2010 + i // 12, 1 + i % 12, 1, tzinfo=UTC)
        events.append({
            "event_id": f"{BACKFILLED}-{i:04d}", "account_id": BACKFILLED,
            "ts": ts.isoformat(), "type": "feature_used", "schema_version": "1.0",
            "user_id": "u1", "feature": "api", "quantity": 1.0,
        })  # fmt: skip
    return events


def test_a_hundred_months_of_one_account_do_not_stall_the_worker(kafka_bootstrap, tmp_path):
    config = emit_every_step_config(tmp_path)
    pipeline = Pipeline.create(
        kafka_bootstrap, tmp_path / "data", HEALTHSCORE_SCORING_CONFIG=str(config),
        HEALTHSCORE_COMMIT_INTERVAL="0.5",
    )  # fmt: skip
    backfill = monthly_events()
    normal = list(generate(accounts=20, days=14, seed=22))
    # the backfill in the middle of ordinary traffic, as a producer would send it
    events = normal[: len(normal) // 2] + backfill + normal[len(normal) // 2 :]
    ref = reference((orjson.dumps(e) for e in events), config)
    assert ref.accounts[BACKFILLED].applied == MONTHS
    topics = list(pipeline.settings.input_topics.values())
    group = pipeline.settings.app_id

    with pipeline.worker() as worker:
        sent = asyncio.run(
            produce_events(pipeline.bootstrap, pipeline.settings.input_topics, events)
        )
        assert sent == len(events)
        t0 = time.monotonic()
        wait_committed(pipeline.bootstrap, group, topics, sent, [worker], COMMIT_TIMEOUT_S)
        committed_s = time.monotonic() - t0
        t1 = time.monotonic()
        code = worker.stop(timeout=STOP_TIMEOUT_S)
        stop_s = time.monotonic() - t1
    assert code == 0, f"the worker exited with {code} after {stop_s:.1f}s:\n{worker.log_tail()}"

    view = clickhouse_view(pipeline.data_dir)
    history: dict[str, set[int]] = {}
    for row in view["history"]:
        history.setdefault(row["account_id"], set()).add(int(row["events_applied"]))
    latest = {r["account_id"]: int(r["events_applied"]) for r in view["final"]}
    print(f"\n{sent} events ({MONTHS} monthly for {BACKFILLED}) committed in {committed_s:.1f}s; "
          f"SIGTERM to exit {stop_s:.1f}s; {BACKFILLED} has {len(history.get(BACKFILLED, ()))} "
          f"score_history rows")  # fmt: skip
    assert history[BACKFILLED] == set(range(1, MONTHS + 1)), "every monthly score is written"
    assert latest == {a: e.applied for a, e in ref.accounts.items()}
    for account_id, expected in ref.accounts.items():
        assert history[account_id] == set(range(1, expected.applied + 1)), account_id
    assert stop_s < STOP_TIMEOUT_S


OUTAGE_HOOK = """
import os

from clickhouse_connect.driver.exceptions import OperationalError

from streams.clickhouse import client

_insert = client.ClickHouse.insert
_marker = os.environ["HS_TEST_CLICKHOUSE_OUTAGE"]


class _Unreachable:
    def insert(self, *args, **kwargs):
        raise OperationalError("test outage: Connection refused")


def insert(self, table, rows, columns):
    if not os.path.exists(_marker):
        return _insert(self, table, rows, columns)
    real, self._client = self._client, _Unreachable()
    try:
        return _insert(self, table, rows, columns)
    finally:
        self._client = real


client.ClickHouse.insert = insert
"""


def test_sigterm_during_a_clickhouse_outage_stops_the_worker_and_commits_nothing_unwritten(
    kafka_bootstrap, tmp_path
):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(textwrap.dedent(OUTAGE_HOOK))
    marker = tmp_path / "outage"
    config = emit_every_step_config(tmp_path)
    pipeline = Pipeline.create(
        kafka_bootstrap, tmp_path / "data", HEALTHSCORE_SCORING_CONFIG=str(config),
        HEALTHSCORE_COMMIT_INTERVAL="0.5", HS_TEST_CLICKHOUSE_OUTAGE=str(marker),
        PYTHONPATH=os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]),
    )  # fmt: skip
    events = list(generate(accounts=20, days=14, seed=23))
    first, second = events[: len(events) // 2], events[len(events) // 2 :]
    ref = reference((orjson.dumps(e) for e in events), config)
    topics = list(pipeline.settings.input_topics.values())
    group = pipeline.settings.app_id

    def produce(batch: list[dict[str, object]]) -> int:
        return asyncio.run(
            produce_events(pipeline.bootstrap, pipeline.settings.input_topics, batch)
        )

    worker = pipeline.worker("worker-1").start()
    try:
        produce(first)
        wait_committed(pipeline.bootstrap, group, topics, len(first), [worker], 60)
        marker.touch()  # ClickHouse goes away
        produce(second)
        deadline = time.monotonic() + 30
        while counters(worker)[0] < len(events) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert counters(worker)[0] >= len(events), worker.log_tail()
        time.sleep(2)  # several commit intervals in the outage
        held_back, _ = committed(pipeline.bootstrap, group, topics)
        t0 = time.monotonic()
        code = worker.stop(timeout=60)
        stop_s = time.monotonic() - t0
    finally:
        worker.kill()
    after_stop, _ = committed(pipeline.bootstrap, group, topics)
    log = worker.log_path.read_text(errors="replace")
    print(f"\n{len(events)} events, {len(first)} before the outage; committed in the outage "
          f"{held_back}, after SIGTERM {after_stop}; SIGTERM to exit {stop_s:.1f}s "
          f"(budget {SHUTDOWN_TIMEOUT_SECONDS:.0f}s), exit code {code}")  # fmt: skip
    assert stop_s < SHUTDOWN_TIMEOUT_SECONDS, worker.log_tail()
    assert code == 0, worker.log_tail()
    assert "not committing offsets" in log
    # the rows of the second half were never written: their offsets are not committed
    assert held_back == after_stop == len(first)

    marker.unlink()  # ClickHouse is back; a new worker scores the rest again
    with pipeline.worker("worker-2") as again:
        wait_committed(pipeline.bootstrap, group, topics, len(events), [again], 60)
    view = clickhouse_view(pipeline.data_dir)
    latest = {r["account_id"]: int(r["events_applied"]) for r in view["final"]}
    assert latest == {a: e.applied for a, e in ref.accounts.items()}
