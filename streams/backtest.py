"""`healthscore backtest`: one or two configs over a file of events, in bounded memory.

    input --(split: N processes, each a byte range; decode, check, shard by account)-->
        time-sorted run files per shard (external sort, `chunk_bytes` of records each;
        the records are the decoded events, packed: `pack_event`)
    --(score: N processes, each the k-way merge of its shard's runs, one day of event
       time per step)--> daily closes, transitions, alerts, churn examples
    --(parent: merges each day by account id, one churn learner per config fed the
       day's examples in (snapshot_ts, account_id) order, a refitted model broadcast
       with the next day)--> JSONL files or ClickHouse tables, and the comparison

While the parent learns from a day, each process already scores the next one with
the model it has, and scores it again if the parent's next command brings a refit
(`_Shard.run_ahead`): a process waits only when it is a whole day ahead of the
slowest one, or after a day that brought a refit.

Accounts are independent, so they are sharded by a stable hash of the account
id; the churn learner is one per config and learns in event-time order. Every
output is ordered by (day, account id, the account's own event order), so
the outputs depend on the input and the configs only, never on the number of
processes. Memory is bounded by the run buffers and by the accounts (their
states, latest closes and observation points), not by the events.

Every live account is ticked at each day boundary of the file's event time,
as `score-file` does (`streams.clock`; docs/scoring.md, "The clock").

What is written, per config (`base` and, with `--compare`, `compare`):
the daily close of every account on every day it has events or a tick (its
score after the last event of that day, or the tick's), every transition
and alert, and the churn track record of the learned model at the end. The
model changes once per day of event time (the day's examples are learned
after the day), where
`score-file` learns after each event.

A record is bad when it cannot be decoded, is more than
`ingest.max_future_skew_hours` ahead of `--now`, or is refused while scoring
(too late, or any exception) under either config; bad records are counted,
sampled with their line number, and make the exit status 1 unless
`--max-bad` allows them.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import heapq
import itertools
import os
import pickle
import shutil
import struct
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson

import scoring
from schemas.decode import decode_event, validate_event
from schemas.errors import DeadLetterReason, DecodeError
from schemas.events import MODEL_BY_TYPE, Event
from scoring.decay import DAY
from streams import backtest_report as report
from streams.clock import is_live
from streams.errors import StreamsError
from streams.extras import require
from streams.score_file import (
    MAX_BAD_SAMPLES,
    BadLine,
    MaxBad,
    _clean_row,
    _unexpected,
    bad_verdict,
    check_input_file,
    check_output_dir,
    parse_max_bad,
    parse_now,
)

DAY_US = 86_400_000_000
SIDES = ("base", "compare")
CHUNK_BYTES = 32 * 1024 * 1024
PROGRESS_LINES = 50_000
_HEADER = struct.Struct("<qiiI")  # ts in µs, range, line in range, payload length
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def make_learner(config: scoring.ScoringConfig) -> scoring.ChurnLearner:
    """The churn learner of one config: the deployment's own (`scoring.ChurnLearner`)."""
    return scoring.ChurnLearner(config)


def shard_of(account_id: str, shards: int) -> int:
    """The process that scores an account: stable across runs and machines. A keyed
    BLAKE2b, not a CRC: a sample of accounts taken by `crc32(id) % 4 == 0` would
    otherwise land in one shard of two."""
    digest = hashlib.blake2b(account_id.encode(), digest_size=8, key=b"healthscore-shard").digest()
    return int.from_bytes(digest, "little") % shards


def _ts_us(ts: datetime) -> int:
    return (ts - _EPOCH) // timedelta(microseconds=1)


# ---------------------------------------------------------------------------- split


def _jsonl_range(path: Path, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(line number within the range, line) of the lines that begin in [start, end)."""
    with path.open("rb") as f:
        if start > 0:
            f.seek(start - 1)
            f.readline()  # the rest of the line that began before `start`
        pos = f.tell()
        number = 0
        while pos < end:
            line = f.readline()
            if not line:
                break
            number += 1
            pos += len(line)
            yield number, line


_EVENT_CLASSES: tuple[type[Any], ...] = tuple(dict.fromkeys(MODEL_BY_TYPE.values()))
_CLASS_INDEX = {cls: i for i, cls in enumerate(_EVENT_CLASSES)}
_FIELD_NAMES = tuple(tuple(cls.model_fields) for cls in _EVENT_CLASSES)
_FIELDS_SET: dict[tuple[int, int], frozenset[str]] = {}
_US = timedelta(microseconds=1)
_MISSING = object()
_set = object.__setattr__


def pack_event(event: Event) -> bytes:
    """A decoded event as run-file bytes that `unpack_event` turns back into an equal event
    (same class, field values and types, fields set) without validating it again: the
    split phase validated it, and validating costs about as much as the scoring step's
    overheads together. Datetimes travel as µs since the epoch (UTC, as the decoder
    leaves them). An event the compact form cannot carry is pickled whole."""
    index = _CLASS_INDEX.get(type(event))
    values = event.__dict__
    if (
        index is None
        or event.__pydantic_extra__ is not None
        or event.__pydantic_private__ is not None
        or len(values) != len(_FIELD_NAMES[index])
    ):
        return b"O" + pickle.dumps(event, protocol=5)
    names = _FIELD_NAMES[index]
    row: list[Any] = []
    times = 0
    for i, name in enumerate(names):
        value = values.get(name, _MISSING)
        if value is _MISSING:
            return b"O" + pickle.dumps(event, protocol=5)
        if type(value) is datetime:
            if value.tzinfo is not UTC:
                return b"O" + pickle.dumps(event, protocol=5)
            times |= 1 << i
            value = (value - _EPOCH) // _US
        row.append(value)
    given = event.__pydantic_fields_set__
    mask = sum(1 << i for i, name in enumerate(names) if name in given)
    return b"C" + pickle.dumps((index, times, mask, row), protocol=5)


def unpack_event(payload: bytes) -> Event:
    """The event `pack_event` packed."""
    if payload[:1] != b"C":
        return pickle.loads(payload[1:])  # type: ignore[no-any-return]
    index, times, mask, row = pickle.loads(payload[1:])
    cls = _EVENT_CLASSES[index]
    names = _FIELD_NAMES[index]
    if times:
        for i in range(len(row)):
            if times >> i & 1:
                row[i] = _EPOCH + timedelta(microseconds=row[i])
    given = _FIELDS_SET.get((index, mask))
    if given is None:
        given = _FIELDS_SET[index, mask] = frozenset(
            name for i, name in enumerate(names) if mask >> i & 1
        )
    event = cls.__new__(cls)
    _set(event, "__dict__", dict(zip(names, row, strict=True)))
    _set(event, "__pydantic_fields_set__", set(given))
    _set(event, "__pydantic_extra__", None)
    _set(event, "__pydantic_private__", None)
    return event  # type: ignore[no-any-return]


def _records(path: Path, kind: str, spec: tuple[int, int]) -> Iterator[tuple[int, Any]]:
    """(line or row number in the range, event or DecodeError, or None for a blank line)."""
    if kind == "jsonl":
        for number, line in _jsonl_range(path, *spec):
            if not line.strip():
                yield number, None
                continue
            try:
                yield number, decode_event(line)
            except DecodeError as exc:
                yield number, exc
            except Exception as exc:  # one record never stops the run
                yield number, _unexpected(exc)
        return
    import pyarrow.parquet as pq

    first, last = spec
    number = 0
    if first >= last:
        return
    for batch in pq.ParquetFile(path).iter_batches(row_groups=list(range(first, last))):
        for row in batch.to_pylist():
            number += 1
            try:
                yield number, validate_event(_clean_row(row))
            except DecodeError as exc:
                yield number, exc
            except Exception as exc:  # one record never stops the run
                yield number, _unexpected(exc)


def _write_run(path: Path, records: list[tuple[int, int, int, bytes]]) -> None:
    records.sort()
    with path.open("wb", buffering=1 << 20) as f:
        pack = _HEADER.pack
        for ts, rng, line, payload in records:
            f.write(pack(ts, rng, line, len(payload)))
            f.write(payload)


def _read_run(path: Path) -> Iterator[tuple[int, int, int, bytes]]:
    size = _HEADER.size
    unpack = _HEADER.unpack
    with path.open("rb", buffering=1 << 18) as f:
        while True:
            head = f.read(size)
            if not head:
                return
            ts, rng, line, n = unpack(head)
            yield ts, rng, line, f.read(n)


def _split(
    conn: Connection,
    path: Path,
    kind: str,
    rng: int,
    spec: tuple[int, int],
    shards: int,
    chunk_bytes: int,
    tmp: Path,
    latest_us: int,
    skew_hours: float,
) -> dict[str, Any]:
    buffers: list[list[tuple[int, int, int, bytes]]] = [[] for _ in range(shards)]
    runs: list[list[str]] = [[] for _ in range(shards)]
    held = 0
    lines = good = bad = 0
    samples: list[tuple[int, str, str, str | None]] = []
    flushes = 0

    def flush() -> None:
        nonlocal held, flushes
        for shard, buffer in enumerate(buffers):
            if buffer:
                run = tmp / f"run-{rng}-{flushes}-{shard}.bin"
                _write_run(run, buffer)
                runs[shard].append(str(run))
                buffers[shard] = []
        flushes += 1
        held = 0

    for number, item in _records(path, kind, spec):
        lines = number
        if number % PROGRESS_LINES == 0:
            conn.send(("progress", rng, number))
        if item is None:
            continue
        if isinstance(item, DecodeError):
            bad += 1
            if len(samples) < MAX_BAD_SAMPLES:
                samples.append((number, item.reason.value, item.detail[:200], item.field))
            continue
        ts = _ts_us(item.ts)
        if ts > latest_us:
            bad += 1
            if len(samples) < MAX_BAD_SAMPLES:
                detail = (
                    f"event time {item.ts.isoformat()} is more than {skew_hours:g} hours ahead "
                    "of the file's clock (--now; ingest.max_future_skew_hours)"
                )
                samples.append((number, DeadLetterReason.FROM_FUTURE.value, detail, "ts"))
            continue
        payload = pack_event(item)
        good += 1
        buffers[shard_of(item.account_id, shards)].append((ts, rng, number, payload))
        held += len(payload) + 120
        if held >= chunk_bytes:
            flush()
    flush()
    return {"lines": lines, "good": good, "bad": bad, "samples": samples, "runs": runs}


# ---------------------------------------------------------------------------- score


def _tick_accounts(
    states: dict[str, scoring.AccountState],
    ts: float,
    config: scoring.ScoringConfig,
    model: scoring.ChurnModel,
) -> Iterator[scoring.StepResult]:
    """`streams.clock.tick_accounts` without building the ScoreRecords: a step that
    re-evaluated nothing is a duplicate (`StepResult.duplicate`, whose score is None), and
    the score of a tick is built only when it is an account's close of the day."""
    for account, state in list(states.items()):
        if not is_live(state):
            continue
        step = scoring.tick(state, ts, config, model)
        if step.duplicate:
            continue
        states[account] = step.state
        yield step


class _Shard:
    """One process's accounts under each config, fed one day of event time at a time."""

    def __init__(
        self,
        runs: Sequence[str],
        config_paths: Sequence[str | None],
        clickhouse: bool,
        ahead: bool = False,
    ) -> None:
        self.configs = [scoring.load_config(Path(p) if p else None) for p in config_paths]
        self.models = [scoring.default_churn_model(c) for c in self.configs]
        self.states: list[dict[str, scoring.AccountState]] = [{} for _ in self.configs]
        self.clickhouse = clickhouse
        self.records = heapq.merge(*(_read_run(Path(r)) for r in runs))
        self.next = next(self.records, None)
        self.applied = [0] * len(self.configs)
        self.duplicates = [0] * len(self.configs)
        self.bad = 0
        self.samples: list[tuple[int, int, str, str, str | None]] = []
        self.clock_day: int | None = None
        """The last day sent: the file's event time has crossed its start."""
        self.ahead = ahead
        """Score the next day while the parent learns (`run_ahead`)."""
        self._taken: list[tuple[int, int, int, bytes]] | None = None
        self._ahead: tuple[int, dict[str, Any], tuple[Any, ...]] | None = None

    def next_day(self) -> int | None:
        return None if self.next is None else self.next[0] // DAY_US

    def _refuse(self, rng: int, line: int, side: int, error: DecodeError) -> None:
        if len(self.samples) < MAX_BAD_SAMPLES:
            detail = f"{SIDES[side]} config: {error.detail[:200]}"
            self.samples.append((rng, line, error.reason.value, detail, error.field))

    def day(self, day: int, models: Sequence[scoring.ChurnModel | None]) -> dict[str, Any]:
        """The outputs of `day`, scored with `models` (None: the model this process has)."""
        if self._ahead is not None:
            ahead_day, result, _undo = self._ahead
            if ahead_day == day and all(m is None for m in models):
                self._ahead = None
                return result
            self.undo_ahead()
        for side, model in enumerate(models):
            if model is not None:
                self.models[side] = model
        return self._day(day)

    def run_ahead(self) -> None:
        """Score the next day now, with the models this process has, while the parent
        learns from the day just sent: with `ahead`, the parent sends a model only when
        a refit changed it, so the day is kept when the parent's next command brings none
        and undone (`undo_ahead`) when it brings one. The model a refit did not change
        differs only in its track record, which scoring does not read."""
        if not self.ahead or self.next is None or self.clock_day is None:
            return
        undo = (
            [dict(states) for states in self.states],
            self.clock_day,
            list(self.applied),
            list(self.duplicates),
            self.bad,
            len(self.samples),
            self.next,
        )
        self._taken = []
        try:
            result = self._day(self.clock_day + 1)
        finally:
            taken, self._taken = self._taken, None
        self._ahead = (self.clock_day, result, (*undo, taken))

    def undo_ahead(self) -> None:
        """Forget the day scored ahead: the states, counts and records as before it."""
        if self._ahead is None:
            return
        _day, _result, undo = self._ahead
        self._ahead = None
        states, self.clock_day, self.applied, self.duplicates, self.bad, samples, first, taken = (
            undo
        )
        self.states = states
        del self.samples[samples:]
        if taken:
            rest = [*taken[1:], *([self.next] if self.next is not None else [])]
            self.records = itertools.chain(rest, self.records)
        self.next = first

    def _day(self, day: int) -> dict[str, Any]:
        sides = range(len(self.configs))
        last: list[dict[str, scoring.StepResult]] = [{} for _ in sides]
        examples: list[list[scoring.LabelledExample]] = [[] for _ in sides]
        transitions: list[list[tuple[str, Any, str]]] = [[] for _ in sides]
        alerts: list[list[tuple[str, Any, str, str]]] = [[] for _ in sides]
        # the clock (streams.clock), as in score-file: every live account is ticked at each
        # day boundary the file's event time crossed since the last day, before the day's
        # events (the parent sends every day from the file's first to its last)
        since = day if self.clock_day is None else self.clock_day
        for boundary in range(since + 1, day + 1):
            for side in sides:
                for step in _tick_accounts(
                    self.states[side], boundary * DAY, self.configs[side], self.models[side]
                ):
                    account = step.state.account_id
                    last[side][account] = step
                    examples[side].extend(step.examples)
                    for t in step.transitions:
                        transitions[side].append((account, self._row(t), t.kind))
                    for a in step.alerts:
                        alerts[side].append((account, self._row(a), a.kind, a.ts.strftime("%Y-%m")))
        self.clock_day = day
        end = (day + 1) * DAY_US
        events = 0
        process = scoring.process
        taken = self._taken
        while self.next is not None and self.next[0] < end:
            _ts, rng, line, payload = self.next
            if taken is not None:
                taken.append(self.next)
            self.next = next(self.records, None)
            events += 1
            try:
                event = unpack_event(payload)
            except Exception as exc:  # decoded once already: cannot happen, but never stops
                self.bad += 1
                self._refuse(rng, line, 0, _unexpected(exc))
                continue
            account = event.account_id
            refused = False
            for side in sides:
                try:
                    step = process(
                        self.states[side].get(account), event, self.configs[side], self.models[side]
                    )
                except scoring.TooLateError:
                    if not refused:
                        detail = (
                            "older than the allowed lateness behind this account's newest event"
                        )
                        self._refuse(
                            rng, line, side, DecodeError(DeadLetterReason.TOO_LATE, detail, "ts")
                        )
                    refused = True
                    continue
                except Exception as exc:  # one event never stops the run
                    if not refused:
                        self._refuse(rng, line, side, _unexpected(exc))
                    refused = True
                    continue
                if step.duplicate:
                    self.duplicates[side] += 1
                    continue
                self.applied[side] += 1
                self.states[side][account] = step.state
                last[side][account] = step
                if step.examples:
                    examples[side].extend(step.examples)
                for t in step.transitions:
                    transitions[side].append((account, self._row(t), t.kind))
                for a in step.alerts:
                    alerts[side].append((account, self._row(a), a.kind, a.ts.strftime("%Y-%m")))
            self.bad += refused
        closes: list[list[tuple[str, Any, report.Close]]] = []
        for side in sides:
            side_closes = []
            for account in sorted(last[side]):
                score = last[side][account].score
                assert score is not None
                side_closes.append((account, self._row(score), report.close_of(day, score)))
            closes.append(side_closes)
        return {
            "events": events,
            "closes": closes,
            "transitions": transitions,
            "alerts": alerts,
            "examples": examples,
            "next_day": self.next_day(),
        }

    def _row(self, output: Any) -> Any:
        if not self.clickhouse:
            return output.model_dump_json().encode()
        from schemas.outputs import Alert, ScoreRecord
        from streams.clickhouse import rows

        if isinstance(output, ScoreRecord):
            return rows.score_row(output)
        if isinstance(output, Alert):
            return rows.alert_row(output)
        return rows.transition_row(output)

    def totals(self) -> dict[str, Any]:
        self.undo_ahead()
        return {
            "applied": self.applied,
            "duplicates": self.duplicates,
            "bad": self.bad,
            "samples": self.samples,
            "accounts": len(self.states[0]),
        }


def _worker_main(conn: Connection) -> None:
    """A backtest process: answers the parent's commands until told to stop."""
    shard: _Shard | None = None
    try:
        while True:
            command, *args = conn.recv()
            if command == "split":
                conn.send(("split", _split(conn, *args)))
            elif command == "open":
                shard = _Shard(*args)
                conn.send(("open", shard.next_day()))
            elif command == "day":
                assert shard is not None
                conn.send(("day", shard.day(*args)))
                shard.run_ahead()
            elif command == "totals":
                assert shard is not None
                conn.send(("totals", shard.totals()))
            else:
                return
    except (EOFError, KeyboardInterrupt):
        return
    except BaseException:
        conn.send(("error", traceback.format_exc()))


# ---------------------------------------------------------------------------- sinks


class JsonlSink:
    """scores.jsonl, transitions.jsonl, alerts.jsonl, track_record.jsonl per config."""

    def __init__(self, out: Path, sides: Sequence[str]) -> None:
        self.dirs = [out / side for side in sides]
        for d in self.dirs:
            d.mkdir(parents=True, exist_ok=True)
        self.files = [
            {name: (d / f"{name}.jsonl").open("wb", buffering=1 << 20) for name in _TABLES}
            for d in self.dirs
        ]

    def write(self, side: int, table: str, rows: Sequence[Any]) -> None:
        f = self.files[side][table]
        for row in rows:
            f.write(row)
            f.write(b"\n")

    def track_record(self, side: int, track: Sequence[scoring.TrackRecordRow]) -> None:
        self.write(side, "track_record", [orjson.dumps(track_record_doc(r)) for r in track])

    def close(self) -> None:
        for files in self.files:
            for f in files.values():
                f.close()

    def where(self) -> str:
        return ", ".join(str(d) for d in self.dirs)


_TABLES = ("scores", "transitions", "alerts", "track_record")


def track_record_doc(row: scoring.TrackRecordRow) -> dict[str, Any]:
    """One model version's track record as a JSON object (track_record.jsonl)."""
    doc = {k: v for k, v in asdict(row).items() if k != "calibration"}
    doc["calibration"] = [b._asdict() for b in row.calibration]
    return doc


class ClickHouseSink:
    """backtest_* tables (migration 0004), each row under (run, config)."""

    BATCH = 20_000

    def __init__(self, ch: Any, run: str, sides: Sequence[str]) -> None:
        from streams.clickhouse import rows

        self.ch = ch
        self.run = run
        self.sides = tuple(sides)
        self.columns = {
            "scores": rows.SCORE_COLUMNS,
            "transitions": rows.TRANSITION_COLUMNS,
            "alerts": rows.ALERT_COLUMNS,
            "track_record": rows.TRACK_RECORD_COLUMNS,
        }
        self.pending: dict[str, list[list[Any]]] = {t: [] for t in _TABLES}

    def write(self, side: int, table: str, rows: Sequence[Any]) -> None:
        prefix = [self.run, self.sides[side]]
        buffer = self.pending[table]
        buffer.extend([*prefix, *row] for row in rows)
        if len(buffer) >= self.BATCH:
            self._flush(table)

    def _flush(self, table: str) -> None:
        buffer = self.pending[table]
        if buffer:
            columns = ["run", "config", *self.columns[table]]
            self.ch.insert(f"backtest_{table}", buffer, columns)
            self.pending[table] = []

    def track_record(self, side: int, track: Sequence[scoring.TrackRecordRow]) -> None:
        from streams.clickhouse import rows

        now = datetime.now(UTC)
        self.write(side, "track_record", [rows.track_record_row(r, now) for r in track])

    def close(self) -> None:
        for table in _TABLES:
            self._flush(table)

    def where(self) -> str:
        return f"ClickHouse {self.ch.database}.backtest_* run {self.run!r}"


def open_clickhouse(settings: Any, run: str, replace: bool) -> Any:
    """Connect, migrate, and make sure the run's name is free (or free it with `replace`)."""
    from streams.clickhouse import connect, migrate

    ch = connect(settings)
    migrate(ch)
    db = ch.database
    tables = [f"backtest_{t}" for t in _TABLES]
    used = sum(
        int(ch.query(f"SELECT count() FROM {db}.{table} WHERE run = %(run)s", {"run": run})[0][0])
        for table in tables
    )
    if used and not replace:
        ch.close()
        raise StreamsError(f"run {run!r} already has rows in {db}.backtest_*: use --replace")
    if used:
        for table in tables:
            ch.command(
                f"ALTER TABLE {db}.{table} DELETE WHERE run = %(run)s SETTINGS mutations_sync = 2",
                {"run": run},
            )
    return ch


# ---------------------------------------------------------------------------- parent


@dataclass(frozen=True)
class BacktestOptions:
    events: Path
    out: Path
    config: Path | None = None
    compare: Path | None = None
    workers: int = 2
    as_of: date | None = None
    now: datetime | None = None
    max_bad: MaxBad = field(default_factory=MaxBad)
    chunk_bytes: int = CHUNK_BYTES
    tmp_dir: Path | None = None
    observe_every: int = 7
    clickhouse: Any = None
    """A streams.settings.Settings: write the rows to ClickHouse instead of JSONL."""
    run: str | None = None
    replace: bool = False
    draw: bool = True
    ahead: bool = True
    """Each process scores the next day while the parent learns (`_Shard.run_ahead`); off,
    every process waits for the parent at every day. The outputs are the same."""


@dataclass
class BacktestResult:
    records_read: int
    bad: int
    bad_samples: list[BadLine]
    applied: list[int]
    duplicates: list[int]
    accounts: int
    days: int
    seconds: float
    config_versions: list[str]
    model_versions: list[str]
    comparison: dict[str, Any]
    text: list[str]
    files: list[Path]

    @property
    def events_per_second(self) -> float:
        return self.records_read / self.seconds if self.seconds else 0.0


class _Progress:
    """A rate and an ETA on stderr: in place on a terminal, a line every 15 s otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.every = 1.0 if self.tty else 15.0
        self.shown = 0.0

    def __call__(self, phase: str, done: float, total: float, unit: str, start: float) -> None:
        now = time.monotonic()
        final = done >= total
        if not self.enabled or (now - self.shown < self.every and not final):
            return
        self.shown = now
        elapsed = max(now - start, 1e-9)
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 else 0.0
        text = (
            f"{phase}: {done:,.0f}/{total:,.0f} {unit} ({done / max(total, 1):.0%}), "
            f"{rate:,.0f} {unit}/s, ETA {int(eta) // 60}:{int(eta) % 60:02d}"
        )
        if self.tty:
            print(f"\r{text}   ", end="\n" if final else "", file=sys.stderr, flush=True)
        else:
            print(text, file=sys.stderr, flush=True)


def _ranges(path: Path, kind: str, parts: int) -> list[tuple[int, int]]:
    if kind == "jsonl":
        size = path.stat().st_size
        return [(size * i // parts, size * (i + 1) // parts) for i in range(parts)]
    import pyarrow.parquet as pq

    groups = pq.ParquetFile(path).metadata.num_row_groups
    return [(groups * i // parts, groups * (i + 1) // parts) for i in range(parts)]


class _Pool:
    def __init__(self, workers: int) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self.conns: list[Connection] = []
        self.procs = []
        for _ in range(workers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker_main, args=(child,), daemon=True)
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)

    def recv(self, i: int, expect: str, on_progress: Callable[..., None] | None = None) -> Any:
        while True:
            try:
                kind, *payload = self.conns[i].recv()
            except EOFError:
                raise StreamsError(f"backtest process {i} died") from None
            if kind == "error":
                raise StreamsError(f"backtest process {i} failed:\n{payload[0]}")
            if kind == "progress":
                if on_progress is not None:
                    on_progress(*payload)
                continue
            assert kind == expect, (kind, expect)
            return payload[0]

    def close(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.send(("stop",))
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join()


def check_paths(options: BacktestOptions) -> str:
    """Everything that can be refused before any work: returns the input kind."""
    check_input_file(options.events)
    check_output_dir(options.out)
    for p in (options.config, options.compare):
        if p is not None:
            check_input_file(p)
    if options.tmp_dir is not None:
        check_output_dir(options.tmp_dir)
        if not options.tmp_dir.is_dir():
            raise StreamsError(f"{options.tmp_dir}: no such directory")
    if options.workers < 1:
        raise StreamsError("--workers must be at least 1")
    if options.clickhouse is not None and not options.run:
        raise StreamsError("--clickhouse needs --run NAME")
    kind = "parquet" if options.events.suffix.lower() in {".parquet", ".pq"} else "jsonl"
    if kind == "parquet":
        require("pyarrow", "reading Parquet")
    if options.draw:
        require("matplotlib", "drawing the backtest's charts (or pass --no-charts)")
    return kind


def backtest(options: BacktestOptions, progress: bool = False) -> BacktestResult:
    """Run the backtest; write its outputs and report; return what it found."""
    kind = check_paths(options)
    paths = [options.config] + ([options.compare] if options.compare is not None else [])
    configs = [scoring.load_config(p) for p in paths]  # a bad config fails before any work
    sides = SIDES[: len(configs)]
    ch = None
    if options.clickhouse is not None:
        ch = open_clickhouse(options.clickhouse, str(options.run), options.replace)
    options.out.mkdir(exist_ok=True)
    show = _Progress(progress)
    started = time.monotonic()
    base = configs[0]
    latest = (options.now or datetime.now(UTC)) + timedelta(hours=base.ingest.max_future_skew_hours)
    tmp = Path(tempfile.mkdtemp(prefix="healthscore-backtest-", dir=options.tmp_dir))
    pool = _Pool(options.workers)
    sink: JsonlSink | ClickHouseSink | None = None
    try:
        n = options.workers
        ranges = _ranges(options.events, kind, n)
        for i, spec in enumerate(ranges):
            pool.conns[i].send(
                (
                    "split",
                    options.events,
                    kind,
                    i,
                    spec,
                    n,
                    options.chunk_bytes,
                    tmp,
                    _ts_us(latest),
                    base.ingest.max_future_skew_hours,
                )
            )
        lines_done = [0] * n
        total_lines = max(1, _estimate_lines(options.events, kind))

        def split_progress(rng: int, number: int) -> None:
            lines_done[rng] = number
            show("reading", min(sum(lines_done), total_lines - 1), total_lines, "records", started)

        splits = [pool.recv(i, "split", split_progress) for i in range(n)]
        offsets = [sum(s["lines"] for s in splits[:i]) for i in range(n)]
        records_read = sum(s["lines"] for s in splits)
        good = sum(s["good"] for s in splits)
        bad = sum(s["bad"] for s in splits)
        samples = [
            (offsets[i] + line, reason, detail, fld)
            for i, s in enumerate(splits)
            for line, reason, detail, fld in s["samples"]
        ]
        show("reading", records_read, records_read, "records", started)
        config_args = [str(p) if p is not None else None for p in paths]
        for shard in range(n):
            runs = [r for s in splits for r in s["runs"][shard]]
            pool.conns[shard].send(("open", runs, config_args, ch is not None, options.ahead))
        next_days: list[int | None] = [pool.recv(i, "open") for i in range(n)]

        sink = ClickHouseSink(ch, str(options.run), sides) if ch else JsonlSink(options.out, sides)
        learners = [make_learner(c) for c in configs]
        sent: list[list[Any]] = [[None] * len(sides) for _ in range(n)]
        refits: list[scoring.ChurnModel | None] = [None] * len(sides)
        """With `ahead`: the models a refit changed since the last day sent."""
        as_of_day = None if options.as_of is None else (options.as_of - _EPOCH.date()).days
        comparison = report.Comparison(
            sides, base.churn.horizon_days, options.observe_every, as_of_day
        )
        scored = days = 0
        score_start = time.monotonic()

        def send_day(day: int) -> list[int]:
            # every process, every day: a process with no events that day ticks its accounts
            active = list(range(n))
            for i in active:
                models = []
                for side, learner in enumerate(learners):
                    model = refits[side] if options.ahead else learner.model
                    models.append(model if sent[i][side] is not model else None)
                    sent[i][side] = model
                pool.conns[i].send(("day", day, models))
            refits[:] = [None] * len(sides)
            return active

        pending = [d for d in next_days if d is not None]
        day: int | None = min(pending) if pending else None
        active = send_day(day) if day is not None else []
        while day is not None:
            results = [pool.recv(i, "day") for i in active]
            for i, r in zip(active, results, strict=True):
                next_days[i] = r["next_day"]
            for side, learner in enumerate(learners):
                examples = [e for r in results for e in r["examples"][side]]
                examples.sort(key=lambda e: (e.snapshot_ts, e.account_id))
                refit = learner.add(examples)
                if refit is not None:
                    refits[side] = refit
            pending = [d for d in next_days if d is not None]
            next_day = day + 1 if pending else None
            next_active = send_day(next_day) if next_day is not None else []
            _write_day(sink, comparison, day, results, len(sides))
            scored += sum(r["events"] for r in results)
            days += 1
            show("scoring", scored, max(good, 1), "events", score_start)
            day, active = next_day, next_active

        totals = []
        for i in range(n):
            pool.conns[i].send(("totals",))
            totals.append(pool.recv(i, "totals"))
        for side, learner in enumerate(learners):
            sink.track_record(side, scoring.track_record(learner.model))
        sink.close()
        bad += sum(t["bad"] for t in totals)
        samples += [
            (offsets[rng] + line, reason, detail, fld)
            for t in totals
            for rng, line, reason, detail, fld in t["samples"]
        ]
        samples.sort()
        seconds = time.monotonic() - started
        doc = comparison.finish()
        doc["run"] = {
            "events_file": str(options.events),
            "records_read": records_read,
            "bad": bad,
            "workers": n,
            "configs": [c.version for c in configs],
            "model_versions": [learner.model.version for learner in learners],
        }
        labels = [f"{s} ({c.version})" for s, c in zip(sides, configs, strict=True)]
        text = report.describe(doc, labels)
        files = [options.out / "comparison.json", options.out / "comparison.txt"]
        files[0].write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        files[1].write_text("\n".join(text) + "\n", encoding="utf-8")
        if options.draw:
            thresholds = [
                (
                    c.success_quadrant.customer_threshold,
                    c.success_quadrant.company_threshold,
                    c.readiness.clarity_threshold,
                    c.readiness.priority_threshold,
                )
                for c in configs
            ]
            pngs, page = report.draw(
                doc, comparison.portfolio, labels, thresholds, text, options.out
            )
            files += [*pngs, page]
        if ch is not None:
            ch.insert(
                "backtest_runs",
                [[str(options.run), orjson.dumps(doc).decode()]],
                ["run", "comparison"],
            )
        return BacktestResult(
            records_read=records_read,
            bad=bad,
            bad_samples=[BadLine(*s) for s in samples[:MAX_BAD_SAMPLES]],
            applied=[sum(t["applied"][s] for t in totals) for s in range(len(sides))],
            duplicates=[sum(t["duplicates"][s] for t in totals) for s in range(len(sides))],
            accounts=sum(t["accounts"] for t in totals),
            days=days,
            seconds=seconds,
            config_versions=[c.version for c in configs],
            model_versions=[learner.model.version for learner in learners],
            comparison=doc,
            text=text,
            files=files,
        )
    finally:
        pool.close()
        if sink is not None and isinstance(sink, JsonlSink):
            sink.close()
        if ch is not None:
            ch.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _estimate_lines(path: Path, kind: str) -> int:
    if kind == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(1 << 20)
    lines = head.count(b"\n")
    return max(1, int(size / (len(head) / lines))) if lines else 1


def _write_day(
    sink: JsonlSink | ClickHouseSink,
    comparison: report.Comparison,
    day: int,
    results: Sequence[dict[str, Any]],
    sides: int,
) -> None:
    """One day's outputs of every process, in (account id, event order) order."""
    closes, alerts, transitions = [], [], []
    for side in range(sides):
        side_closes = sorted((c for r in results for c in r["closes"][side]), key=lambda c: c[0])
        side_transitions = sorted(
            (t for r in results for t in r["transitions"][side]), key=lambda t: t[0]
        )
        side_alerts = sorted((a for r in results for a in r["alerts"][side]), key=lambda a: a[0])
        sink.write(side, "scores", [c[1] for c in side_closes])
        sink.write(side, "transitions", [t[1] for t in side_transitions])
        sink.write(side, "alerts", [a[1] for a in side_alerts])
        closes.append([(c[0], c[2]) for c in side_closes])
        alerts.append([(a[2], a[3]) for a in side_alerts])
        transitions.append([str(t[2]) for t in side_transitions])
    comparison.add_day(day, closes, alerts, transitions)


# ---------------------------------------------------------------------------- CLI


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid date {text!r}: use e.g. 2023-06-30") from None


def build_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `backtest` to the `healthscore` CLI (`subparsers` from add_subparsers())."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "backtest",
        help="run one or two scoring configs over a file of events and compare them",
        description="Score a JSONL or Parquet file of events with a config (and optionally a "
        "second one), in bounded memory on every core; write daily scores, transitions, "
        "alerts and the churn track record, and print and draw the comparison.",
    )
    p.add_argument("events", type=Path, help="events: .jsonl (one per line) or .parquet")
    p.add_argument("--out", type=Path, required=True, help="output directory (report, JSONL)")
    p.add_argument("--config", type=Path, help="scoring config YAML (default: packaged)")
    p.add_argument("--compare", type=Path, help="a second config to compare with --config")
    p.add_argument("--as-of", type=parse_date, help="portfolio date (default: the last day)")
    p.add_argument(
        "--workers",
        type=int,
        default=max(1, min(os.cpu_count() or 1, 8)),
        help="processes (default: the number of CPUs, at most 8)",
    )
    p.add_argument(
        "--now",
        type=parse_now,
        help="the file's clock (default: now): events more than "
        "ingest.max_future_skew_hours ahead of it are bad records (from_future)",
    )
    p.add_argument(
        "--max-bad",
        type=parse_max_bad,
        default=MaxBad(),
        metavar="N|P%",
        help="bad records allowed before the exit status is 1: a count, a percentage or a "
        "fraction of the records read (default 0)",
    )
    p.add_argument(
        "--observe-every", type=int, default=7, help="days between AUC observation points (7)"
    )
    p.add_argument(
        "--chunk-mb", type=int, default=CHUNK_BYTES >> 20, help="MB of records per sorted run (32)"
    )
    p.add_argument("--tmp", type=Path, help="directory for the sorted runs (default: system tmp)")
    p.add_argument(
        "--clickhouse",
        action="store_true",
        help="write rows to the ClickHouse backtest_* tables (settings from the environment)",
    )
    p.add_argument("--run", help="the run's name in ClickHouse (with --clickhouse)")
    p.add_argument("--replace", action="store_true", help="replace an existing run of that name")
    p.add_argument("--no-charts", action="store_true", help="skip the PNG and HTML")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    settings = None
    if args.clickhouse:
        from streams.settings import load_settings

        settings = load_settings()
    if args.chunk_mb < 1:
        raise StreamsError("--chunk-mb must be at least 1")
    options = BacktestOptions(
        events=args.events,
        out=args.out,
        config=args.config,
        compare=args.compare,
        workers=args.workers,
        as_of=args.as_of,
        now=args.now,
        max_bad=args.max_bad,
        chunk_bytes=args.chunk_mb << 20,
        tmp_dir=args.tmp,
        observe_every=args.observe_every,
        clickhouse=settings,
        run=args.run,
        replace=args.replace,
        draw=not args.no_charts,
    )
    result = backtest(options, progress=True)
    err = sys.stderr
    print(
        f"read {result.records_read:,} records in {result.seconds:,.1f} s "
        f"({result.events_per_second:,.0f}/s, {options.workers} processes, {result.days} days): "
        f"{result.bad:,} bad, {result.accounts:,} accounts",
        file=err,
    )
    for side, version, applied, dup, model in zip(
        SIDES,
        result.config_versions,
        result.applied,
        result.duplicates,
        result.model_versions,
        strict=False,
    ):
        print(
            f"  {side} config {version}: {applied:,} events applied, {dup:,} duplicates, "
            f"churn model {model}",
            file=err,
        )
    for b in result.bad_samples:
        print(
            f"  line {b.line}: {b.reason}{f' ({b.field})' if b.field else ''}: {b.detail}",
            file=err,
        )
    if result.bad > len(result.bad_samples):
        print(f"  ... and {result.bad - len(result.bad_samples):,} more bad records", file=err)
    print("\n".join(result.text))
    print(f"wrote {', '.join(str(f) for f in result.files)}")
    verdict = bad_verdict(result.bad, result.records_read, args.max_bad)
    if verdict is not None:
        print(verdict, file=err)
        return 1
    if result.records_read and not any(result.applied):
        return 1
    return 0
