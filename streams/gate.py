"""The state changelog follows the outputs: what makes a crash lose no output.

A chunk of records changes account states and produces outputs (Kafka
messages, ClickHouse rows). The new states are in the table's store at once
(the next chunk needs them), but their changelog records wait here until the
chunk's outputs are durable: every Kafka send acknowledged and every
ClickHouse row written. Faust commits input offsets only after
`ChangelogGate.drain()` (see `streams.transport`), so at any moment

    committed offsets  <=  changelog (and table positions)  <=  outputs durable.

After a kill -9 a new worker restores states from the changelog and resumes
from the committed offsets: records up to the changelog's positions are
duplicates (their outputs exist), later ones are scored again and their
outputs produced again (at-least-once; ClickHouse's ReplacingMergeTree tables
fold the repeats). No state change is ever lost, and no output either.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from streams.clickhouse.writer import ClickHouseWriter

log = logging.getLogger(__name__)

SendChangelog = Callable[[int, list[tuple[bytes, bytes]]], Awaitable[None]]


@dataclass(slots=True)
class _Entry:
    partition: int
    records: list[tuple[bytes, bytes]]
    futures: list[asyncio.Future[Any]]
    rows: dict[str, int]


class ChangelogGate:
    def __init__(self, writer: ClickHouseWriter, send_changelog: SendChangelog) -> None:
        self.writer = writer
        self.send_changelog = send_changelog
        self.entries: deque[_Entry] = deque()
        self.lock = asyncio.Lock()
        self.released = 0

    def submit(
        self,
        partition: int,
        records: list[tuple[bytes, bytes]],
        futures: list[asyncio.Future[Any]],
    ) -> None:
        """Hold a chunk's changelog records until its outputs (sent already) are durable."""
        if records:
            self.entries.append(_Entry(partition, records, futures, self.writer.snapshot()))

    @property
    def held(self) -> int:
        return sum(len(e.records) for e in self.entries)

    def _ready(self, entry: _Entry) -> bool:
        return all(f.done() for f in entry.futures) and self.writer.covers(entry.rows)

    async def release_ready(self) -> None:
        """Send the changelog of the oldest chunks whose outputs are durable; never waits
        for outputs."""
        if not self.entries or self.lock.locked():
            return
        async with self.lock:
            while self.entries and self._ready(self.entries[0]):
                await self._release(self.entries.popleft())

    async def drain(self, poll: float = 0.01) -> None:
        """Wait until every held chunk's outputs are durable and its changelog sent: what
        a commit waits for. A failed Kafka send has already crashed the worker
        (`OutputSink.on_failure`); its chunk's changelog is never sent."""
        async with self.lock:
            if self.entries:
                self.writer.nudge()
            # only what was held when the commit began: chunks submitted meanwhile belong
            # to offsets this commit does not cover, and a busy agent would keep it waiting
            for _ in range(len(self.entries)):
                entry = self.entries[0]
                if entry.futures:
                    await asyncio.wait(entry.futures)
                    if any(not f.cancelled() and f.exception() for f in entry.futures):
                        raise RuntimeError("an output was not delivered: not committing")
                    entry.futures = []
                while not self.writer.covers(entry.rows):
                    await asyncio.sleep(poll)
                await self._release(self.entries.popleft())

    async def _release(self, entry: _Entry) -> None:
        await self.send_changelog(entry.partition, entry.records)
        self.released += len(entry.records)
