"""The account states, held by one object: `StateStore`.

It reads an account's value from the state table (`streams.tables`), decodes it
through a bounded cache, holds the states scoring changed until they are saved,
and saves each one: packs it with its read positions (`streams.statepack`),
writes it to the table's store and sends its changelog record. When it saves
is not its choice: `streams.state_flush` saves the changed states before each
commit, once the outputs they caused are durable.

The table value carries, beside the state, the position (partition, offset) of
the last record applied from each family's topic, so a record Kafka delivers
again after a crash is a duplicate however many events the account had since
(`streams.pipeline`). A busy account is decoded once, not once per batch: a
cache entry is used only while the table holds the very bytes it was made
from, so a rebalance, a changelog recovery or a write by anyone else is never
missed. And it is encoded once per commit interval, whatever the number of its
events: a changed state waits in `pending` until the next flush.

The store writes the table's store and sends the changelog record itself,
rather than through Faust's `table[key] = value`, which would send each record
at once, ahead of the outputs, one send at a time through its producer buffer
(measured: a few thousand records/s, commits waiting seconds for it). The
records are the ones Faust would write (same topic, key, value and partition:
the input's), so recovery after a crash is Faust's own.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import faust

import scoring
from streams.clock import partition_of
from streams.statepack import NO_POSITIONS, Positions, pack_value, unpack_value

LoadState = Callable[[str], bytes | None]
"""An account's table value by account id; None when it has none."""
SaveState = Callable[[str, bytes], None]
"""Write an account's table value."""
Send = Callable[[str, bytes, bytes, int], Awaitable[asyncio.Future[Any]]]
"""topic, key, value, partition -> the record's delivery future (`OutputSink.send`)."""


@dataclass(slots=True)
class _Cached:
    value: bytes
    state: scoring.AccountState
    positions: Positions


@dataclass(slots=True)
class Pending:
    """A changed state not saved yet, with its input positions and its partition."""

    state: scoring.AccountState
    positions: Positions
    partition: int


class StateCache:
    """Decoded states by account, least recently used dropped beyond `size`. An entry
    is used only while the table still holds the very bytes it was made from, so a
    rebalance, a changelog recovery or a write by anyone else is never missed."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[str, _Cached] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, account_id: str, value: bytes) -> _Cached | None:
        entry = self.entries.get(account_id)
        if entry is None or (entry.value is not value and entry.value != value):
            self.misses += 1
            return None
        self.entries.move_to_end(account_id)
        self.hits += 1
        return entry

    def put(self, account_id: str, entry: _Cached) -> None:
        if self.size <= 0:
            return
        self.entries[account_id] = entry
        self.entries.move_to_end(account_id)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)


class StateStore:
    """The account states: the state table's store (`table`, values by the account id's
    bytes) and its changelog, a cache of decoded states, and the changed states not
    saved yet (`pending`, then `flushing` while a flush saves them).

    Without a table (tests, the bench) it keeps a dict of its own, and the caller
    passes the scoring its own `load` and `save_pending` its own `save`."""

    def __init__(
        self,
        table: MutableMapping[bytes, bytes] | None = None,
        changelog_topic: str = "",
        send: Send | None = None,
        cache_size: int = 10_000,
    ) -> None:
        self.table: MutableMapping[bytes, bytes] = {} if table is None else table
        self.changelog_topic = changelog_topic
        self.send = send
        self.cache = StateCache(cache_size)
        self.pending: dict[str, Pending] = {}
        self.flushing: dict[str, Pending] = {}

    @classmethod
    def of_table(cls, table: faust.Table, send: Send, cache_size: int) -> StateStore:
        """The store of the worker's state table, sending its changelog records with
        `send` (the sink's producer, which the outputs go through too)."""
        return cls(table.data, table.changelog_topic.get_topic_name(), send, cache_size)

    # reading

    def load(self, account_id: str) -> bytes | None:
        """The account's value in the table's store."""
        return self.table.get(account_id.encode())

    def get(self, account_id: str, load: LoadState) -> tuple[scoring.AccountState, Positions]:
        """The account's state and read positions: its unsaved change if it has one, else
        decoded from the value `load` returns (through the cache), else a new state."""
        entry = self.pending.get(account_id) or self.flushing.get(account_id)
        if entry is not None:
            return entry.state, entry.positions
        value = load(account_id)
        if value is None:
            return scoring.new_state(account_id), NO_POSITIONS
        cached = self.cache.get(account_id, value)
        if cached is not None:
            return cached.state, cached.positions
        positions, blob = unpack_value(value)
        return scoring.AccountState.from_bytes(blob), positions

    def accounts_of(self, partition: int) -> list[str]:
        """The accounts of input `partition`, sorted: those whose table value names it, and
        the unsaved states of the partition."""
        found = {
            key.decode()
            for key, value in list(self.table.items())
            if partition_of(value) == partition
        }
        for unsaved in (self.pending, self.flushing):
            found.update(a for a, e in unsaved.items() if e.partition == partition)
        return sorted(found)

    # changing

    def hold(self, account_id: str, entry: Pending) -> None:
        """A changed state, saved by the next flush; until then it is what `get` returns."""
        self.pending[account_id] = entry

    @property
    def unsaved(self) -> int:
        return len(self.pending) + len(self.flushing)

    def discard(self, partitions: set[int]) -> int:
        """Drop unsaved states of accounts in `partitions` (revoked: another worker owns
        them now, from the committed offsets and the changelog). Returns how many."""
        gone = [a for a, e in self.pending.items() if e.partition in partitions]
        for account_id in gone:
            del self.pending[account_id]
        return len(gone)

    # saving

    def begin_flush(self) -> dict[str, Pending]:
        """Move the unsaved states aside to be saved (`write` each, then `end_flush`);
        until then they are still what `get` returns, newer changes taking precedence."""
        if self.flushing:
            raise RuntimeError("a flush is already in progress")
        self.flushing, self.pending = self.pending, {}
        return self.flushing

    def end_flush(self) -> None:
        self.flushing = {}

    def pack(self, account_id: str, entry: Pending) -> bytes:
        """The table value of a state being saved (and the cache entry for it): the
        caller writes it to the table before anything else runs."""
        value = pack_value(entry.positions, entry.state.to_bytes())
        self.cache.put(account_id, _Cached(value, entry.state, entry.positions))
        return value

    def write(self, account_id: str, entry: Pending) -> tuple[bytes, bytes]:
        """Pack a state being saved and write it to the table's store; its key and value,
        for `send_changelog`."""
        key = account_id.encode()
        value = self.pack(account_id, entry)
        self.table[key] = value
        return key, value

    async def send_changelog(self, key: bytes, value: bytes, partition: int) -> asyncio.Future[Any]:
        """Send the changelog record of a value written: the record's delivery future."""
        assert self.send is not None, "a store without a changelog sends nothing"
        return await self.send(self.changelog_topic, key, value, partition)

    def save_pending(self, save: SaveState) -> int:
        """Save every unsaved state now with `save`, synchronously and without a changelog
        (tests, the bench; the worker saves through `streams.state_flush`). Returns how
        many."""
        entries = self.begin_flush()
        try:
            for account_id, entry in entries.items():
                save(account_id, self.pack(account_id, entry))
        finally:
            self.end_flush()
        return len(entries)
