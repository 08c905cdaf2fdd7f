"""The batching consumer's own settings (its batching and offsets are tested through a
real broker in tests/integration)."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

from faust.types import TP

from streams.align import Held
from streams.app import create_app
from streams.settings import Settings
from streams.transport import DRY_WAIT_SECONDS, BatchingConsumer


def test_offsets_are_committed_by_the_commit_timer_only() -> None:
    # Faust's count-based commit (every `broker_commit_every` acknowledged messages) runs
    # inside the loop that takes fetched records to the agent, which then stops for the
    # whole commit and its state flush: on live traffic records waited 1-3 s unread
    async def consumer() -> BatchingConsumer:
        app = create_app(Settings())
        c = app.consumer
        assert isinstance(c, BatchingConsumer)
        return c

    c = asyncio.run(consumer())
    assert c._commit_every is None
    assert c.app.conf.broker_commit_interval == Settings().commit_interval_seconds


def test_a_second_resume_keeps_what_reached_the_stream_queue_after_the_first() -> None:
    # Faust's recovery resumes the flow when it starts reading the changelogs and again
    # once done, after seeking the stream partitions; a record fetched in between must
    # reach the agent (stock Faust cleared it, and commits stopped for its partition)
    async def run() -> tuple[list[str], list[str]]:
        app = create_app(Settings())
        queue = app.FlowControlQueue(maxsize=10, clear_on_resume=True)
        flow = app.flow_control
        flow.suspend()  # a rebalance
        queue.put_nowait("left over from the old generation")
        flow.resume()  # recovery starts: clears what the rebalance left behind
        after_first = [queue.get_nowait() for _ in range(queue.qsize())]
        queue.put_nowait("fetched after the seek")
        flow.resume()  # recovery completed
        return after_first, [queue.get_nowait() for _ in range(queue.qsize())]

    after_first, after_second = asyncio.run(run())
    assert after_first == []
    assert after_second == ["fetched after the seek"]


def _record(topic: str, partition: int, offset: int, ts: str) -> Any:
    value = b'{"ts": "' + ts.encode() + b'"}'
    return SimpleNamespace(topic=topic, partition=partition, offset=offset, value=value,
                           timestamp=None)  # fmt: skip


def test_a_family_partition_faust_paused_is_waited_for_however_long() -> None:
    # Faust stops fetching a partition whose stream buffer is full; a family with records on
    # the broker and nothing fetched then holds the others for as long as that lasts (on
    # the demo backlog a wall-clock valve let the others run ahead 17 times)
    async def consumer() -> BatchingConsumer:
        c = create_app(Settings()).consumer
        assert isinstance(c, BatchingConsumer)
        return c

    c = asyncio.run(consumer())
    usage, billing = TP("hs.usage", 0), TP("hs.billing", 0)
    c.app.batched_topics = frozenset({usage.topic, billing.topic})
    c._held[usage] = Held([_record(usage.topic, 0, i, f"2026-01-{1 + i:02d}T00:00:00Z")
                           for i in range(3)])  # fmt: skip
    c.assignment = lambda: {usage, billing}  # type: ignore[method-assign]
    c._unread = lambda tp: True  # type: ignore[method-assign]
    fetching: set[TP] = {usage}
    c._get_active_partitions = lambda: fetching  # type: ignore[method-assign]
    c._dry_since[billing] = time.monotonic() - 10 * DRY_WAIT_SECONDS
    assert c._aligned(3600.0) == []  # paused by Faust: not overdue, still waited for
    fetching.add(billing)
    c._dry_since[billing] = time.monotonic() - 10 * DRY_WAIT_SECONDS
    # fetched all along and still nothing: no longer waited for
    assert [(tp, n) for tp, n, _, _ in c._aligned(3600.0)] == [(usage, 3)]
