"""Event-to-score latency: paced runs on warm workers.

* `steady` (the target figure): on the worker phase's own worker, once it has
  taken the whole backlog, the *same* event stream continues at a fraction of
  the rate that worker just measured: the same accounts, the same mix, the same
  state, so "half the maximum rate" means half the rate of this very traffic.
* `onboarding_phase`: a fresh worker and 10,000 brand-new accounts (2 warm-up
  events each), paced at a fraction of the worker phase's rate. Young accounts
  publish a score for ~40% of their events (mature ones ~14%) and change quadrant
  often, so this is a heavier workload than the one the rate was measured on:
  reported beside the target, as the onboarding case.
"""

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
from devtools.kafka_io import create_topics
from schemas.events import Family


def _has_received(p: Progress, goal: int) -> bool:
    return p.received >= goal


def _caught_up(run: WorkerRun, goal: int) -> bool:
    run.poll()
    return run.last is not None and run.last.received >= goal


def steady(ctx: Context, run: WorkerRun, rate: float) -> None:
    """Pace the continuation of the pre-loaded stream at `rate` on the worker that took it
    (it has taken every event, written every row and saved every state)."""
    a = ctx.args
    if ctx.stream is None:
        raise BenchError("the steady latency run needs the generated stream")
    ctx.say(
        f"latency (steady): the same stream continues on the worker phase's worker "
        f"(pid {run.pid}) at {rate:,.0f}/s"
    )
    applied = Counter(k for _, k, _ in ctx.events)
    received = len(ctx.events)
    fraction = a.latency_fractions[0]
    summary = _pace(ctx, run, ctx.stream, ctx.topics, ctx.prefix, applied, received, rate, fraction)
    ctx.phases["latency"] = {
        "method": "the worker phase's worker, after it took the pre-loaded backlog (every row "
        "written, every state saved), paced with the continuation of the same event stream "
        "(same accounts and mix) at `fraction_of_worker_rate` x the rate it just measured; "
        "events sent with their wall time (aiokafka send, linger 5 ms); scores and alerts "
        "topics consumed from their end in the same process; latency = score consumed - "
        "event sent",
        **summary,
    }


def _pace(
    ctx: Context,
    run: WorkerRun,
    stream: EventStream,
    topics: dict[Family, str],
    prefix: str,
    applied: Counter[bytes],
    received: int,
    rate: float,
    fraction: float | None = None,
) -> dict[str, Any]:
    """`pace`, with the alerts read too; summarised."""
    log, sent, last = pace(ctx, run, stream, topics, prefix, applied, received, rate)
    return _summary(ctx, fraction, rate, log, sent, last)


def pace(
    ctx: Context,
    run: WorkerRun,
    stream: EventStream,
    topics: dict[Family, str],
    prefix: str,
    applied: Counter[bytes],
    received: int,
    rate: float,
    alerts: bool = True,
    label: str = "latency",
) -> tuple[latency.LatencyLog, dict[str, Any], Progress]:
    """Send the stream's next `rate` x `latency_seconds` events to `topics` at `rate`, with
    the scores (and with `alerts`, the alerts) of `prefix` read meanwhile; wait until `run`
    has received them (`received` before). `applied` (events per account) is brought up
    to date. Returns the latency log, the send summary and the worker's last progress."""
    a = ctx.args
    seq0 = stream.seq
    events = stream.take(max(1, int(rate * a.latency_seconds)))
    goal = received + len(events)
    ctx.say(f"{label}: pacing {len(events):,} events at {rate:,.0f}/s for {a.latency_seconds}s")
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
            caught_up=partial(_caught_up, run, goal),
            alerts_topic=f"{prefix}.alerts" if alerts else None,
        )
    )
    applied.update(k for _, k, _ in events)
    last = run.wait_for(partial(_has_received, goal=goal), 120, "the paced events to be consumed")
    return log, sent, last


def warm_worker(
    ctx: Context,
    phase: str,
    prefix: str,
    warm: list[tuple[Family, bytes, bytes]],
    env: dict[str, str] | None = None,
    label: str = "latency",
) -> tuple[WorkerRun, dict[Family, str]]:
    """Fresh topics of `prefix` and a fresh worker (`phase`'s, its environment updated with
    `env`) that has taken the `warm` events, written their rows and saved their states
    (committed): a paced window after it measures the steady state, not the one-off save
    of thousands of fresh states. Returns the running worker and the input topics."""
    a = ctx.args
    topics = {f: f"{prefix}.{f.value}" for f in Family}
    asyncio.run(create_topics(ctx.bootstrap, list(topics.values()), a.partitions))
    worker_env, data = ctx.worker_env(phase, prefix)
    worker_env.update(env or {})
    run = WorkerRun(worker_env, data / "worker.log").start()
    ctx.say(f"{label}: worker pid {run.pid}; warming up with {len(warm):,} events")
    try:
        asyncio.run(kafka.preload(ctx.bootstrap, topics, warm, a.partitions, compression=None))
        run.wait_for(
            lambda p: p.received >= len(warm) and p.pending == 0 and p.unsaved == 0,
            ctx.timeout_for(len(warm)),
            f"the {phase} worker to take the warm-up events and save their states",
        )
    except BaseException:
        run.stop()
        raise
    return run, topics


def _summary(
    ctx: Context,
    fraction: float | None,
    rate: float,
    log: latency.LatencyLog,
    sent: dict[str, Any],
    last: Progress,
) -> dict[str, Any]:
    stats = latency.latencies(log)
    b, al = stats["by_event_id"], stats["event_to_alert"]
    ctx.say(
        f"latency at {rate:,.0f}/s: p50 {b.get('p50_ms')} ms, p99 "
        f"{b.get('p99_ms')} ms over {b['samples']:,} scores; event to alert p50 "
        f"{al.get('p50_ms')} ms, p99 {al.get('p99_ms')} ms over {al['samples']:,} alerts"
    )
    return {
        "fraction_of_worker_rate": fraction,
        "rate": round(rate),
        "seconds": ctx.args.latency_seconds,
        **sent,
        **stats,
        "scores": len(log.scores),
        "score_share": round(len(log.scores) / max(1, sent["events"]), 3),
        "dead_letters_total": last.dead_letters,
    }


def onboarding_phase(ctx: Context) -> None:
    """Paced runs on a fresh worker with brand-new accounts: at each of `fractions` x the
    worker phase's rate, on the same topics."""
    a = ctx.args
    measured = ctx.phases.get("worker", {}).get("events_per_s") or a.worker_rate
    if a.latency_rate:
        rates = [(None, a.latency_rate)]
    elif measured:
        rates = [(f, f * measured) for f in a.latency_fractions]
    else:
        raise BenchError("needs the worker phase's throughput or --latency-rate")
    prefix = f"bench-lat-{uuid.uuid4().hex[:8]}"
    stream = EventStream(a.accounts, a.seed + 1, step_seconds=0.01)
    warm = stream.take(a.accounts * 2)
    run, topics = warm_worker(ctx, "latency", prefix, warm)
    runs: list[dict[str, Any]] = []
    try:
        total = len(warm)
        applied = Counter(k for _, k, _ in warm)
        for fraction, rate in rates:
            runs.append(_pace(ctx, run, stream, topics, prefix, applied, total, rate, fraction))
            total += runs[-1]["events"]
    finally:
        run.stop()
    ctx.phases["latency_onboarding"] = {
        "method": "fresh topics and a fresh worker warmed with 2 events for each of "
        "`accounts` new accounts (pacing starts once the worker has taken them, written their "
        "rows and saved their states); events sent at `rate` (aiokafka send, linger 5 ms) with "
        "their wall time; scores topic consumed from its end in the same process; latency = "
        "score consumed - event sent; event_to_alert = alert consumed from the alerts topic - "
        "the send time of the event it names",
        **runs[0],
        "runs": runs,
        "log": str(run.log_path),
    }
