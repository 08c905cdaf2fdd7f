"""The batching consumer's own settings (its batching and offsets are tested through a
real broker in tests/integration)."""

from __future__ import annotations

import asyncio

from streams.app import create_app
from streams.settings import Settings
from streams.transport import BatchingConsumer


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
