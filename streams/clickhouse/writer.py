"""Batched, back-pressured ClickHouse writes from one background thread.

Rows are buffered per table and written when a table holds `batch_rows` rows
or its oldest row is `flush_seconds` old, never one row at a time. A failed
insert keeps its rows and is retried with exponential backoff (no insert is
tried before the backoff has passed, whatever wakes the thread); while rows
pile up beyond `max_pending_rows`, `wait_for_capacity()` makes the agent wait
(back-pressure) instead of dropping anything.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.clickhouse.client import ClickHouse
from streams.errors import ClickHouseError

log = logging.getLogger(__name__)


@dataclass
class _Buffer:
    columns: tuple[str, ...]
    rows: list[Sequence[Any]] = field(default_factory=list)
    since: float = 0.0


@dataclass
class WriterStats:
    rows_written: int = 0
    batches_written: int = 0
    failures: int = 0
    last_error: str | None = None


class ClickHouseWriter:
    def __init__(
        self,
        ch: ClickHouse,
        *,
        batch_rows: int = 5000,
        flush_seconds: float = 1.0,
        max_pending_rows: int = 200_000,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        self.ch = ch
        self.batch_rows = batch_rows
        self.flush_seconds = flush_seconds
        self.max_pending_rows = max_pending_rows
        self.max_backoff_seconds = max_backoff_seconds
        self.stats = WriterStats()
        self._buffers: dict[str, _Buffer] = {}
        self._pending = 0
        self._cond = threading.Condition()
        self._closing = False
        self._abandon = False  # stop() gave up waiting: exit even with rows pending
        self._retry_at = 0.0  # after a failure, no insert before this (monotonic)
        # rows ever queued and written per table: each table's rows are written in the
        # order they were queued, so written >= a past `added` snapshot means all of
        # that snapshot's rows are in ClickHouse (see `covers`)
        self._added: dict[str, int] = {}
        self._written: dict[str, int] = {}
        self._thread: threading.Thread | None = None

    # --- producer side (any thread, including the event loop) ----------------

    def add(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Queue rows for `table`; returns at once."""
        if not rows:
            return
        with self._cond:
            buffer = self._buffers.get(table)
            if buffer is None:
                buffer = self._buffers[table] = _Buffer(tuple(columns))
            elif buffer.columns != tuple(columns):
                raise ClickHouseError(f"{table}: rows queued with two different column lists")
            if not buffer.rows:
                buffer.since = time.monotonic()
            buffer.rows.extend(rows)
            self._pending += len(rows)
            self._added[table] = self._added.get(table, 0) + len(rows)
            if len(buffer.rows) >= self.batch_rows:
                self._cond.notify()

    @property
    def pending_rows(self) -> int:
        return self._pending

    def snapshot(self) -> dict[str, int]:
        """Rows queued so far per table: pass to `covers` later."""
        return dict(self._added)

    def covers(self, snapshot: dict[str, int]) -> bool:
        """Whether every row queued before `snapshot` was taken is written."""
        written = self._written
        return all(written.get(table, 0) >= n for table, n in snapshot.items())

    def nudge(self) -> None:
        """Write what is queued now rather than at the next flush interval; returns at once."""
        with self._cond:
            for buffer in self._buffers.values():
                buffer.since = 0.0
            self._cond.notify()

    async def wait_for_capacity(self, poll_seconds: float = 0.05) -> None:
        """Back-pressure: wait while more than `max_pending_rows` rows are unwritten."""
        while self._pending > self.max_pending_rows:
            await asyncio.sleep(poll_seconds)

    def flush(self, timeout: float = 30.0) -> bool:
        """Ask for everything to be written now; wait until it is (True) or timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            for buffer in self._buffers.values():
                buffer.since = 0.0
            self._cond.notify()
            while self._pending and time.monotonic() < deadline:
                self._cond.wait(min(0.05, max(0.0, deadline - time.monotonic())))
                self._cond.notify()
            return self._pending == 0

    # --- lifecycle -----------------------------------------------------------

    def start(self) -> ClickHouseWriter:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="clickhouse-writer", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is pending (up to `timeout`), then stop the thread."""
        if self._thread is None:
            return
        drained = self.flush(timeout)
        with self._cond:
            self._closing = True
            self._abandon = not drained
            self._cond.notify()
        self._thread.join(timeout=5)
        self._thread = None
        if not drained:
            log.error("ClickHouse writer stopped with %d rows unwritten", self._pending)

    # --- the writer thread ---------------------------------------------------

    def _due(self, now: float) -> tuple[str, _Buffer] | None:
        if self._abandon or now < self._retry_at:
            return None
        for table, buffer in self._buffers.items():
            if buffer.rows and (
                len(buffer.rows) >= self.batch_rows or now - buffer.since >= self.flush_seconds
            ):
                return table, buffer
        return None

    def _run(self) -> None:
        backoff = 0.0
        while True:
            with self._cond:
                due = self._due(time.monotonic())
                while due is None and not (self._abandon or (self._closing and not self._pending)):
                    wait = min(0.1, self.flush_seconds)
                    if self._retry_at:
                        wait = min(wait, max(0.001, self._retry_at - time.monotonic()))
                    self._cond.wait(timeout=wait)
                    due = self._due(time.monotonic())
                if due is None:
                    return
                table, buffer = due
                batch = buffer.rows[: self.batch_rows]  # a long outage is caught up in batches
                del buffer.rows[: self.batch_rows]
            try:
                self.ch.insert(table, batch, buffer.columns)
            except ClickHouseError as exc:
                self.stats.failures += 1
                self.stats.last_error = str(exc)
                backoff = min(self.max_backoff_seconds, max(0.2, backoff * 2))
                log.warning("insert into %s failed (%s); retrying in %.1fs", table, exc, backoff)
                with self._cond:
                    buffer.rows[:0] = batch
                    buffer.since = time.monotonic() - self.flush_seconds
                    self._retry_at = time.monotonic() + backoff
                continue
            backoff = 0.0
            with self._cond:
                self._retry_at = 0.0
                self._written[table] = self._written.get(table, 0) + len(batch)
                self._pending -= len(batch)
                self.stats.rows_written += len(batch)
                self.stats.batches_written += 1
                self._cond.notify_all()
