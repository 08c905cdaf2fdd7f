"""A backlog of the four family topics is read in event-time order, within the skew bound
(`streams.align`, docs/scoring.md "Order independence"): the worker publishes the alerts
and transitions `score-file` publishes for the same events, however far apart in event
time the topics were written."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from devtools.demo.portfolio import generate
from devtools.kafka_io import send_messages
from schemas.events import FAMILY_BY_TYPE, Family
from streams.score_file import score_file
from tests.integration.harness import Pipeline

pytestmark = pytest.mark.integration

SETTLE_HOURS = 3  # above the default skew bound (1 h): the settled path is event-time order


def _config(tmp_path: Path) -> Path:
    # the churn model stays the prior in both (the worker's is pinned), so churn risks match
    path = tmp_path / "scoring.yaml"
    path.write_text(
        f'version: "align"\nsettle_hours: {SETTLE_HOURS}\nchurn:\n  refit_every: 100000\n'
    )
    return path


def _ts(record: dict[str, Any]) -> float:
    return datetime.fromisoformat(record["ts"]).timestamp()


def _canonical(records: list[dict[str, Any]], before: float) -> list[str]:
    return sorted(orjson.dumps(r, option=orjson.OPT_SORT_KEYS).decode() for r in records
                  if _ts(r) < before)  # fmt: skip


def test_family_topics_written_one_after_another_score_as_score_file_does(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    config = _config(tmp_path)
    pipeline = Pipeline.create(
        kafka_bootstrap,
        tmp_path,
        partitions=2,
        HEALTHSCORE_SCORING_CONFIG=str(config),
        HEALTHSCORE_CHURN_MODEL_PIN="default",
        # small fetches: a family partition runs dry and is fetched again mid-backlog
        HEALTHSCORE_BATCH_SIZE="150",
    )
    events = list(generate(accounts=40, days=30, seed=5))
    topics = pipeline.settings.input_topics
    # each family's topic written whole before the next, usage first: read at their own
    # pace, usage is scored weeks of event time before its account's subscription
    order = [Family.USAGE, Family.SUPPORT, Family.SUCCESS, Family.BILLING]
    messages = [
        (topics[family], e["account_id"].encode(), orjson.dumps(e))
        for family in order
        for e in events
        if FAMILY_BY_TYPE[e["type"]] is family
    ]
    asyncio.run(send_messages(kafka_bootstrap, messages))

    src = tmp_path / "events.jsonl"
    src.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    file_alerts, file_moves = tmp_path / "alerts.jsonl", tmp_path / "transitions.jsonl"
    score_file(
        src, tmp_path / "scores.jsonl", config, alerts_path=file_alerts,
        transitions_path=file_moves,
    )  # fmt: skip
    expected_alerts = [orjson.loads(line) for line in file_alerts.read_bytes().splitlines()]
    expected_moves = [orjson.loads(line) for line in file_moves.read_bytes().splitlines()]

    with pipeline.worker() as worker:
        started = time.monotonic()
        while f"received={len(events)} " not in worker.log_path.read_text():
            assert worker.running and time.monotonic() - started < 180, worker.log_tail()
            time.sleep(0.5)
        # the sweeps of the last ticks are paced (streams.agents.register_clock): wait for
        # every partition's newest tick to be swept
        ticks: dict[int, int] = {}
        while True:
            for tick in pipeline.read_output("clock", lambda m: False, timeout=1):
                ticks[tick["partition"]] = max(ticks.get(tick["partition"], 0), tick["ts"])
            log = worker.log_path.read_text()
            if len(ticks) == 2 and all(
                f"swept partition {p} at {_day(ts)}" in log for p, ts in ticks.items()
            ):
                break
            assert worker.running and time.monotonic() - started < 240, worker.log_tail()
        alerts = pipeline.read_output("alerts", lambda m: False, timeout=3)
        moves = pipeline.read_output("transitions", lambda m: False, timeout=3)
        assert worker.running, worker.log_tail()

    # the worker settles an account's last `settle_hours` when later ticks come, and ticks a
    # partition up to its own newest event; score-file ticks up to the file's newest event
    # and settles everything at its end: compare what both have settled
    before = min(ticks.values()) - SETTLE_HOURS * 3600
    assert before - min(_ts(e) for e in events) > timedelta(days=20).total_seconds()
    got_alerts, want_alerts = _canonical(alerts, before), _canonical(expected_alerts, before)
    got_moves, want_moves = _canonical(moves, before), _canonical(expected_moves, before)
    assert len(want_alerts) >= 20 and len(want_moves) >= 20
    assert len({orjson.loads(a)["kind"] for a in want_alerts}) >= 3
    assert got_alerts == want_alerts, _diff(got_alerts, want_alerts)
    assert got_moves == want_moves, _diff(got_moves, want_moves)


def _day(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).date().isoformat()


def _diff(got: list[str], want: list[str]) -> str:
    extra, missing = sorted(set(got) - set(want)), sorted(set(want) - set(got))
    return (
        f"worker {len(got)}, score-file {len(want)}; only the worker's ({len(extra)}): "
        f"{extra[:3]}; only score-file's ({len(missing)}): {missing[:3]}"
    )
