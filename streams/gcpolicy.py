"""Python's cyclic garbage collector on a worker that holds thousands of account states.

The worker keeps ~10,000 decoded states (the state cache) and the changed
states of the current commit interval: millions of long-lived objects. With
the default thresholds CPython re-scans them over and over (measured: 13-20%
of the worker's CPU), so the worker collects and freezes what start-up built
and runs young collections every 500,000 net allocations (`install`).

Every event replaces its account's state and reference counting frees the old
one (the scoring code makes no cycles: a collection over 150,000 events found
nothing to collect), so young collections find little; at 500,000 the bench
worker collected mostly while its 10,000 states grew: 2.0 s of GC over the 1M
backlog against 9.2 s at 50,000 (2026-12-04, same code otherwise; 6,441 against
6,278 events/s, within this machine's run-to-run noise). 500,000 was first tried
on 2026-11-23 and reverted because workers then stopped consuming mid-stream in
one full `make test` run; that stall was Faust's recovery race fixed in
`streams.transport` (`ResumeKeepsFreshMessages`), which also struck at 50,000.

`stats` counts collections and their seconds per generation, for the
progress line (`gc_ms`, `gc_longest_ms`): the longest pauses, 0.6-0.9 s in the
bench, are the older generations' collections while the cached states grow.

Also tried and reverted (2026-11-23): freezing everything alive after each state
flush (with a full collection every 10 minutes) cut GC time by ~35% and the
longest pause to ~150 ms, but in the fault tests workers then stopped
consuming after a restart or a rebalance in 4 fault-test runs of 5 (0 of 3
without it). Part of that was the recovery race above; but freezing at run time
stays out: Faust tracks unacknowledged messages in a weak set and, before a
rebalance completes, waits until it is empty, collecting garbage to empty it
(`Consumer.wait_empty`), and a frozen message in a reference cycle would never
leave it. Freezing is safe only for what start-up built.
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
