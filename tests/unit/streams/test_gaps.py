"""`streams.gaps.Gaps` holds what Faust's IntervalTree holds, under Faust's operations."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from intervaltree import IntervalTree

from streams.gaps import Gaps

ADD = st.tuples(st.just("add"), st.integers(0, 60), st.integers(1, 12))
CHOP = st.tuples(st.just("chop"), st.integers(0, 70), st.integers(1, 30))


def ranges_of(tree: IntervalTree) -> list[tuple[int, int]]:
    return sorted((iv.begin, iv.end) for iv in tree)


@settings(max_examples=300)
@given(st.lists(st.one_of(ADD, ADD, CHOP), max_size=40), st.integers(0, 80), st.integers(1, 40))
def test_gaps_hold_what_fausts_interval_tree_holds(
    ops: list[tuple[str, int, int]], probe: int, width: int
) -> None:
    tree, gaps = IntervalTree(), Gaps()
    for op, begin, length in ops:
        if op == "add":  # Faust's _add_gap: addi, then merge_overlaps() (strict)
            tree.addi(begin, begin + length)
            tree.merge_overlaps()
            gaps.addi(begin, begin + length)
        else:
            tree.chop(begin, begin + length)
            gaps.chop(begin, begin + length)
        assert [(s.begin, s.end) for s in gaps.spans] == ranges_of(tree)
        assert bool(gaps) == bool(tree)
    got = sorted((s.begin, s.end) for s in gaps.overlap(probe, probe + width))
    assert got == sorted((iv.begin, iv.end) for iv in tree.overlap(probe, probe + width))


def test_touching_ranges_stay_apart_and_overlapping_ones_merge() -> None:
    gaps = Gaps()
    gaps.addi(0, 10)
    gaps.addi(10, 20)  # a batch's range ends at its own offset: never merged with the next
    assert [(s.begin, s.end) for s in gaps.spans] == [(0, 10), (10, 20)]
    gaps.addi(5, 12)
    assert [(s.begin, s.end) for s in gaps.spans] == [(0, 20)]
