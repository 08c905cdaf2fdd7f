"""The in-process phases: the pipeline without Kafka, and state sizes."""

from __future__ import annotations

from bench import pipeline_bench, state_size
from bench.context import Context
from schemas.events import Family


def pipeline(ctx: Context) -> None:
    a = ctx.args
    topics = ctx.topics or {f: f"bench.{f.value}" for f in Family}
    n = min(len(ctx.events), a.pipeline_events)
    ctx.say(f"in-process pipeline over {n:,} events")
    plain = pipeline_bench.run(ctx.events[:n], topics, a.partitions, a.batch_size)
    m = min(n, a.pipeline_events // 3)
    ctx.say(f"in-process pipeline under cProfile over {m:,} events")
    profiled = pipeline_bench.run(ctx.events[:m], topics, a.partitions, a.batch_size, profile=True)
    ctx.phases["pipeline"] = {
        "method": "BatchProcessor.run over per-partition batches with a dict as the state "
        "table, plus encoding every output (JSON + ClickHouse rows); no Kafka; one core",
        **plain,
        "cprofile": profiled,
    }
    ctx.say(f"in-process pipeline: {plain['events_per_s']:,} events/s")


def state(ctx: Context) -> None:
    a = ctx.args
    ctx.say(
        f"state sizes: {a.state_sample:,} accounts x {a.state_events} events over "
        f"{a.state_days} days"
    )
    stats, blobs = state_size.measure(a.state_sample, a.state_events, a.state_days)
    held = []
    for n in sorted({a.accounts, 100_000}):
        held.append(state_size.held_memory(n, blobs))
        ctx.say(f"state: {n:,} accounts hold {held[-1]['rss_added_mb']} MB")
    ctx.phases["state"] = {
        **stats,
        "held": held,
        "held_method": "a fresh process builds a dict account id -> state bytes (the measured "
        "states, cycled) as the worker's memory:// table holds them; RSS added and bytes "
        "allocated (tracemalloc)",
    }
    ctx.say(
        f"state: mean {stats['bytes_mean']} B, p99 {stats['bytes_p99']} B, "
        f"max {stats['bytes_max']} B"
    )
