"""Event-to-score latency while the clock's daily sweep runs (docs/scoring.md, "The clock").

A fresh worker with the clock on (`HEALTHSCORE_CLOCK=true`) is warmed with `accounts`
new accounts (2 events each), then paced at a fraction of the worker phase's rate. The
stream's event time is placed so that it crosses a UTC midnight a third of the way into
the paced window: the worker writes the ticks of that midnight itself, as in production,
and its `apply-ticks` agent re-scores every account of each partition, in slices, while
the paced events keep coming. Reported: the latency p99 of the events sent while a sweep
ran, and of the whole window; each partition's sweep (accounts, busy and elapsed time,
from the worker's `clock: swept` lines) and the sweep's cost per account.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

from bench import latency
from bench.context import Context
from bench.events import EventStream
from bench.latency_run import pace, warm_worker
from bench.worker_run import BenchError

SWEPT = re.compile(
    r"clock: swept partition (\d+) at \S+: accounts=(\d+) busy_ms=([\d.]+) "
    r"elapsed_ms=([\d.]+) began=([\d.]+) tick_cpu_ms=([\d.]+)"
)
STEP_SECONDS = 0.01  # event time between two events of the stream


def sweeps(log_text: str) -> list[dict[str, float]]:
    """The worker log's `clock: swept` lines: one per tick record applied."""
    return [
        {
            "partition": int(m[1]),
            "accounts": int(m[2]),
            "busy_ms": float(m[3]),
            "elapsed_ms": float(m[4]),
            "began": float(m[5]),
            "tick_cpu_ms": float(m[6]),
        }
        for m in SWEPT.finditer(log_text)
    ]


def during(log: latency.LatencyLog, start: float, end: float, inside: bool = True) -> list[float]:
    """The event-to-score latencies (s, by event id) of the events sent in [start, end]
    (`inside`), or outside it."""
    out = []
    n = len(log.send_times)
    for at, _, event_id, _ in log.scores:
        seq = latency.seq_of(event_id)
        if seq is not None and log.seq0 <= seq < log.seq0 + n:
            sent = log.send_times[seq - log.seq0]
            if (start <= sent <= end) == inside:
                out.append(at - sent)
    return out


def sweep_phase(ctx: Context) -> None:
    a = ctx.args
    measured = ctx.phases.get("worker", {}).get("events_per_s") or a.worker_rate
    fraction = a.latency_fractions[0]
    rate = a.latency_rate or (fraction * measured if measured else 0)
    if not rate:
        raise BenchError("needs the worker phase's throughput or --latency-rate")
    paced = max(1, int(rate * a.latency_seconds))
    warm_n = a.accounts * 2
    # the midnight falls a third of the way into the paced events (`pace` sends `paced`)
    midnight = math.floor(datetime.now(UTC).timestamp() / 86400) * 86400 - 86400
    start = midnight - STEP_SECONDS * (warm_n + paced // 3)
    prefix = f"bench-sweep-{uuid.uuid4().hex[:8]}"
    stream = EventStream(
        a.accounts, a.seed + 2, start=datetime.fromtimestamp(start, UTC), step_seconds=STEP_SECONDS
    )
    warm = stream.take(warm_n)
    clock_on = {"HEALTHSCORE_CLOCK": "true"}
    run, topics = warm_worker(ctx, "sweep", prefix, warm, clock_on, label="sweep (clock on)")
    try:
        ctx.say(f"sweep: the midnight comes at paced event {paced // 3:,}")
        applied = Counter(k for _, k, _ in warm)
        log, sent, last = pace(
            ctx, run, stream, topics, prefix, applied, len(warm), rate, alerts=False, label="sweep"
        )
        deadline = time.monotonic() + 60  # the sweeps of the last partitions to finish
        while time.monotonic() < deadline:
            if len(sweeps(run.log_path.read_text(errors="replace"))) >= a.partitions:
                break
            time.sleep(0.5)
    finally:
        run.stop()
    swept = sweeps(run.log_path.read_text(errors="replace"))
    if not swept:
        raise BenchError(f"the worker logged no sweep; see {run.log_path}")
    began = min(s["began"] for s in swept)
    ended = max(s["began"] + s["elapsed_ms"] / 1000 for s in swept)
    accounts = sum(s["accounts"] for s in swept)
    busy_ms = sum(s["busy_ms"] for s in swept)
    cpu_ms = sum(s["tick_cpu_ms"] for s in swept)
    stats = latency.latencies(log)
    in_sweep = latency._stats(during(log, began, ended))
    outside = latency._stats(during(log, began, ended, inside=False))
    ctx.say(
        f"sweep: {accounts:,} accounts in {len(swept)} partitions, {busy_ms:,.0f} ms busy "
        f"({busy_ms / max(1, accounts) * 1000:,.0f} us/account; re-scoring CPU "
        f"{cpu_ms / max(1, accounts) * 1000:,.0f} us/account), {(ended - began) * 1000:,.0f} ms "
        f"elapsed; latency p99 while it ran {in_sweep.get('p99_ms')} ms over "
        f"{in_sweep['samples']:,} scores, {outside.get('p99_ms')} ms outside it "
        f"({outside['samples']:,} scores)"
    )
    ctx.phases["sweep"] = {
        "method": "a fresh worker with the clock on, warmed with 2 events for each of "
        "`accounts` new accounts, then paced at `rate` (the latency fraction of the worker "
        "phase's rate); the stream's event time crosses a UTC midnight a third of the way in, "
        "so the worker writes that midnight's ticks and sweeps every account while events keep "
        "coming; latency_during_sweep = event-to-score latency (by event id) of the events "
        "sent between the first sweep's start and the last one's end; busy = time inside the "
        "sweep's slices (ticking, publishing: other tasks may run while it publishes), "
        "tick_cpu = CPU time of the re-scoring itself (processor.tick), elapsed = first slice "
        "to last, yields included",
        "rate": round(rate),
        "fraction_of_worker_rate": None if a.latency_rate else fraction,
        "seconds": a.latency_seconds,
        **sent,
        "accounts_swept": accounts,
        "partitions_swept": len(swept),
        "sweep_busy_ms": round(busy_ms, 1),
        "sweep_elapsed_ms": round((ended - began) * 1000, 1),
        "sweep_us_per_account": round(busy_ms / max(1, accounts) * 1000, 1),
        "sweep_tick_cpu_ms": round(cpu_ms, 1),
        "sweep_tick_cpu_us_per_account": round(cpu_ms / max(1, accounts) * 1000, 1),
        "sweeps": swept,
        "latency_during_sweep": in_sweep,
        "latency_outside_sweep": outside,
        "latency_window": stats["by_event_id"],
        "events_never_scored": stats["events_never_scored"],
        "dead_letters_total": last.dead_letters,
        "log": str(run.log_path),
    }
