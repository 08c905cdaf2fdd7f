"""Python's cyclic garbage collector on a worker that holds thousands of account states.

The worker keeps ~10,000 decoded states (the state cache) and the changed
states of the current commit interval: millions of long-lived objects. With
the default thresholds CPython re-scans them over and over (measured: 13-20%
of the worker's CPU). With young collections every 50,000 net allocations it
still promotes each interval's new states to the older generations, and a
collection of those took ~330 ms, once every ~40,000 events on paced traffic:
a pause that every event arriving meanwhile waits out.

Account states hold no reference cycles (immutable trees, freed by reference
counting), so the policy is:

* young collections every 50,000 net allocations, as before;
* after each state flush (every commit), everything alive is frozen (`gc.freeze`:
  moved out of the collected generations, never scanned again), so the older
  generations only ever hold one interval's survivors and stay small;
* every `full_every` seconds, one full collection of everything (`gc.unfreeze`,
  `gc.collect`, `gc.freeze`) reclaims any cyclic garbage that was frozen while
  still alive (asyncio and Kafka client objects can form cycles); it is logged
  with what it freed and how long it took.

`stats` counts collections and their seconds per generation for the progress line.
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

YOUNG_THRESHOLD = 50_000


@dataclass
class GcStats:
    collections: list[int] = field(default_factory=lambda: [0, 0, 0])
    seconds: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    longest: float = 0.0
    full_collections: int = 0


class GcPolicy:
    def __init__(self, full_every: float = 600.0, clock: Any = time.monotonic) -> None:
        self.full_every = full_every
        self.clock = clock
        self.stats = GcStats()
        self._started = 0.0
        self._last_full = clock()

    def install(self) -> GcPolicy:
        """Collect and freeze what start-up built, set the thresholds, start counting."""
        gc.collect()
        gc.freeze()
        gc.set_threshold(YOUNG_THRESHOLD, 20, 100)
        gc.callbacks.append(self._observe)
        self._last_full = self.clock()
        return self

    def uninstall(self) -> None:
        if self._observe in gc.callbacks:
            gc.callbacks.remove(self._observe)

    def after_flush(self) -> None:
        """The states just saved, and everything else alive now, leave the collected
        generations; every `full_every` seconds, one full collection first."""
        if self.clock() - self._last_full >= self.full_every:
            self.full_collection()
        gc.freeze()

    def full_collection(self) -> int:
        started = time.perf_counter()
        gc.unfreeze()
        freed = gc.collect()
        gc.freeze()
        self._last_full = self.clock()
        self.stats.full_collections += 1
        log.info(
            "gc: full collection freed %d objects in %.0f ms; %d objects frozen",
            freed, (time.perf_counter() - started) * 1000, gc.get_freeze_count(),
        )  # fmt: skip
        return freed

    def _observe(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        seconds = time.perf_counter() - self._started
        generation = info["generation"]
        self.stats.collections[generation] += 1
        self.stats.seconds[generation] += seconds
        self.stats.longest = max(self.stats.longest, seconds)
