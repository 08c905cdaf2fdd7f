"""The clock through the real worker (docs/scoring.md, "The clock"): tick records in the
`<prefix>.clock` topic re-score a silent account of a backfill on its partition's own
event time, and a worker restarted on idle topics goes on ticking."""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from devtools.kafka_io import produce_events
from scoring.decay import DAY
from streams.clock import Tick
from tests.integration.harness import Pipeline
from tests.unit.scoring.factory import ORIGIN, Events, at, make
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
    # acct-quiet's history is its subscription and its usage only: the worker reads the four
    # family topics at its own pace, and the scoring core does not yet give the same memory
    # whatever the interleaving of several families (issue 19, order independence), which
    # made the alerts of this backfill depend on which topic was read first
    quiet = healthy("acct-quiet", days=40)
    quiet.items = [e for e in quiet.items if e.type in ("subscription_started", "feature_used")]
    events = _dicts(quiet, healthy("acct-busy", days=71))

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
    assert sorted(a["kind"] for a in quiet) == ["gone_quiet", "health_drop"], [
        (a["kind"], a["ts"], a["event_id"], a["message"]) for a in alerts
    ]
    gone = next(a for a in quiet if a["kind"] == "gone_quiet")
    assert gone["ts"].startswith(at(47).date().isoformat()) and gone["event_id"].startswith("tick:")
    # the ticks follow the partition's event time, never the wall clock
    days = sorted({Tick(**t).ts for t in ticks})
    assert days == [int(at(d).timestamp()) for d in range(1, 71)], [
        (Tick(**t).ts - at(0).timestamp()) / 86400 for t in ticks
    ]
    silent = [s for s in scores if s["account_id"] == "acct-quiet" and s["ts"] >= "2026-02-14"]
    healths = [s["health"] for s in sorted(silent, key=lambda s: s["ts"])]
    assert len(healths) >= 25 and all(b < a for a, b in itertools.pairwise(healths))
    # usage is all its health knows: when the last use leaves the 30-day windows, breadth,
    # adoption and depth fall in one step, green to red
    assert {s["band"] for s in silent} == {"green", "red"}


def test_a_lagging_partition_does_not_make_its_accounts_silent(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    # acct-quiet and acct-b1 are on partition 0 (which reaches day 70); lag-2 is on
    # partition 1, whose producer is 40 days behind
    pipeline = Pipeline.create(kafka_bootstrap, tmp_path, partitions=2, HEALTHSCORE_CLOCK="true")
    lagging = _dicts(healthy("lag-2", days=71))
    early = [e for e in lagging if e["ts"] < at(31).isoformat()]
    late = [e for e in lagging if e["ts"] >= at(31).isoformat()]
    ahead = _dicts(healthy("acct-quiet", days=40), healthy("acct-b1", days=71))
    topics = pipeline.settings.input_topics

    def quiet_episode(alerts: list[dict[str, Any]]) -> bool:
        return any(a["account_id"] == "acct-quiet" and a["kind"] == "gone_quiet" for a in alerts)

    def lag_scores(until_day: int) -> Any:
        day = at(until_day).isoformat()[:10]
        return lambda m: any(s["account_id"] == "lag-2" and s["ts"] >= day for s in m)

    with pipeline.worker() as worker:
        asyncio.run(produce_events(kafka_bootstrap, topics, early + ahead))
        alerts = pipeline.read_output("alerts", quiet_episode, timeout=120)
        assert quiet_episode(alerts), worker.log_tail()
        before = pipeline.read_output("scores", lag_scores(30), timeout=30)
        lag_before = [s for s in before if s["account_id"] == "lag-2"]
        # partition 1 stopped at day 30: its account is not ticked on partition 0's time
        assert max(s["ts"] for s in lag_before) < at(32).isoformat()[:10]
        asyncio.run(produce_events(kafka_bootstrap, topics, late))
        after = pipeline.read_output("scores", lag_scores(70), timeout=90)
        alerts = pipeline.read_output("alerts", lambda m: False, timeout=5)
        dead = pipeline.read_output("dead-letters", lambda m: False, timeout=5)
        assert worker.running, worker.log_tail()
    assert [d for d in dead if d["reason"] == "too_late"] == []
    assert [a for a in alerts if a["account_id"] == "lag-2" and a["kind"] == "gone_quiet"] == []
    lag_after = [s for s in after if s["account_id"] == "lag-2"]
    assert max(s["ts"] for s in lag_after) >= at(70).isoformat()[:10]


def test_a_worker_restarted_on_idle_topics_goes_on_ticking_with_no_new_event(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    # a live deployment (live lag 2 days): events up to 3 s before the last UTC midnight,
    # then nothing. The first worker reads them, writes the ticks their event time passes
    # and stops before its idle timer (an hour) ever runs. The second worker reads no new
    # event: it recovers its partition's event time from the log it was given, and its
    # idle timer ticks the midnight. idle-old has been silent for 10 days: the midnight's
    # tick emits its score.
    midnight = math.floor(time.time() / DAY) * DAY
    shift = datetime.fromtimestamp(midnight - 20 * DAY, UTC) - ORIGIN
    active = _usage_only("idle-1", days=20)
    active.items.append(
        make("feature_used", 20 - 3 / 86400, account="idle-1", event_id="last", user_id="u0",
             feature="f0", quantity=1)
    )  # fmt: skip
    events = _shifted(active, _usage_only("idle-old", days=10), shift=shift)
    env = {"HEALTHSCORE_CLOCK_LIVE_LAG_SECONDS": str(2 * DAY),
           "HEALTHSCORE_CHURN_MODEL_PIN": "default"}  # fmt: skip
    pipeline = Pipeline.create(
        kafka_bootstrap, tmp_path, partitions=1, HEALTHSCORE_CLOCK_IDLE_SECONDS="3600", **env
    )
    before = {Tick(0, int(midnight - d * DAY)) for d in range(1, 20)}
    with pipeline.worker("worker-1") as worker:
        asyncio.run(produce_events(kafka_bootstrap, pipeline.settings.input_topics, events))
        ticks = pipeline.read_output("clock", lambda m: {Tick(**t) for t in m} >= before, 60)
        pipeline.read_output(
            "scores", lambda m: any(s["event_id"] == "last" for s in m), timeout=60
        )
        assert worker.running, worker.log_tail()
    assert {Tick(**t) for t in ticks} == before, sorted(Tick(**t) for t in ticks)
    assert {Tick(**t) for t in pipeline.read_output("clock", lambda m: False, 2)} == before

    pipeline.env["HEALTHSCORE_CLOCK_IDLE_SECONDS"] = "1"
    want = Tick(0, int(midnight))
    with pipeline.worker("worker-2") as worker:
        ticks = pipeline.read_output("clock", lambda m: want in {Tick(**t) for t in m}, 45)
        scores = pipeline.read_output(
            "scores",
            lambda m: any(s["account_id"] == "idle-old" and s["ts"] >= _iso(midnight) for s in m),
            timeout=20,
        )
        log = worker.log_tail()
        assert worker.running, log
    assert {Tick(**t) for t in ticks} == before | {want}, log
    at_midnight = [s for s in scores if s["account_id"] == "idle-old" and s["ts"] >= _iso(midnight)]
    assert [s["event_id"][:5] for s in at_midnight] == ["tick:"], at_midnight


def _usage_only(account: str, days: int) -> Events:
    ev = healthy(account, days=days)
    ev.items = [e for e in ev.items if e.type == "feature_used"]
    return ev


def _shifted(*scripts: Events, shift: timedelta) -> list[dict[str, Any]]:
    """The scripts' events in time order as JSON documents, every time moved by `shift`."""
    events = sorted((e for s in scripts for e in s.items), key=lambda e: e.ts)
    docs = []
    for e in events:
        doc = orjson.loads(e.model_dump_json())
        doc["ts"] = (datetime.fromisoformat(doc["ts"]) + shift).isoformat()
        docs.append(doc)
    return docs


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()[:19]
