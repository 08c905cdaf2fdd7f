"""The clock through the real worker (docs/scoring.md, "The clock"): tick records in the
`<prefix>.clock` topic re-score a silent account of a backfill on its partition's own
event time."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.clock import Tick
from streams.kafka_io import produce_events
from tests.integration.harness import Pipeline
from tests.unit.scoring.factory import at
from tests.unit.scoring.scripts import healthy

pytestmark = pytest.mark.integration


def _dicts(*scripts: Any) -> list[dict[str, Any]]:
    events = sorted((e for s in scripts for e in s.items), key=lambda e: e.ts)
    return [orjson.loads(e.model_dump_json()) for e in events]


def test_a_silent_account_in_a_backfill_is_rescored_daily_by_the_worker(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    # one partition: acct-busy keeps the partition's event time moving (a backfill:
    # the wall clock is months ahead of these events)
    pipeline = Pipeline.create(kafka_bootstrap, tmp_path, partitions=1, HEALTHSCORE_CLOCK="true")
    events = _dicts(healthy("acct-quiet", days=40), healthy("acct-busy", days=71))

    def episode(alerts: list[dict[str, Any]]) -> bool:
        kinds = {a["kind"] for a in alerts if a["account_id"] == "acct-quiet"}
        return {"gone_quiet", "health_drop"} <= kinds

    with pipeline.worker() as worker:
        asyncio.run(produce_events(kafka_bootstrap, pipeline.settings.input_topics, events))
        alerts = pipeline.read_output("alerts", episode, timeout=120)
        ticks = pipeline.read_output("clock", lambda m: len(m) >= 70, timeout=30)
        scores = pipeline.read_output(
            "scores",
            lambda m: any(s["account_id"] == "acct-quiet" and s["ts"] >= "2026-03-16" for s in m),
            timeout=30,
        )
        assert worker.running, worker.log_tail()
    assert episode(alerts), worker.log_tail()
    quiet = [a for a in alerts if a["account_id"] == "acct-quiet" and a["ts"] >= "2026-02-14"]
    assert sorted(a["kind"] for a in quiet) == ["gone_quiet", "health_drop"], quiet
    gone = next(a for a in quiet if a["kind"] == "gone_quiet")
    assert gone["ts"].startswith(at(47).date().isoformat()) and gone["event_id"].startswith("tick:")
    # the ticks follow the partition's event time, never the wall clock
    days = sorted({Tick(**t).ts for t in ticks})
    assert days == [int(at(d).timestamp()) for d in range(1, 71)]
    silent = [s for s in scores if s["account_id"] == "acct-quiet" and s["ts"] >= "2026-02-14"]
    healths = [s["health"] for s in sorted(silent, key=lambda s: s["ts"])]
    assert len(healths) >= 25 and all(b < a for a, b in itertools.pairwise(healths))
    assert {s["band"] for s in silent} == {"green", "yellow"}
