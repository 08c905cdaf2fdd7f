"""The worker's collector settings and the collection counts on its progress line."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from streams.gcpolicy import THRESHOLDS, GcPolicy


@pytest.fixture
def policy() -> Iterator[GcPolicy]:
    thresholds = gc.get_threshold()
    p = GcPolicy()
    try:
        yield p.install()
    finally:
        p.uninstall()
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_install_freezes_what_exists_and_sets_the_thresholds(policy: GcPolicy) -> None:
    assert gc.get_threshold() == THRESHOLDS
    assert gc.get_freeze_count() > 0


def test_collections_are_counted_per_generation_with_their_time(policy: GcPolicy) -> None:
    before = list(policy.stats.collections)
    gc.collect(0)
    gc.collect(1)
    assert policy.stats.collections[0] == before[0] + 1
    assert policy.stats.collections[1] == before[1] + 1
    assert policy.stats.seconds[0] > 0.0 and policy.stats.longest > 0.0


def test_uninstall_stops_the_counting(policy: GcPolicy) -> None:
    policy.uninstall()
    before = list(policy.stats.collections)
    gc.collect(0)
    assert policy.stats.collections == before
