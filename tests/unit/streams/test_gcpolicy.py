"""The worker's collector policy: freeze after each flush, a periodic full collection."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from streams.gcpolicy import YOUNG_THRESHOLD, GcPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def policy() -> Iterator[tuple[GcPolicy, Clock]]:
    thresholds, enabled = gc.get_threshold(), gc.isenabled()
    gc.disable()  # no automatic collection in the middle of a test
    clock = Clock()
    p = GcPolicy(full_every=600.0, clock=clock)
    try:
        yield p.install(), clock
    finally:
        p.uninstall()
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        gc.collect()
        if enabled:
            gc.enable()


def _cycle() -> weakref.ref[Node]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_install_sets_the_young_threshold_and_counts_collections(
    policy: tuple[GcPolicy, Clock],
) -> None:
    p, _ = policy
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    before = sum(p.stats.collections)
    gc.collect(0)
    assert sum(p.stats.collections) == before + 1
    assert p.stats.seconds[0] > 0.0


def test_what_is_alive_at_a_flush_is_frozen_and_no_longer_collected(
    policy: tuple[GcPolicy, Clock],
) -> None:
    p, _ = policy
    ref = _cycle()  # alive at the flush (a reference cycle nothing else points to)
    p.after_flush()
    assert ref() is not None
    gc.collect()  # a frozen object is never scanned: the cycle stays
    assert ref() is not None


def test_the_periodic_full_collection_reclaims_frozen_cycles(
    policy: tuple[GcPolicy, Clock],
) -> None:
    p, clock = policy
    ref = _cycle()
    p.after_flush()
    clock.now = 599.0
    p.after_flush()  # not due yet
    assert ref() is not None and p.stats.full_collections == 0
    clock.now = 600.0
    p.after_flush()
    assert ref() is None
    assert p.stats.full_collections == 1
    assert gc.get_freeze_count() > 0  # the survivors are frozen again
