"""Python's cyclic garbage collector on a worker that holds thousands of account states.

The worker keeps ~10,000 decoded states (the state cache) and the changed
states of the current commit interval: millions of long-lived objects. With
the default thresholds CPython re-scans them over and over (measured: 13-20%
of the worker's CPU), so the worker collects and freezes what start-up built
and runs young collections every 50,000 net allocations (`install`).

Tried and reverted (2026-11-23): young collections only every 500,000.
Every event replaces its account's state and reference counting frees the old
one (the scoring code makes no cycles: a collection over 150,000 events found
nothing to collect), so at 500,000 the bench worker collected only while its
10,000 states grew (2.7-2.9 s of GC in all instead of 10.9 s; 6,726-6,985
events/s against 6,144 with 50,000 and the same code otherwise). But in a
full `make test` run, three workers stopped consuming mid-stream (a restarted
worker 4 events short of the end; two scale-out fault tests with commits
stuck 915 offsets short), the symptom freezing had (below), likely for the
same reason, not proven: objects of the
Kafka client or asyncio that only the collector frees, left uncollected.

`stats` counts collections and their seconds per generation, for the
progress line (`gc_ms`, `gc_longest_ms`): on paced traffic a collection of
the middle generation takes ~300-500 ms once every ~40,000 events.

Also tried and reverted (2026-11-23): freezing everything alive after each state
flush (with a full collection every 10 minutes) cut GC time by ~35% and the
longest pause to ~150 ms, but in the fault tests workers then stopped
consuming after a restart or a rebalance in 4 fault-test runs of 5 (0 of 3
without it): objects of the Kafka client and asyncio that only the collector frees
(reference cycles, async generators left suspended) were frozen instead.
Freezing is safe only for what start-up built.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field

YOUNG_THRESHOLD = 50_000
THRESHOLDS = (YOUNG_THRESHOLD, 20, 100)  # young, middle, old: `gc.set_threshold`


@dataclass
class GcStats:
    collections: list[int] = field(default_factory=lambda: [0, 0, 0])
    seconds: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    longest: float = 0.0


class GcPolicy:
    def __init__(self) -> None:
        self.stats = GcStats()
        self._started = 0.0

    def install(self) -> GcPolicy:
        """Collect and freeze what start-up built, set the thresholds, start counting."""
        gc.collect()
        gc.freeze()
        gc.set_threshold(*THRESHOLDS)
        gc.callbacks.append(self._observe)
        return self

    def uninstall(self) -> None:
        if self._observe in gc.callbacks:
            gc.callbacks.remove(self._observe)

    def _observe(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        seconds = time.perf_counter() - self._started
        generation = info["generation"]
        self.stats.collections[generation] += 1
        self.stats.seconds[generation] += seconds
        self.stats.longest = max(self.stats.longest, seconds)
