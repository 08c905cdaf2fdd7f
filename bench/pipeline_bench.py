"""The worker's CPU work without Kafka: `BatchProcessor.score`, state saves and output
encoding.

The same pre-loaded events are cut into the batches the worker receives
(one topic partition's records at a time, up to `batch_size`), scored by
`BatchProcessor` with a dict as the state table, the changed states saved
every `flush_events` events (as the worker saves them before a commit), and
every output encoded as `OutputSink` would (JSON for Kafka, rows for
ClickHouse). This
is the in-process ceiling of the worker's processing on one core; with
`profile=True` it also reports the top functions under cProfile.
"""

from __future__ import annotations

import cProfile
import gc
import io
import pstats
import time
from collections.abc import Sequence
from functools import cache
from typing import Any

import scoring
from bench.kafka import partition_of
from schemas.events import Family
from streams.clickhouse.rows import score_row, transition_row
from streams.gcpolicy import THRESHOLDS
from streams.pipeline import BatchOutput, BatchProcessor, RawRecord
from streams.sinks import encode


def worker_batches(
    events: Sequence[tuple[Family, bytes, bytes]],
    topics: dict[Family, str],
    partitions: int,
    batch_size: int,
) -> list[list[RawRecord]]:
    """Split events into per-partition batches, interleaved round-robin as a fetch returns them."""
    queues: dict[tuple[str, int], list[RawRecord]] = {}
    part: dict[bytes, int] = {}
    for family, key, value in events:
        p = part.get(key)
        if p is None:
            p = part[key] = partition_of(key, partitions)
        topic = topics[family]
        q = queues.setdefault((topic, p), [])
        q.append(RawRecord(topic, p, len(q), key, value))
    batches: list[list[RawRecord]] = []
    offset = 0
    while True:
        round_ = [q[offset : offset + batch_size] for q in queues.values()]
        round_ = [b for b in round_ if b]
        if not round_:
            return batches
        batches.extend(round_)
        offset += batch_size


def _sink_cpu(out: BatchOutput) -> None:
    """The CPU part of `OutputSink.publish`: encode for Kafka, rows for ClickHouse."""
    for s in out.scores:
        encode(s)
        score_row(s)
    for t in out.transitions:
        encode(t)
        transition_row(t)


@cache
def _config() -> scoring.ScoringConfig:
    """One config object per process, as in the worker: the scoring core's memos compare
    their keys by identity first, and a second, equal config would cost deep == checks."""
    return scoring.load_config(None)


def run(
    events: Sequence[tuple[Family, bytes, bytes]],
    topics: dict[Family, str],
    partitions: int = 4,
    batch_size: int = 5000,
    profile: bool = False,
    top: int = 30,
    flush_events: int = 4000,
) -> dict[str, Any]:
    config = _config()
    model = scoring.default_churn_model(config)
    processor = BatchProcessor(config, {t: f for f, t in topics.items()}, lambda: model)
    table: dict[str, bytes] = {}
    batches = worker_batches(events, topics, partitions, batch_size)
    profiler = cProfile.Profile() if profile else None
    received = scores = 0
    thresholds = gc.get_threshold()
    gc.collect()
    gc.set_threshold(*THRESHOLDS)  # as the worker runs (streams/gcpolicy.py)
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    since_flush = 0
    for batch in batches:
        out = processor.score(batch, table.get)
        _sink_cpu(out)
        received += out.received
        scores += len(out.scores)
        since_flush += out.received
        if since_flush >= flush_events:  # as the worker saves states before a commit
            processor.save_pending(table.__setitem__)  # as the worker's flush
            since_flush = 0
    processor.save_pending(table.__setitem__)
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - started
    gc.set_threshold(*thresholds)
    result: dict[str, Any] = {
        "events": received,
        "batches": len(batches),
        "mean_batch": round(received / max(1, len(batches))),
        "flush_events": flush_events,
        "scores": scores,
        "seconds": round(seconds, 3),
        "events_per_s": round(received / seconds) if seconds else None,
        "profiled": profile,
    }
    if profiler:
        result["top_cumulative"] = _top(profiler, "cumulative", top)
        result["top_self"] = _top(profiler, "tottime", top)
    return result


def _top(profiler: cProfile.Profile, key: str, n: int) -> list[dict[str, Any]]:
    stats = pstats.Stats(profiler, stream=io.StringIO())
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    rows = []
    for (file, line, func), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append(
            (cumtime if key == "cumulative" else tottime, file, line, func, calls, tottime, cumtime)
        )
    rows.sort(reverse=True)
    return [
        {
            "function": f"{func} ({_short(file)}:{line})",
            "calls": calls,
            "self_s": round(tottime, 3),
            "cum_s": round(cumtime, 3),
            "self_pct": round(100 * tottime / total, 1),
        }
        for _, file, line, func, calls, tottime, cumtime in rows[:n]
    ]


def _short(path: str) -> str:
    for marker in ("site-packages/", "/work/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path
