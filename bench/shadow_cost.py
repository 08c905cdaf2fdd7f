"""What the live shadow scorecard costs the worker's scoring step, per event.

usage: python -m bench.shadow_cost [--accounts 100] [--days 90] [--repeats 6]

Scores a demo portfolio through `streams.pipeline.BatchProcessor` (decode, scoring,
state held between batches of 500; no Kafka, no ClickHouse) with the packaged config,
once without and once with `shadow_scorecard` (the default scorecard with
customer_happiness weighted 0.6), alternating, `--repeats` times each. Times are CPU
seconds of this process (`time.process_time`), which a machine shared with other
work disturbs less than wall time. It prints the median and best per event of each,
their difference, and the CPU time spent inside `scoring.shadow_score` itself during
runs with the shadow on, per event and per shadow score.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

import orjson

import scoring
from devtools.demo.portfolio import generate
from schemas.events import FAMILY_BY_TYPE, Family
from scoring.config_load import config_from_mapping, packaged_defaults
from streams.pipeline import BatchProcessor, RawRecord

TOPICS = {f: f"t.{f.value}" for f in Family}
BATCH = 500


def configs() -> tuple[scoring.ScoringConfig, scoring.ScoringConfig]:
    """(shadow off, shadow on): the packaged config plus a `candidate` scorecard."""
    data = packaged_defaults()
    card = {**data["scorecards"]["default"], "customer_happiness": 0.6}
    data = {**data, "scorecards": {**data["scorecards"], "candidate": card}}
    off = config_from_mapping({**data, "shadow_scorecard": None})
    return off, config_from_mapping({**data, "shadow_scorecard": "candidate"})


def records(accounts: int, days: int) -> list[RawRecord]:
    events = generate(accounts=accounts, days=days, seed=3)
    return [
        RawRecord(TOPICS[FAMILY_BY_TYPE[e["type"]]], 0, i, e["account_id"].encode(),
                  orjson.dumps(e))
        for i, e in enumerate(events)
    ]  # fmt: skip


def run(config: scoring.ScoringConfig, batch: list[RawRecord]) -> tuple[float, int, int]:
    """CPU seconds to score `batch`; scores and shadow scores made."""
    model = scoring.default_churn_model(config)
    processor = BatchProcessor(config, {t: f for f, t in TOPICS.items()}, lambda: model)
    table: dict[str, bytes] = {}
    scores = shadows = 0
    gc.collect()
    start = time.process_time()
    for i in range(0, len(batch), BATCH):
        out = processor.run(batch[i : i + BATCH], table.get, table.__setitem__)
        scores, shadows = scores + len(out.scores), shadows + len(out.shadows)
    return time.process_time() - start, scores, shadows


def inside_shadow(on: scoring.ScoringConfig, batch: list[RawRecord]) -> tuple[float, float, int]:
    """(run CPU seconds, CPU seconds inside `scoring.shadow_score`, shadow scores)."""
    spent = [0.0]
    real: Callable[..., Any] = scoring.shadow_score

    def timed(*args: Any) -> Any:
        start = time.process_time()
        try:
            return real(*args)
        finally:
            spent[0] += time.process_time() - start

    scoring.shadow_score = timed  # type: ignore[assignment]
    try:
        elapsed, _, shadows = run(on, batch)
    finally:
        scoring.shadow_score = real  # type: ignore[assignment]
    return elapsed, spent[0], shadows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--accounts", type=int, default=100)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--repeats", type=int, default=6)
    args = ap.parse_args(argv)
    off, on = configs()
    batch = records(args.accounts, args.days)
    n = len(batch)
    times: dict[str, list[float]] = {"off": [], "on": []}
    counts: dict[str, tuple[int, int]] = {}
    for _ in range(args.repeats):
        for name, config in (("off", off), ("on", on)):
            elapsed, scores, shadows = run(config, batch)
            times[name].append(elapsed)
            counts[name] = (scores, shadows)
    us = 1e6 / n
    for name, values in times.items():
        scores, shadows = counts[name]
        print(f"shadow {name:3}: {n} events, {scores} scores, {shadows} shadow scores; "
              f"median {statistics.median(values) * us:.1f} us/event, "
              f"best {min(values) * us:.1f} us/event")  # fmt: skip
    median_off, median_on = statistics.median(times["off"]), statistics.median(times["on"])
    print(f"difference: {(median_on - median_off) * us:+.1f} us/event "
          f"({(median_on / median_off - 1) * 100:+.1f} %, medians)")  # fmt: skip
    elapsed, spent, shadows = inside_shadow(on, batch)
    print(f"inside scoring.shadow_score: {spent * us:.1f} us/event, "
          f"{spent / max(shadows, 1) * 1e6:.1f} us per shadow score, "
          f"{spent / elapsed * 100:.1f} % of the run")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
