"""The clock is deterministic through the real worker (docs/scoring.md, "The clock"): for
each of the three situations of the clock (idle topics, a backfill far behind the wall
clock, one lagging partition), a worker runs with the clock on, then its log (the input
topics and the clock topic, record for record, partition for partition) is copied to a
fresh deployment (new topics, consumer group and state) and replayed by a second worker:
both give the same scores, alerts and ticks.

Every account's history here is its usage only (one family topic): the worker reads the
family topics at its own pace, and neither the scoring core (issue 19, order independence;
a subscription and usage history gave two replays different `expansion_opportunity`
alerts) nor the catch-up ticks before an event of a family other than usage (docs/
scoring.md, "Order") give the same outputs for every interleaving of several families,
which would make two replays differ for a reason that is not the clock's property."""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from devtools.kafka_io import create_topics, produce_events
from scoring.decay import DAY
from streams.clock import Tick
from tests.integration.harness import Pipeline
from tests.unit.scoring.factory import ORIGIN, Events, at, make
from tests.unit.scoring.scripts import healthy

pytestmark = pytest.mark.integration

CLOCK = {
    "HEALTHSCORE_CLOCK": "true",
    "HEALTHSCORE_CLOCK_IDLE_SECONDS": "1",  # the idle timer as often as it goes
    "HEALTHSCORE_CHURN_MODEL_PIN": "default",  # no refit in between: the config's model
}


def _usage_only(account: str, days: int) -> Events:
    """`healthy` with its usage only (see the module's docstring)."""
    ev = healthy(account, days=days)
    ev.items = [e for e in ev.items if e.type == "feature_used"]
    return ev


def _dicts(*scripts: Events, shift: timedelta = timedelta(0)) -> list[dict[str, Any]]:
    """The scripts' events in time order as JSON documents, every time moved by `shift`."""
    events = sorted((e for s in scripts for e in s.items), key=lambda e: e.ts)
    docs = []
    for e in events:
        doc = orjson.loads(e.model_dump_json())
        for key in ("ts", "term_end", "due"):
            if doc.get(key):
                doc[key] = (datetime.fromisoformat(doc[key]) + shift).isoformat()
        docs.append(doc)
    return docs


def _ticks(messages: list[dict[str, Any]]) -> set[Tick]:
    return {Tick(**t) for t in messages}


def _by_account(messages: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each account's records in the order the worker wrote them (an account's records are
    on one partition, so their order is the worker's)."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in messages:
        out[m["account_id"]].append(m)
    return dict(out)


def _settled(pipeline: Pipeline, name: str, seconds: float = 4.0) -> list[dict[str, Any]]:
    """Everything on an output topic once it has been quiet for a moment."""
    return pipeline.read_output(name, lambda m: False, timeout=seconds)


async def _copy_log(
    bootstrap: str, pairs: list[tuple[str, str]], partitions: int
) -> dict[str, int]:
    """Copy each topic of `pairs` (source, destination) record for record: same partition,
    key, value and timestamp, in offset order. Returns the records copied per source."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await consumer.start()
    await producer.start()
    copied: dict[str, int] = {}
    try:
        for source, destination in pairs:
            tps = [TopicPartition(source, p) for p in range(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            end = await consumer.end_offsets(tps)
            copied[source] = 0
            while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
                batch = await consumer.getmany(timeout_ms=500, max_records=5000)
                for tp, records in batch.items():
                    for r in records:
                        if r.offset >= end[tp]:
                            continue
                        await producer.send(
                            destination,
                            r.value,
                            key=r.key,
                            partition=tp.partition,
                            timestamp_ms=r.timestamp,
                        )
                        copied[source] += 1
        await producer.flush()
    finally:
        await producer.stop()
        await consumer.stop()
    return copied


def _replay(first: Pipeline, tmp_path: Path, partitions: int) -> Pipeline:
    """A fresh deployment whose input and clock topics hold `first`'s log."""
    again = Pipeline.create(
        first.bootstrap, tmp_path / "replay", partitions=partitions, **_env(first)
    )
    clock = (first.settings.topic("clock"), again.settings.topic("clock"))
    asyncio.run(create_topics(first.bootstrap, [clock[1]], partitions))
    pairs = [(first.settings.input_topics[f], again.settings.input_topics[f]) for f in
             first.settings.input_topics]  # fmt: skip
    asyncio.run(_copy_log(first.bootstrap, [*pairs, clock], partitions))
    return again


def _env(pipeline: Pipeline) -> dict[str, str]:
    return {k: v for k, v in pipeline.env.items() if k.startswith("HEALTHSCORE_CLOCK")} | {
        "HEALTHSCORE_CHURN_MODEL_PIN": "default"
    }


def _outputs(pipeline: Pipeline, scores: int, alerts: int, ticks: set[Tick]) -> dict[str, Any]:
    """The pipeline's scores, alerts and ticks once it wrote at least as many as given."""
    pipeline.read_output("scores", lambda m: len(m) >= scores, timeout=120)
    pipeline.read_output("alerts", lambda m: len(m) >= alerts, timeout=30)
    pipeline.read_output("clock", lambda m: _ticks(m) >= ticks, timeout=30)
    return {
        "scores": _by_account(_settled(pipeline, "scores")),
        "alerts": _by_account(_settled(pipeline, "alerts", 1.0)),
        "ticks": _ticks(_settled(pipeline, "clock", 1.0)),
        "dead_letters": _settled(pipeline, "dead-letters", 1.0),
    }


def _replayed(first: Pipeline, tmp_path: Path, partitions: int, got: dict[str, Any]) -> None:
    """Replay `first`'s log in a fresh deployment and check it gives `got` again."""
    again = _replay(first, tmp_path, partitions)
    scores = sum(len(v) for v in got["scores"].values())
    alerts = sum(len(v) for v in got["alerts"].values())
    with again.worker() as worker:
        replayed = _outputs(again, scores, alerts, got["ticks"])
        assert worker.running, worker.log_tail()
    assert replayed["ticks"] == got["ticks"]
    assert replayed["alerts"] == got["alerts"]
    assert replayed["scores"].keys() == got["scores"].keys()
    for account, scores_of in got["scores"].items():
        assert replayed["scores"][account] == scores_of, account
    assert replayed["dead_letters"] == got["dead_letters"] == []


def test_idle_topics_still_tick_and_a_replay_gives_the_same_outputs(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    # a live deployment: two accounts' events up to 3 s before the last UTC midnight
    # (within the live lag of 2 days), then nothing. The idle timer lets the partition's
    # time go on with the wall clock past midnight: a tick there, with no event. idle-old
    # has been silent for 10 days: each midnight's tick emits its score (the heartbeat;
    # the two others emitted 3 s before it).
    midnight = math.floor(time.time() / DAY) * DAY
    last_event = 20 - 3 / 86400  # days after the scripts' origin
    shift = datetime.fromtimestamp(midnight - 20 * DAY, UTC) - ORIGIN
    scripts = [_usage_only(a, days=20) for a in ("idle-1", "idle-2")]
    for script in scripts:
        script.items.append(
            make("feature_used", last_event, account=script.account, event_id="last",
                 user_id="u0", feature="f0", quantity=1)
        )  # fmt: skip
    events = _dicts(*scripts, _usage_only("idle-old", days=10), shift=shift)
    assert max(datetime.fromisoformat(e["ts"]).timestamp() for e in events) == midnight - 3
    env = {**CLOCK, "HEALTHSCORE_CLOCK_LIVE_LAG_SECONDS": str(2 * DAY)}
    pipeline = Pipeline.create(kafka_bootstrap, tmp_path, partitions=1, **env)
    expected = {Tick(0, int(midnight - d * DAY)) for d in range(20)}
    with pipeline.worker() as worker:
        asyncio.run(produce_events(kafka_bootstrap, pipeline.settings.input_topics, events))
        got = _outputs(pipeline, 0, 0, expected)
        assert worker.running, worker.log_tail()
    assert got["ticks"] == expected, sorted(got["ticks"])
    assert got["dead_letters"] == []
    at_midnight = [s for s in got["scores"]["idle-old"] if s["ts"] >= _iso(midnight)]
    assert [s["event_id"][:5] for s in at_midnight] == ["tick:"], at_midnight
    _replayed(pipeline, tmp_path, 1, got)


def test_a_backfill_has_no_too_late_no_false_silence_and_replays_identically(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    # events of January to March; the wall clock is months ahead. acct-quiet goes silent
    # after 40 days; four others are active to day 70 and must not look quiet. The idle
    # timer runs every second: a backfill ticks on its own event time only.
    busy = [f"acct-busy-{i}" for i in range(4)]
    events = _dicts(_usage_only("acct-quiet", 40), *(_usage_only(a, 71) for a in busy))
    pipeline = Pipeline.create(kafka_bootstrap, tmp_path, partitions=1, **CLOCK)
    expected = {Tick(0, int(at(d).timestamp())) for d in range(1, 71)}

    def episode(alerts: list[dict[str, Any]]) -> bool:
        return {"gone_quiet", "health_drop"} <= {
            a["kind"] for a in alerts if a["account_id"] == "acct-quiet"
        }

    with pipeline.worker() as worker:
        asyncio.run(produce_events(kafka_bootstrap, pipeline.settings.input_topics, events))
        pipeline.read_output("alerts", episode, timeout=120)
        got = _outputs(pipeline, 0, 0, expected)
        time.sleep(3)  # the idle timer had its chances: still no tick past the events
        got["ticks"] = _ticks(_settled(pipeline, "clock", 1.0))
        assert worker.running, worker.log_tail()
    assert got["ticks"] == expected, sorted((t.ts - at(0).timestamp()) / DAY for t in got["ticks"])
    gone = [a for v in got["alerts"].values() for a in v if a["kind"] == "gone_quiet"]
    assert [(a["account_id"], a["ts"][:10]) for a in gone] == [
        ("acct-quiet", at(47).date().isoformat())
    ]
    for account in busy:
        assert got["scores"][account][-1]["ts"] >= at(70).isoformat()[:10]
    _replayed(pipeline, tmp_path, 1, got)


def test_a_lagging_partition_keeps_its_accounts_live_and_replays_identically(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    # acct-quiet and acct-b1 are on partition 0 (which reaches day 70); lag-2 is on
    # partition 1, whose producer is 40 days behind until the end
    pipeline = Pipeline.create(kafka_bootstrap, tmp_path, partitions=2, **CLOCK)
    lagging = _dicts(_usage_only("lag-2", 71))
    early = [e for e in lagging if e["ts"] < at(31).isoformat()]
    late = [e for e in lagging if e["ts"] >= at(31).isoformat()]
    ahead = _dicts(_usage_only("acct-quiet", 40), _usage_only("acct-b1", 71))
    topics = pipeline.settings.input_topics
    expected = {Tick(p, int(at(d).timestamp())) for p in (0, 1) for d in range(1, 71)}

    def quiet_episode(alerts: list[dict[str, Any]]) -> bool:
        return any(a["account_id"] == "acct-quiet" and a["kind"] == "gone_quiet" for a in alerts)

    with pipeline.worker() as worker:
        asyncio.run(produce_events(kafka_bootstrap, topics, early + ahead))
        assert quiet_episode(pipeline.read_output("alerts", quiet_episode, timeout=120))
        ticks = _ticks(pipeline.read_output("clock", lambda m: False, timeout=3))
        # partition 1 stopped at day 30: its accounts are not ticked on partition 0's time
        assert max(t.ts for t in ticks if t.partition == 1) <= at(30).timestamp()
        asyncio.run(produce_events(kafka_bootstrap, topics, late))
        got = _outputs(pipeline, 0, 0, expected)
        assert worker.running, worker.log_tail()
    assert got["ticks"] == expected
    assert [a for a in got["alerts"].get("lag-2", []) if a["kind"] == "gone_quiet"] == []
    assert got["scores"]["lag-2"][-1]["ts"] >= at(70).isoformat()[:10]
    _replayed(pipeline, tmp_path, 2, got)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()[:19]
