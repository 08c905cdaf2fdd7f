"""Batched, back-pressured ClickHouse writes from one background thread.

Rows are buffered per table and written when a table holds `batch_rows` rows
or its oldest row is `flush_seconds` old, never one row at a time. A failed
insert keeps its rows and is retried with exponential backoff (no insert is
tried before the backoff has passed, whatever wakes the thread); while rows
pile up beyond `max_pending_rows`, `wait_for_capacity()` makes the agent wait
(back-pressure) instead of dropping anything.

Nothing can wedge it:

* A batch of a monthly-partitioned table (`rows.MONTHLY_PARTITIONS`) is split
  by month so that no insert spans more than `max_partitions_per_insert`
  months: ClickHouse refuses an insert over `max_partitions_per_insert_block`
  (100) partitions, whatever the time range of the rows.
* An error that is transient (`client.is_transient`: the server is away,
  overloaded, or its schema not migrated yet) is retried for as long as it
  takes. An error against the rows themselves is retried `max_attempts` times
  in all; then the refused insert is bisected, the rows ClickHouse takes are
  written, and each row it refuses on its own goes to the `dead_letter_rows`
  table with the error, instead of the batch being retried forever.
* `give_up_at(deadline)` (the worker's shutdown budget) ends the writing at
  that moment even in an outage: `abandoned` is then true, `flush`,
  `wait_for_capacity` and `stop` return at once, and whatever waits for rows
  to be written (the state flush before a commit, `streams.state_flush`) stops
  waiting without committing.

A batch is finished (its rows counted as written) only when every row of it
is written or dead-lettered; a batch cut short by a transient error is
retried first, alone, so each table's rows are finished in the order they
were queued (see `covers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from streams.clickhouse.client import ClickHouse, InsertError
from streams.clickhouse.rows import DEAD_LETTER_ROW_COLUMNS, MONTHLY_PARTITIONS
from streams.errors import ClickHouseError

log = logging.getLogger(__name__)


DEAD_LETTER_TABLE = "dead_letter_rows"
Row = Sequence[Any]


class RowsAbandoned(ClickHouseError):
    """The writer gave up (shutdown budget spent) with rows unwritten."""


@dataclass
class _Buffer:
    columns: tuple[str, ...]
    rows: list[Row] = field(default_factory=list)
    since: float = 0.0
    inflight: list[Row] | None = None
    """The rows of the batch being written that are not written yet."""
    inflight_size: int = 0
    """How many rows that batch had when it was taken from `rows`."""
    refusals: int = 0
    """Consecutive inserts of this table refused for their rows (not transient)."""


@dataclass
class WriterStats:
    rows_written: int = 0
    batches_written: int = 0
    failures: int = 0
    last_error: str | None = None
    inserts: int = 0
    rows_dead_lettered: int = 0
    rows_dropped: int = 0
    """Refused rows whose dead-letter row was refused too (logged; never expected)."""


class _Interrupted(Exception):
    """A transient error (or the deadline) stopped a batch half-way: `rows` remain."""

    def __init__(self, rows: list[Row], error: InsertError | None) -> None:
        super().__init__()
        self.rows = rows
        self.error = error


class ClickHouseWriter:
    def __init__(
        self,
        ch: ClickHouse,
        *,
        batch_rows: int = 5000,
        flush_seconds: float = 1.0,
        max_pending_rows: int = 200_000,
        max_backoff_seconds: float = 30.0,
        max_attempts: int = 3,
        max_partitions_per_insert: int = 50,
        monthly_partitions: Mapping[str, str] = MONTHLY_PARTITIONS,
    ) -> None:
        if max_attempts < 1 or not 1 <= max_partitions_per_insert <= 100:
            raise ValueError("max_attempts >= 1 and 1 <= max_partitions_per_insert <= 100")
        self.ch = ch
        self.batch_rows = batch_rows
        self.flush_seconds = flush_seconds
        self.max_pending_rows = max_pending_rows
        self.max_backoff_seconds = max_backoff_seconds
        self.max_attempts = max_attempts
        self.max_partitions_per_insert = max_partitions_per_insert
        self.monthly_partitions = dict(monthly_partitions)
        self.stats = WriterStats()
        self._buffers: dict[str, _Buffer] = {}
        self._pending = 0
        self._cond = threading.Condition()
        self._closing = False
        self._abandon = False  # stop() or the deadline gave up: exit even with rows pending
        self._deadline: float | None = None  # give_up_at (monotonic)
        self._retry_at = 0.0  # after a failure, no insert before this (monotonic)
        # rows ever queued and finished (written or dead-lettered) per table: each table's
        # rows are finished in the order they were queued, so finished >= a past `added`
        # snapshot means all of that snapshot's rows are in ClickHouse (see `covers`)
        self._added: dict[str, int] = {}
        self._written: dict[str, int] = {}
        self._thread: threading.Thread | None = None

    # --- producer side (any thread, including the event loop) ----------------

    def add(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
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

    @property
    def abandoned(self) -> bool:
        """Whether the writer gave up: rows still pending will not be written."""
        if not self._abandon and self._deadline is not None and time.monotonic() >= self._deadline:
            self._abandon = True
        return self._abandon

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
        """Back-pressure: wait while more than `max_pending_rows` rows are unwritten (not
        once the writer has given up: nothing would ever end the wait)."""
        while self._pending > self.max_pending_rows and not self.abandoned:
            await asyncio.sleep(poll_seconds)

    def flush(self, timeout: float = 30.0) -> bool:
        """Ask for everything to be written now; wait until it is (True), the timeout
        passes or the writer gives up (False)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            for buffer in self._buffers.values():
                buffer.since = 0.0
            self._cond.notify()
            while self._pending and time.monotonic() < deadline and not self.abandoned:
                self._cond.wait(min(0.05, max(0.0, deadline - time.monotonic())))
                self._cond.notify()
            return self._pending == 0

    # --- lifecycle -----------------------------------------------------------

    def start(self) -> ClickHouseWriter:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="clickhouse-writer", daemon=True)
            self._thread.start()
        return self

    def give_up_at(self, deadline: float) -> None:
        """Write what can be written until `deadline` (monotonic), then give up (see the
        module docstring). An earlier deadline wins."""
        with self._cond:
            if self._deadline is None or deadline < self._deadline:
                self._deadline = deadline
            for buffer in self._buffers.values():
                buffer.since = 0.0
            self._cond.notify_all()

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is pending (up to `timeout`), then stop the thread."""
        if self._thread is None:
            return
        drained = self.flush(timeout)
        with self._cond:
            self._closing = True
            self._abandon = self._abandon or not drained
            self._cond.notify()
        self._thread.join(timeout=5)
        self._thread = None
        if not drained:
            log.error("ClickHouse writer stopped with %d rows unwritten", self._pending)

    # --- the writer thread ---------------------------------------------------

    def _due(self, now: float) -> tuple[str, _Buffer] | None:
        if self.abandoned or now < self._retry_at:
            return None
        for table, buffer in self._buffers.items():
            if buffer.inflight:
                return table, buffer
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
                while due is None and not (self.abandoned or (self._closing and not self._pending)):
                    wait = min(0.1, self.flush_seconds)
                    if self._retry_at:
                        wait = min(wait, max(0.001, self._retry_at - time.monotonic()))
                    self._cond.wait(timeout=wait)
                    due = self._due(time.monotonic())
                if due is None:
                    self._cond.notify_all()  # whoever waits on the writer: it gave up
                    return
                table, buffer = due
                if buffer.inflight is None:  # a long outage is caught up in batches
                    buffer.inflight = buffer.rows[: self.batch_rows]
                    buffer.inflight_size = len(buffer.inflight)
                    del buffer.rows[: self.batch_rows]
                rows = buffer.inflight
            try:
                self._write(table, buffer, rows)
            except _Interrupted as stopped:
                with self._cond:
                    buffer.inflight = stopped.rows
                    if stopped.error is None:  # the deadline passed
                        continue
                    self.stats.failures += 1
                    self.stats.last_error = str(stopped.error)
                    backoff = min(self.max_backoff_seconds, max(0.2, backoff * 2))
                    self._retry_at = time.monotonic() + backoff
                kind = "failed" if stopped.error.transient else "was refused"
                log.warning("insert into %s %s (%s); retrying in %.1fs",
                            table, kind, stopped.error, backoff)  # fmt: skip
                continue
            backoff = 0.0
            with self._cond:
                done = buffer.inflight_size
                buffer.inflight, buffer.inflight_size = None, 0
                self._retry_at = 0.0
                self._written[table] = self._written.get(table, 0) + done
                self._pending -= done
                self.stats.batches_written += 1
                self._cond.notify_all()

    def _write(self, table: str, buffer: _Buffer, rows: list[Row]) -> None:
        """Write `rows` (one batch, or what is left of it): each month group in an insert
        of its own; a group refused `max_attempts` times is bisected (`_isolate`). Raises
        `_Interrupted` with the rows not written yet."""
        groups = self._month_groups(table, buffer.columns, rows)
        for i, group in enumerate(groups):
            if self.abandoned:
                raise _Interrupted(_flat(groups[i:]), None)
            try:
                self._insert(table, buffer.columns, group)
            except InsertError as exc:
                if exc.transient:
                    raise _Interrupted(_flat(groups[i:]), exc) from None
                buffer.refusals += 1
                if buffer.refusals < self.max_attempts:
                    raise _Interrupted(_flat(groups[i:]), exc) from None
                buffer.refusals = 0
                try:
                    self._isolate(table, buffer.columns, group, exc)
                except _Interrupted as stopped:
                    rest = stopped.rows + _flat(groups[i + 1 :])
                    raise _Interrupted(rest, stopped.error) from None
            buffer.refusals = 0

    def _isolate(
        self, table: str, columns: tuple[str, ...], rows: list[Row], error: InsertError
    ) -> None:
        """`rows` were refused `max_attempts` times: write them in halves, halving again what
        is refused, down to single rows, which go to the dead-letter table with their own
        error. Raises `_Interrupted` (with the rows not written yet) on a transient error."""
        log.error("insert of %d rows into %s refused %d times (%s): looking for the rows "
                  "it refuses", len(rows), table, self.max_attempts, error)  # fmt: skip
        work: deque[tuple[list[Row], InsertError | None]] = deque([(rows, error)])
        while work:
            part, refused = work[0]
            if self.abandoned:
                raise _Interrupted(_flat(p for p, _ in work), None)
            if refused is None:
                try:
                    self._insert(table, columns, part)
                    work.popleft()
                    continue
                except InsertError as exc:
                    if exc.transient:
                        raise _Interrupted(_flat(p for p, _ in work), exc) from None
                    refused = exc
            work.popleft()
            if len(part) > 1:
                middle = len(part) // 2
                work.extendleft([(part[middle:], None), (part[:middle], None)])
                continue
            try:
                self._dead_letter(table, columns, part[0], refused)
            except InsertError as exc:
                if exc.transient:
                    work.appendleft((part, refused))
                    raise _Interrupted(_flat(p for p, _ in work), exc) from None
                self.stats.rows_dropped += 1
                dropped = _row_json(columns, part[0])[:2000]
                log.critical("a row refused by %s could not be dead-lettered either (%s); "
                             "dropped: %s", table, exc, dropped)  # fmt: skip

    def _insert(self, table: str, columns: tuple[str, ...], rows: list[Row]) -> None:
        self.stats.inserts += 1
        self.ch.insert(table, rows, columns)
        self.stats.rows_written += len(rows)

    def _dead_letter(
        self, table: str, columns: tuple[str, ...], row: Row, error: InsertError
    ) -> None:
        record = [datetime.now(UTC), table, _row_json(columns, row), str(error)[:10_000],
                  error.code, self.max_attempts]  # fmt: skip
        self.ch.insert(DEAD_LETTER_TABLE, [record], DEAD_LETTER_ROW_COLUMNS)
        self.stats.rows_dead_lettered += 1
        log.error("a row of %s refused by ClickHouse went to %s: %s",
                  table, DEAD_LETTER_TABLE, error)  # fmt: skip

    def _month_groups(
        self, table: str, columns: tuple[str, ...], rows: list[Row]
    ) -> list[list[Row]]:
        """`rows` in groups of at most `max_partitions_per_insert` months of the table's
        partition column (one group, as they are, when they span few enough months)."""
        column = self.monthly_partitions.get(table)
        if column is None or column not in columns:
            return [rows]
        at = columns.index(column)
        by_month: dict[tuple[int, int], list[Row]] = {}
        for row in rows:
            by_month.setdefault(_month(row[at]), []).append(row)
        if len(by_month) <= self.max_partitions_per_insert:
            return [rows]
        months = sorted(by_month)
        step = self.max_partitions_per_insert
        return [
            [row for month in months[i : i + step] for row in by_month[month]]
            for i in range(0, len(months), step)
        ]


def _month(value: object) -> tuple[int, int]:
    """The partition a DateTime64(3, 'UTC') value goes to: (year, month) in UTC. Anything
    but a datetime counts as one month (0, 0): ClickHouse refuses or converts it, and a
    refused insert is bisected anyway."""
    if not isinstance(value, datetime):
        return (0, 0)
    if value.tzinfo is not None:
        with contextlib.suppress(OverflowError, ValueError):
            value = value.astimezone(UTC)
    return (value.year, value.month)


def _flat(groups: Any) -> list[Row]:
    return [row for group in groups for row in group]


def _row_json(columns: Sequence[str], row: Row) -> str:
    """A row as a JSON object of column -> value (datetimes in ISO 8601, NaN as null)."""
    record = dict(zip(columns, row, strict=False))
    try:
        return orjson.dumps(record, default=repr, option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError):
        return orjson.dumps({k: repr(v) for k, v in record.items()}).decode()
