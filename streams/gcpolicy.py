"""Python's cyclic garbage collector on a worker that holds thousands of account states.

The worker keeps ~10,000 decoded states (the state cache) and the changed
states of the current commit interval: millions of long-lived objects. With
the default thresholds CPython re-scans them over and over (measured: 13-20%
of the worker's CPU), so the worker collects and freezes what start-up built
and runs young collections only every 500,000 net allocations (`install`).

Why so many: every event replaces its account's state with a new one of
~20-36 tracked objects, and the old one is freed by reference counting (the
scoring code makes no reference cycles: a collection over 150,000 events found
nothing to collect). The count of net allocations therefore grows only while
the set of states grows. At 50,000 a young collection came every few thousand
events and walked the newest version of every state it found, ~10% of the CPU
(in-process, 200,000 events of mature accounts: 3.0-3.3 s of collections at
50,000, 0.4 s at 200,000, none at 500,000; 7,586 -> 9,320 events/s). In the
1M-event bench the worker collected only while the 10,000 states were growing
(the first ~190,000 events): 2.7-2.9 s of collections in all instead of 10.9 s,
the longest ~1 s (at the first collections, as before).
Cyclic garbage of the libraries (Kafka client, asyncio) is still collected,
later: the young generation holds up to 500,000 objects (tens of MB).

`stats` counts collections and their seconds per generation, for the
progress line (`gc_ms`, `gc_longest_ms`): with the 50,000 threshold a
collection of the middle generation took ~300-500 ms once every ~40,000
events on paced traffic; at 500,000, none ran in the bench's steady phase.

Tried and reverted (2026-11-23): freezing everything alive after each state
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

YOUNG_THRESHOLD = 500_000
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
