"""Event-to-score latency at a paced input rate, on a warm worker.

Events are produced at `rate` per second for `seconds` (aiokafka `send`,
linger 5 ms) while the scores topic is consumed from its end. Every event's
send wall time is kept by its stream position (`event_id` is `e<seq>`).

Two figures:

- `by_event_id`: each score names the latest event applied for its account
  in that batch (`event_id`); latency = time the score was consumed - that
  event's send time. One sample per published score: the events that made
  the worker publish a score.
- `every_event`: each score also says how many events the account has had
  applied (`events_applied`); an event counts as scored by the first score
  of its account whose `events_applied` reaches the event's rank among the
  account's events in send order. Since scores are emitted only when they
  move enough (scoring config `emit`: health, churn risk, heartbeat), this
  is the time to the account's next published score, not processing
  latency; `events_never_scored` counts events no later score covered.
- `event_to_alert`: each alert names the event that raised it (`event_id`);
  latency = time the alert was consumed from the alerts topic - that
  event's send time.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.events import seq_of
from bench.state_size import percentiles
from schemas.events import Family


@dataclass
class LatencyLog:
    seq0: int
    send_times: list[float] = field(default_factory=list)
    # per account: the send-order ranks (events_applied it needs) of measured events
    ranks: dict[bytes, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))
    scores: list[tuple[float, str, str, int]] = field(default_factory=list)
    alerts: list[tuple[float, str]] = field(default_factory=list)


async def paced_run(
    bootstrap: str,
    topics: dict[Family, str],
    scores_topic: str,
    events: Sequence[tuple[Family, bytes, bytes]],
    seq0: int,
    applied_before: dict[bytes, int],
    rate: float,
    drain_seconds: float,
    caught_up: Callable[[], bool] = lambda: False,
    progress: Callable[[str], None] | None = None,
    alerts_topic: str | None = None,
) -> tuple[LatencyLog, dict[str, Any]]:
    """Send `events` (stream positions seq0...) at `rate`/s; collect scores meanwhile."""
    log = LatencyLog(seq0)
    log.send_times = [0.0] * len(events)
    counts = dict(applied_before)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5)
    await consumer.start()
    await producer.start()
    stop = asyncio.Event()
    try:
        await consumer._client.force_metadata_update()
        tps = [
            TopicPartition(topic, p)
            for topic in (scores_topic, alerts_topic)
            if topic
            for p in consumer.partitions_for_topic(topic) or ()
        ]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:  # resolve the end offsets now, before anything is sent
            await consumer.position(tp)

        async def consume() -> None:
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=50)
                now = time.time()
                for tp, records in batch.items():
                    if tp.topic == alerts_topic:
                        log.alerts.extend((now, orjson.loads(r.value)["event_id"]) for r in records)
                        continue
                    for r in records:
                        s = orjson.loads(r.value)
                        log.scores.append(
                            (now, s["account_id"], s["event_id"], s["events_applied"])
                        )

        reader = asyncio.create_task(consume())
        send = producer.send
        started = time.monotonic()
        sent, next_report = 0, started + 5
        total = len(events)
        while sent < total:
            due = min(total, int(rate * (time.monotonic() - started)) + 1)
            while sent < due:
                family, key, value = events[sent]
                counts[key] = counts.get(key, 0) + 1
                log.ranks[key].append((counts[key], seq0 + sent))
                log.send_times[sent] = time.time()
                await send(topics[family], value, key=key)
                sent += 1
            if progress and time.monotonic() > next_report:
                next_report += 5
                elapsed = time.monotonic() - started
                progress(
                    f"paced {sent:,} events in {elapsed:.0f}s ({sent / elapsed:,.0f}/s), "
                    f"{len(log.scores):,} scores back"
                )
            await asyncio.sleep(0.002)
        await producer.flush()
        produce_seconds = time.monotonic() - started
        # until the worker has taken every event (its progress lines say so) and 2 s
        # more for the last scores, or every event is covered, or drain_seconds
        deadline = time.monotonic() + drain_seconds
        while time.monotonic() < deadline and _uncovered(log) > 0 and not caught_up():
            await asyncio.sleep(0.2)
        await asyncio.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
        stop.set()
        await reader
    finally:
        stop.set()
        await producer.stop()
        await consumer.stop()
    return log, {
        "events": total,
        "produce_seconds": round(produce_seconds, 2),
        "achieved_rate": round(total / produce_seconds, 1),
    }


def _uncovered(log: LatencyLog) -> int:
    best: dict[str, int] = {}
    for _, account, _, applied in log.scores:
        if applied > best.get(account, 0):
            best[account] = applied
    return sum(
        1
        for key, ranks in log.ranks.items()
        for rank, _ in ranks
        if rank > best.get(key.decode(), 0)
    )


def _stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"samples": 0}
    ms = [v * 1000 for v in values]
    p = percentiles(ms, 50, 90, 99)
    return {
        "samples": len(ms),
        "p50_ms": round(p["p50"], 1),
        "p90_ms": round(p["p90"], 1),
        "p99_ms": round(p["p99"], 1),
        "max_ms": round(max(ms), 1),
        "mean_ms": round(sum(ms) / len(ms), 1),
    }


def latencies(log: LatencyLog) -> dict[str, Any]:
    n = len(log.send_times)
    by_id: list[float] = []
    sent_at: list[float] = []
    for at, _, event_id, _ in log.scores:
        seq = seq_of(event_id)
        if seq is not None and log.seq0 <= seq < log.seq0 + n:
            by_id.append(at - log.send_times[seq - log.seq0])
            sent_at.append(log.send_times[seq - log.seq0])
    every: list[float] = []
    pointer: dict[str, int] = {}
    ranks = {k.decode(): v for k, v in log.ranks.items()}
    for at, account, _, applied in log.scores:
        mine = ranks.get(account)
        if not mine:
            continue
        i = pointer.get(account, 0)
        while i < len(mine) and mine[i][0] <= applied:
            every.append(at - log.send_times[mine[i][1] - log.seq0])
            i += 1
        pointer[account] = i
    to_alert: list[float] = []
    for at, event_id in log.alerts:
        seq = seq_of(event_id)
        if seq is not None and log.seq0 <= seq < log.seq0 + n:
            to_alert.append(at - log.send_times[seq - log.seq0])
    return {
        "by_event_id": _stats(by_id),
        "event_to_alert": _stats(to_alert),
        "every_event": _stats(every),
        "events_never_scored": n - len(every),
        "by_second": _by_second(sent_at, by_id, log.send_times[0] if n else 0.0),
    }


def _by_second(sent_at: list[float], latency: list[float], start: float) -> list[list[float]]:
    """[second since the first send, scores, max ms] per second of sending (by_event_id):
    shows whether the slow scores are spread out or come in bursts."""
    worst: dict[int, list[float]] = {}
    for t, v in zip(sent_at, latency, strict=True):
        cell = worst.setdefault(int(t - start), [0, 0.0])
        cell[0] += 1
        cell[1] = max(cell[1], v)
    return [[s, c, round(m * 1000)] for s, (c, m) in sorted(worst.items())]
