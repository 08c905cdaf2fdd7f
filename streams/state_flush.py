"""Saving states before each commit, after the outputs they caused: what makes a
crash lose neither a state change nor an output.

The agent scores a chunk of records and sends its outputs (Kafka messages,
ClickHouse rows) at once; the states the chunk changed stay in the state
store (`StateStore.pending`, `streams.state_store`), not saved. Before Faust
commits input offsets it awaits `StateFlusher.flush()` (see
`streams.transport`), which

1. takes the unsaved states aside (the agent goes on scoring: what it
   changes next is newer and is saved by the next flush);
2. waits until every output sent so far is durable: Kafka sends
   acknowledged, ClickHouse rows written;
3. has the store pack each state once, write it to the table's store and
   send its changelog record (the one Faust would write: same topic, key,
   value, partition), and waits for those to be acknowledged.

So at any moment

    committed offsets  <=  changelog (and table positions)  <=  outputs durable.

After a kill -9 a new worker restores states from the changelog and resumes
from the committed offsets: records up to the changelog's positions are
duplicates (their outputs exist), later ones are scored again and their
outputs produced again (at-least-once; ClickHouse's ReplacingMergeTree tables
fold the repeats). No state change is ever lost, and no output either.

Saving once per commit (every `broker_commit_interval`) rather than once per
chunk is what makes state writes cheap: a busy account is encoded and sent
once per interval however many events it had.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from streams.clickhouse.writer import ClickHouseWriter, RowsAbandoned
from streams.state_store import StateStore


@dataclass
class FlushStats:
    """The last flush, for the progress line: how many states, and its seconds spent
    waiting for outputs, encoding and sending states, and in all (changelog acks too)."""

    states: int = 0
    outputs_s: float = 0.0
    save_s: float = 0.0
    total_s: float = 0.0
    encode_s: float = 0.0  # of save_s: encoding states and writing them to the store
    send_s: float = 0.0  # of save_s: handing records to aiokafka, waiting if a batch is full
    yielded_s: float = 0.0  # of save_s: the event loop running other work between slices


# The flush saves states in slices of time between yields to the event loop, each slice as
# long as `_SHARE` x what the loop ran in between (within the bounds): on a backlog, where
# the agent scores 500-record chunks between two slices, the flush gets a third of the
# time and ends within seconds; on live traffic, where Faust's fetcher needs a dozen loop
# turns per fetch, slices stay short and the fetcher is not held up behind them.
_SHARE = 0.5
_MIN_SLICE_S = 0.002
_MAX_SLICE_S = 0.05
_PRUNE_AT = 100_000  # delivery futures kept before the delivered ones are dropped


class StateFlusher:
    """Saves the states of `states` before each commit, after the outputs sent so far
    (Kafka deliveries `track`ed, rows queued on `writer`) are durable."""

    def __init__(self, states: StateStore, writer: ClickHouseWriter) -> None:
        self.states = states
        self.writer = writer
        self.outputs: list[asyncio.Future[Any]] = []
        self.rows: dict[str, int] = writer.snapshot()
        self.scoring = asyncio.Lock()
        self.flushing = asyncio.Lock()
        self.last = FlushStats()

    @asynccontextmanager
    async def chunk(self) -> Any:
        """Hold while scoring a chunk and sending its outputs, then `track` them: a
        flush never takes states aside whose outputs it does not know of."""
        async with self.scoring:
            yield

    def track(self, futures: list[asyncio.Future[Any]]) -> None:
        """Note a chunk's Kafka delivery futures and the ClickHouse rows queued so far.

        Called once per chunk, which on live traffic is a few records: the list is not
        scanned here (the next flush waits on it, done futures cost nothing), only
        pruned of delivered ones when it grows past `_PRUNE_AT` (flushes held back)."""
        self.outputs.extend(futures)
        if len(self.outputs) > _PRUNE_AT:
            self.outputs = [
                f for f in self.outputs if not f.done() or f.cancelled() or f.exception()
            ]
        self.rows = self.writer.snapshot()

    async def flush(self, poll: float = 0.01) -> int:
        """Save every state changed so far, once its outputs are durable: what a commit
        waits for. Returns how many states were saved. A failed Kafka send has already
        crashed the worker (`OutputSink.on_failure`); then nothing is saved. Raises
        `RowsAbandoned` if the ClickHouse writer gave up (the worker's shutdown budget)
        before the rows were written: nothing is saved, nothing may be committed."""
        async with self.flushing:
            started = time.monotonic()
            async with self.scoring:  # between chunks: the states and their outputs match
                entries = self.states.begin_flush()
                outputs, self.outputs = self.outputs, []
                rows = self.rows
            stats = FlushStats(states=len(entries))
            try:
                # a chunk of only dead letters or duplicates changed no state, but its
                # outputs must be durable before its offsets are committed all the same
                await _delivered(outputs, "an output was not delivered: not saving state")
                if not self.writer.covers(rows):
                    self.writer.nudge()
                    while not self.writer.covers(rows):
                        if self.writer.abandoned:  # shutdown budget spent: commit nothing
                            raise RowsAbandoned("ClickHouse rows unwritten: not committing")
                        await asyncio.sleep(poll)
                stats.outputs_s = time.monotonic() - started
                if not entries:
                    return 0
                sent: list[asyncio.Future[Any]] = []
                items = list(entries.items())
                clock = time.perf_counter
                slice_ends = clock() + _MIN_SLICE_S
                encode_s = send_s = yielded_s = 0.0
                for account_id, entry in items:
                    began = clock()
                    key, value = self.states.write(account_id, entry)
                    encoded = clock()
                    sent.append(await self.states.send_changelog(key, value, entry.partition))
                    paused = clock()
                    encode_s += encoded - began
                    send_s += paused - encoded
                    if paused >= slice_ends:
                        await asyncio.sleep(0)
                        resumed = clock()
                        yielded_s += resumed - paused
                        budget = _SHARE * (resumed - paused)
                        slice_ends = resumed + min(_MAX_SLICE_S, max(_MIN_SLICE_S, budget))
                stats.save_s = time.monotonic() - started - stats.outputs_s
                stats.encode_s, stats.send_s, stats.yielded_s = encode_s, send_s, yielded_s
                await _delivered(sent, "a changelog record was not delivered: not committing")
                return len(items)
            finally:
                self.states.end_flush()
                stats.total_s = time.monotonic() - started
                self.last = stats


async def _delivered(futures: list[asyncio.Future[Any]], failure: str) -> None:
    """Wait for Kafka deliveries; raise `failure` if any failed (a cancelled one is left to
    the producer's shutdown, as before)."""
    if futures:
        await asyncio.wait(futures)
        if any(not f.cancelled() and f.exception() for f in futures):
            raise RuntimeError(failure)
