"""The Kafka throughput phases. Each fills `ctx.results["phases"][name]` or raises BenchError.

Every wait is bounded: a phase that times out raises BenchError naming the
log to read, the run goes on with the next phase, and the error is kept in
the results.
"""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench import kafka, latency_run, profile
from bench.context import REPO, Context
from bench.events import EventStream
from bench.worker_run import BenchError, WorkerRun, throughput
from devtools.kafka_io import create_topics
from schemas.events import Family

# --- events and pre-load ------------------------------------------------------


def generate(ctx: Context) -> None:
    a = ctx.args
    ctx.say(f"generating {a.events:,} events for {a.accounts:,} accounts")
    step = a.span_hours * 3600 / a.events
    gc.disable()
    started = time.perf_counter()
    ctx.stream = EventStream(a.accounts, a.seed, step_seconds=step)
    ctx.events = ctx.stream.take(a.events)
    seconds = time.perf_counter() - started
    gc.freeze()  # a million tuples that live to the end: keep them out of GC passes
    gc.enable()
    families = Counter(f.value for f, _, _ in ctx.events)
    ctx.results["events"] = {
        "events": a.events,
        "accounts": a.accounts,
        "span_hours": a.span_hours,
        "mean_bytes": round(sum(len(v) for _, _, v in ctx.events) / max(1, a.events), 1),
        "families": dict(families),
        "generate_seconds": round(seconds, 2),
        "generate_events_per_s": round(a.events / seconds) if seconds else None,
    }
    ctx.say(f"generated in {seconds:.1f}s ({a.events / seconds:,.0f}/s): {dict(families)}")


def preload(ctx: Context) -> None:
    a = ctx.args
    ctx.prefix = f"bench-{uuid.uuid4().hex[:8]}"
    ctx.topics = {f: f"{ctx.prefix}.{f.value}" for f in Family}
    asyncio.run(create_topics(ctx.bootstrap, list(ctx.topics.values()), a.partitions))
    last = [time.monotonic(), 0]

    def progress(sent: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 2 or sent == len(ctx.events):
            ctx.say(f"produced {sent:,}/{len(ctx.events):,}")
            last[0] = now

    compression = None if a.compression == "none" else a.compression
    result = asyncio.run(
        kafka.preload(
            ctx.bootstrap,
            ctx.topics,
            ctx.events,
            a.partitions,
            compression=compression,
            progress=progress,
        )
    )
    ctx.phases["preload"] = {
        "events": result.events,
        "megabytes": round(result.bytes / 2**20, 1),
        "seconds": round(result.seconds, 2),
        "events_per_s": round(result.rate),
        "compression": a.compression,
        "batch_bytes": kafka.BATCH_BYTES,
        "topic_prefix": ctx.prefix,
    }
    ctx.say(f"pre-loaded {result.events:,} events in {result.seconds:.1f}s ({result.rate:,.0f}/s)")


# --- the ceiling ---------------------------------------------------------------


def ceiling(ctx: Context) -> None:
    n = len(ctx.events)
    last = [time.monotonic()]

    def progress(count: int) -> None:
        if time.monotonic() - last[0] >= 2:
            ctx.say(f"raw consumer: {count:,}/{n:,}")
            last[0] = time.monotonic()

    r = asyncio.run(
        kafka.raw_consume(
            ctx.bootstrap, list(ctx.topics.values()), n, ctx.timeout_for(n) / 4, progress=progress
        )
    )
    if not r.complete:
        raise BenchError(f"the raw consumer read {r.events:,} of {n:,} events before its timeout")
    ctx.phases["ceiling"] = {
        "method": "aiokafka consumer, partitions assigned (no group), values not decoded; time "
        "from assignment to the last record",
        "events": r.events,
        "seconds": round(r.seconds, 2),
        "events_per_s": round(r.rate),
        "startup_seconds": round(r.startup_seconds, 2),
    }
    ctx.say(f"ceiling: {r.rate:,.0f} events/s")


# --- the worker end to end -------------------------------------------------------


def _say_progress(ctx: Context, name: str, n: int) -> Callable[[Any], None]:
    last = [0.0]

    def on_progress(p: Any) -> None:
        if p.at - last[0] >= 10 or p.received >= n:
            last[0] = p.at
            ctx.say(
                f"{name}: received {p.received:,}/{n:,}, scores {p.scores:,}, "
                f"ClickHouse pending {p.pending:,}"
            )

    return on_progress


def worker(ctx: Context) -> None:
    n = len(ctx.events)
    env, data = ctx.worker_env("worker")
    run = WorkerRun(env, data / "worker.log").start()
    ctx.say(f"worker pid {run.pid} started; log {run.log_path}")
    try:
        run.wait_for(
            lambda p: p.received >= n,
            ctx.timeout_for(n),
            f"the worker to receive {n:,} events",
            _say_progress(ctx, "worker", n),
        )
        done = run.wait_for(lambda p: p.pending == 0, 120, "ClickHouse to catch up")
        rss_end = run.rss_kb[-1][1] if run.rss_kb else 0
        hwm_kb = run.hwm_kb  # the backlog's peak, before the steady latency run
        if "latency" not in ctx.args.skip:
            _steady_latency(ctx, run, n)
    finally:
        code = run.stop()
    t = throughput(run, n)
    ceiling_rate = ctx.phases.get("ceiling", {}).get("events_per_s")
    rate = t.rate
    ready = run.ready_at or run.started
    # the backlog's last line: the steady latency run paced more events after it
    end = next((p for p in run.lines if p.received >= n), run.lines[-1])
    cpu = run.cpu_between(ready, end.at)
    kernel = run.cpu_between(ready, end.at, system=True)
    ctx.phases["worker"] = {
        "method": "real worker process (python -m healthscore worker) on the pre-loaded topics; "
        "events / time from its '[^Worker]: Ready' log line to its first progress line with "
        "received == N (progress lines come every 2 s, so this errs low by <= 2 s / run time)",
        "events": t.events,
        "events_per_s": round(rate),
        "steady_events_per_s": round(t.steady_rate) if t.steady_rate else None,
        "seconds": round(t.seconds, 2),
        "ratio_to_ceiling": round(rate / ceiling_rate, 4) if ceiling_rate else None,
        "cpu_seconds": round(cpu, 1) if cpu is not None else None,
        "cpu_cores_used": round(cpu / t.seconds, 2) if cpu and t.seconds > 0 else None,
        "events_per_cpu_second": round(t.events / cpu) if cpu else None,
        "cpu_kernel_share": round(kernel / cpu, 3) if cpu and kernel is not None else None,
        "startup_seconds": round(t.startup_seconds, 2),
        "startup_method": "process start to Faust's '[^Worker]: Ready' line (ClickHouse "
        "migrations, topic creation, group join, changelog recovery)",
        "longest_progress_gap_seconds": round(t.longest_gap_seconds, 1),
        "scores": end.scores,
        "applied": end.applied,
        "duplicates": end.duplicates,
        "dead_letters": end.dead_letters,
        "rss_before_first_event_mb": round(
            max((kb for at, kb in run.rss_kb if at <= ready), default=0) / 1024, 1
        ),
        "rss_peak_mb": round(hwm_kb / 1024, 1),
        "rss_end_mb": round(rss_end / 1024, 1),
        "exit_code": code,
        "log": str(run.log_path),
        "data_dir": str(data),
    }
    ctx.say(f"worker: {rate:,.0f} events/s end to end; peak RSS {hwm_kb / 1024:,.0f} MB")
    if "clickhouse" not in ctx.args.skip:
        _clickhouse(ctx, data, seconds=done.at - ready)


def _steady_latency(ctx: Context, run: WorkerRun, n: int) -> None:
    """The latency target's run, on this worker now that it is warm (see
    `latency_run.steady`); a failure is the latency phase's, not the worker's."""
    try:
        run.wait_for(lambda p: p.unsaved == 0, 60, "the worker to save its states")
        rate = ctx.args.latency_rate or ctx.args.latency_fractions[0] * throughput(run, n).rate
        latency_run.steady(ctx, run, rate)
    except Exception as exc:  # keep the worker's own figures
        detail = str(exc) if isinstance(exc, BenchError) else traceback.format_exc()
        ctx.results["errors"]["latency"] = detail
        ctx.say(f"latency (steady) FAILED: {detail}")


def _clickhouse(ctx: Context, data: Path, seconds: float) -> None:
    try:
        probe = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.clickhouse_probe",
                str(data),
                "--insert-rows",
                str(ctx.args.insert_rows),
                *(["--until", str(ctx.stream.ts_of(len(ctx.events) - 1))] if ctx.stream else []),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=REPO,
            check=True,
        )
    except subprocess.CalledProcessError as exc:
        raise BenchError(f"ClickHouse probe failed: {exc.stderr[-2000:]}") from exc
    got = orjson.loads(probe.stdout.strip().splitlines()[-1])
    rows = got["rows"]
    total = sum(rows.values())
    ctx.phases["clickhouse"] = {
        "method": "rows of the pre-loaded events in the worker's tables (read from chDB after it "
        "stopped; rows of events paced after the backlog are not counted) / time from "
        "the worker's Ready line to the progress line with every event received and "
        "no rows pending; and a direct ClickHouse.insert of score_history rows read back",
        "rows": rows,
        "seconds": round(seconds, 2),
        "worker_rows_per_s": round(total / seconds) if seconds > 0 else None,
        "worker_score_history_rows_per_s": round(rows["score_history"] / seconds)
        if seconds > 0
        else None,
        "direct_insert_rows_per_s": got.get("insert", {}).get("rows_per_s"),
        "direct_insert": got.get("insert"),
    }
    ctx.say(
        f"ClickHouse: {total:,} rows ({total / seconds:,.0f} rows/s); direct insert "
        f"{got.get('insert', {}).get('rows_per_s')} rows/s"
    )


# --- profile ---------------------------------------------------------------------


def profile_worker(ctx: Context) -> None:
    """py-spy on a second worker over the same backlog: wall clock, then GIL only."""
    env, data = ctx.worker_env("profile")
    run = WorkerRun(env, data / "worker.log").start()
    seconds = ctx.args.profile_seconds
    files = {
        "wall": ctx.work / "worker-profile-wall.txt",
        "gil": ctx.work / "worker-profile-gil.txt",
    }
    rates: dict[str, int | None] = {}
    try:
        deadline = time.monotonic() + 180
        while run.ready_at is None:
            run.poll()
            if not run.process.running or time.monotonic() > deadline:
                raise BenchError(f"the profiled worker did not get ready; see {run.log_path}")
            time.sleep(0.2)
        time.sleep(5)  # past the first fetch: profile steady consumption
        for mode, out in files.items():
            ctx.say(f"py-spy ({mode}): sampling worker pid {run.pid} for {seconds}s")
            run.poll()
            before = run.last
            profile.record(run.pid, seconds, out, gil=mode == "gil")
            run.poll()
            after = run.last
            rates[mode] = (
                round((after.received - before.received) / (after.at - before.at))
                if before and after and after.at > before.at
                else None
            )
    finally:
        run.stop()
    result: dict[str, Any] = {
        "method": "py-spy record (100 Hz, --threads) on a second worker over the same "
        "pre-loaded topics: 'wall' = --nonblocking --idle (every sample, waiting included), "
        "'gil' = --gil (only samples holding the GIL: Python CPU work); stage = innermost frame "
        "matching bench.profile.STAGES",
    }
    for mode, out in files.items():
        summary = profile.summarise(out)
        summary["rate_while_profiled"] = rates.get(mode)
        result[mode] = summary
        ctx.say(f"profile ({mode}):\n" + profile.format_summary(summary, top=10))
    ctx.phases["profile"] = result
