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
