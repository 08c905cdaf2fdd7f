"""Python's cyclic garbage collector on a worker that holds thousands of account states.

The worker keeps ~10,000 decoded states (the state cache) and the changed
states of the current commit interval: millions of long-lived objects. With
the default thresholds CPython re-scans them over and over (measured: 13-20%
of the worker's CPU), so the worker collects and freezes what start-up built
and runs young collections every 500,000 net allocations (`install`).

Every event replaces its account's state and reference counting frees the old
one (the scoring code makes no cycles: a collection over 150,000 events found
nothing to collect), so young collections find little, and the collector runs
mostly while the cached states grow: in the bench, 2.0 s of GC over a 1M-event
backlog, against 9.2 s with young collections every 50,000 (CHANGELOG.md has
the measurements and what was tried before).

`stats` counts collections and their seconds per generation, for the
progress line (`gc_ms`, `gc_longest_ms`): the longest pauses, 0.6-0.9 s in the
bench, are the older generations' collections while the cached states grow.

Only what start-up built is frozen, never what the worker holds at run time:
Faust tracks unacknowledged messages in a weak set and, before a rebalance
completes, waits until it is empty, collecting garbage to empty it
(`Consumer.wait_empty`), and a frozen message in a reference cycle would never
leave it.
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
