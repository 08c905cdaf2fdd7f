"""Offset gaps of one partition: what Faust keeps in an `IntervalTree`, kept cheaply.

Faust registers, per partition, ranges of offsets to count as processed
once the message after them is acknowledged (`Consumer._add_gap`), and after
every addition rebuilds its interval tree to merge overlapping ranges
(`merge_overlaps`: a sort and a rebuild of everything added since the last
commit). The batching transport adds a range for every fetched batch, so on
paced traffic (small batches, a fetch every ~20 ms, 16 input partitions)
the rebuilds took ~10% of the worker's main thread.

`Gaps` keeps the same set of ranges the tree would hold after each
`addi` + `merge_overlaps()` (`BatchingConsumer._add_gap` calls `addi` only):
ranges that overlap are merged, ranges that only touch are not (Faust relies
on that: a batch's range ends at its own offset, which must not count as
processed before the batch is). It is a sorted list; a range after the last
one (the usual case) is an append.
`tests/unit/streams/test_gaps.py` compares it with `IntervalTree` on random
operations.
"""

from __future__ import annotations

import bisect
from typing import NamedTuple


class Span(NamedTuple):
    begin: int
    end: int  # exclusive, as in intervaltree


class Gaps:
    __slots__ = ("spans",)

    def __init__(self) -> None:
        self.spans: list[Span] = []  # by begin; no two overlap (they may touch)

    def __bool__(self) -> bool:
        return bool(self.spans)

    def addi(self, begin: int, end: int) -> None:
        """Add [begin, end) and merge it with the ranges it overlaps."""
        if begin >= end:
            raise ValueError(f"null range [{begin}, {end})")
        spans = self.spans
        if not spans or begin >= spans[-1].end:
            spans.append(Span(begin, end))
            return
        ends = [s.end for s in spans]  # ascending too: the ranges do not overlap
        lo = bisect.bisect_right(ends, begin)  # first range ending after `begin`
        hi = bisect.bisect_left(spans, (end,))  # first range starting at or after `end`
        if lo < hi:
            begin = min(begin, spans[lo].begin)
            end = max(end, spans[hi - 1].end)
        spans[lo:hi] = [Span(begin, end)]

    def overlap(self, begin: int, end: int) -> list[Span]:
        """The ranges with at least one offset in [begin, end)."""
        return [s for s in self.spans if s.begin < end and s.end > begin]

    def chop(self, begin: int, end: int) -> None:
        """Remove the offsets in [begin, end) from every range."""
        kept: list[Span] = []
        for s in self.spans:
            if s.end <= begin or s.begin >= end:
                kept.append(s)
                continue
            if s.begin < begin:
                kept.append(Span(s.begin, begin))
            if s.end > end:
                kept.append(Span(end, s.end))
        self.spans = kept
