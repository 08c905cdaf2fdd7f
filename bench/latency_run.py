"""The latency phase: paced runs on one warm worker, on fresh topics."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from functools import partial
from typing import Any

from bench import kafka, latency
from bench.context import Context
from bench.events import EventStream
from bench.worker_run import BenchError, Progress, WorkerRun
from schemas.events import Family
from streams.kafka_io import create_topics


def _has_received(p: Progress, goal: int) -> bool:
    return p.received >= goal


def _caught_up(run: WorkerRun, goal: int) -> bool:
    run.poll()
    return run.last is not None and run.last.received >= goal


def latency_phase(ctx: Context) -> None:
    """Paced runs on one warm worker: first at `fractions[0]` x the worker's rate (the
    reported figure), then at each further fraction, on the same topics."""
    a = ctx.args
    measured = ctx.phases.get("worker", {}).get("events_per_s") or a.worker_rate
    if a.latency_rate:
        rates = [(None, a.latency_rate)]
    elif measured:
        rates = [(f, f * measured) for f in a.latency_fractions]
    else:
        raise BenchError("needs the worker phase's throughput or --latency-rate")
    prefix = f"bench-lat-{uuid.uuid4().hex[:8]}"
    topics = {f: f"{prefix}.{f.value}" for f in Family}
    asyncio.run(create_topics(ctx.bootstrap, list(topics.values()), a.partitions))
    stream = EventStream(a.accounts, a.seed + 1, step_seconds=0.01)
    warm = stream.take(a.accounts * 2)
    env, data = ctx.worker_env("latency", prefix)
    run = WorkerRun(env, data / "worker.log").start()
    ctx.say(f"latency: worker pid {run.pid}; warming up with {len(warm):,} events")
    runs: list[dict[str, Any]] = []
    try:
        asyncio.run(kafka.preload(ctx.bootstrap, topics, warm, a.partitions, compression=None))
        total = len(warm)
        # warm = the warm-up is done: every event taken, its rows written and its states
        # saved (committed), so the paced window measures the steady state, not the
        # one-off save of 10,000 fresh states
        run.wait_for(
            lambda p: p.received >= total and p.pending == 0 and p.unsaved == 0,
            ctx.timeout_for(total),
            "the latency worker to take the warm-up events and save their states",
        )
        applied = Counter(k for _, k, _ in warm)
        for fraction, rate in rates:
            seq0 = stream.seq
            events = stream.take(max(1, int(rate * a.latency_seconds)))
            ctx.say(
                f"latency: pacing {len(events):,} events at {rate:,.0f}/s for {a.latency_seconds}s"
            )
            log, sent = asyncio.run(
                latency.paced_run(
                    ctx.bootstrap,
                    topics,
                    f"{prefix}.scores",
                    events,
                    seq0,
                    dict(applied),
                    rate,
                    drain_seconds=30,
                    progress=ctx.say,
                    caught_up=partial(_caught_up, run, total + len(events)),
                    alerts_topic=f"{prefix}.alerts",
                )
            )
            applied.update(k for _, k, _ in events)
            total += len(events)
            last = run.wait_for(
                partial(_has_received, goal=total), 120, "the paced events to be consumed"
            )
            stats = latency.latencies(log)
            runs.append(
                {
                    "fraction_of_worker_rate": fraction,
                    "rate": round(rate),
                    "seconds": a.latency_seconds,
                    **sent,
                    **stats,
                    "scores": len(log.scores),
                    "dead_letters_total": last.dead_letters,
                }
            )
            b, al = stats["by_event_id"], stats["event_to_alert"]
            ctx.say(
                f"latency at {rate:,.0f}/s: p50 {b.get('p50_ms')} ms, p99 "
                f"{b.get('p99_ms')} ms over {b['samples']:,} scores; event to alert p50 "
                f"{al.get('p50_ms')} ms, p99 {al.get('p99_ms')} ms over {al['samples']:,} alerts"
            )
    finally:
        run.stop()
    ctx.phases["latency"] = {
        "method": "fresh topics and worker warmed with 2 events per account (pacing starts "
        "once the worker has taken them, written their rows and saved their states); events "
        "sent at "
        "`rate` (aiokafka send, linger 5 ms) with their wall time; scores topic consumed from "
        "its end in the same process; latency = score consumed - event sent; event_to_alert = "
        "alert consumed from the alerts topic - the send time of the event it names",
        **runs[0],
        "runs": runs,
        "log": str(run.log_path),
    }
