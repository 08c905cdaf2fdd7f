"""`healthscore score-file`: score a file of events offline, without Kafka or ClickHouse.

Reads JSONL (one event per line) or Parquet (one event per row, columns =
event fields), decodes every record with the ingestion decoder, sorts by
event time (stable), runs `scoring.process` per event while the churn
model learns from the examples it yields, and writes ScoreRecords as JSONL:
with a `cadence`, one per live account at every multiple of the cadence of
event time (`1d`: one row per account per day, at day ends, active or
silent), then the final score of every account. At every day boundary of
event time every live account is re-scored (`scoring.tick`, `streams.clock`),
so silence moves the scores as it does in the worker. With an alerts file,
every alert raised goes there. A bad record never stops the run: it is
counted, and the first few are reported with their line (or row) number,
reason and field. That holds for any exception while decoding or scoring one record.
The command's exit status is 1 when the bad records exceed `--max-bad`
(default: none allowed); the input and the output path are checked before
anything is read. `healthscore backtest` (streams.backtest) is the same
scoring in bounded memory on every core, with one or two configs compared.

The file's clock is `now` (`--now`, default the wall clock): an event more
than the scoring config's `ingest.max_future_skew_hours` ahead of it is a
bad record (`from_future`), as the worker refuses an event that far ahead
of its Kafka record. The bound on a new account's history
(`ingest.new_account_max_age_days`) does not apply: a file is a backfill,
and its records carry no time of arrival to measure the age against.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel

import scoring
from schemas.decode import decode_event, validate_event
from schemas.errors import DeadLetterReason, DecodeError
from schemas.events import MODEL_BY_TYPE, Event
from streams.clock import FileClock, is_live, tick_accounts
from streams.errors import StreamsError
from streams.extras import require

MAX_BAD_SAMPLES = 10
PROGRESS_EVERY = 50_000

Progress = Callable[[int, int], None]
"""progress(events scored so far, events to score)."""


@dataclass(frozen=True, slots=True)
class BadLine:
    line: int
    """1-based line number (JSONL) or row number (Parquet)."""
    reason: str
    detail: str
    field: str | None = None


@dataclass(frozen=True, slots=True)
class ScoreFileSummary:
    records_read: int
    events_applied: int
    duplicates: int
    bad_lines: int
    bad_samples: tuple[BadLine, ...]
    accounts: int
    scores_written: int
    examples_learned: int
    config_version: str
    model_version: str

    def describe(self) -> str:
        lines = [
            f"read {self.records_read} records: {self.events_applied} events applied, "
            f"{self.duplicates} duplicates, {self.bad_lines} bad",
            f"wrote {self.scores_written} scores for {self.accounts} accounts "
            f"(config {self.config_version}, churn model {self.model_version}, "
            f"{self.examples_learned} examples learned)",
        ]
        lines += [
            f"  line {b.line}: {b.reason}{f' ({b.field})' if b.field else ''}: {b.detail}"
            for b in self.bad_samples
        ]
        if self.bad_lines > len(self.bad_samples):
            lines.append(f"  ... and {self.bad_lines - len(self.bad_samples)} more bad records")
        return "\n".join(lines)


def _unexpected(exc: Exception) -> DecodeError:
    return DecodeError(DeadLetterReason.PROCESSING_ERROR, f"{type(exc).__name__}: {str(exc)[:200]}")


def _jsonl_records(path: Path) -> Iterator[tuple[int, Event | DecodeError]]:
    with path.open("rb") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield number, decode_event(line)
            except DecodeError as exc:
                yield number, exc
            except Exception as exc:  # one record never stops the run
                yield number, _unexpected(exc)


def _clean_row(row: dict[str, Any]) -> dict[str, Any]:
    """A Parquet row as the event it holds: drop the null columns of other event types
    (keeping nulls of the type's required fields), read naive timestamps as UTC."""
    event_type = row.get("type")
    model = MODEL_BY_TYPE.get(event_type) if isinstance(event_type, str) else None
    fields = model.model_fields if model is not None else {}
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value is None and not (key in fields and fields[key].is_required()):
            continue
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        out[key] = value
    return out


def _parquet_records(path: Path) -> Iterator[tuple[int, Event | DecodeError]]:
    require("pyarrow", "reading Parquet")
    import pyarrow.parquet as pq

    number = 0
    for batch in pq.ParquetFile(path).iter_batches():
        for row in batch.to_pylist():
            number += 1
            try:
                yield number, validate_event(_clean_row(row))
            except DecodeError as exc:
                yield number, exc
            except Exception as exc:  # one record never stops the run
                yield number, _unexpected(exc)


def check_input_file(path: Path) -> None:
    """Refuse, before any work, an input that is missing, not a file or not readable."""
    if not path.is_file():
        raise StreamsError(f"{path}: no such file")
    if not os.access(path, os.R_OK):
        raise StreamsError(f"{path}: not readable")


def check_output_file(path: Path) -> None:
    """Refuse, before any work, an output file that could not be written: its parent
    missing or not a writable directory, or the path itself a directory or read-only."""
    path = Path(path)
    parent = path.parent
    if path.is_dir():
        raise StreamsError(f"{path}: is a directory, expected a file to write")
    if not parent.is_dir():
        raise StreamsError(f"{path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise StreamsError(f"{path}: directory {parent} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise StreamsError(f"{path}: exists and is not writable")


def check_output_dir(path: Path) -> None:
    """Refuse, before any work, an output directory that could not be written: a file in
    its place, a missing or read-only parent, or a directory that is not writable."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise StreamsError(f"{path}: is a file, expected a directory to write into")
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise StreamsError(f"{path}: directory is not writable")
        return
    parent = path.parent
    if not parent.is_dir():
        raise StreamsError(f"{path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise StreamsError(f"{path}: directory {parent} is not writable")


@dataclass(frozen=True, slots=True)
class MaxBad:
    """How many bad records a run may have and still succeed: a count, or a fraction of
    the records read (`--max-bad 10`, `--max-bad 0.1%`, `--max-bad 0.001`)."""

    count: int | None = 0
    fraction: float | None = None

    def allows(self, bad: int, read: int) -> bool:
        if self.fraction is not None:
            return bad <= self.fraction * read
        return bad <= (self.count or 0)

    def describe(self) -> str:
        if self.fraction is not None:
            return f"{self.fraction:.6g} of the records"
        return f"{self.count} records"


def parse_max_bad(text: str) -> MaxBad:
    """`N` (a count), `P%` or a fraction below 1 such as `0.01` (argparse type)."""
    raw = text.strip()
    try:
        if raw.endswith("%"):
            value = float(raw[:-1]) / 100.0
            is_fraction = True
        elif raw.isdigit():
            return MaxBad(count=int(raw))
        else:
            value = float(raw)
            is_fraction = True
    except ValueError:
        value, is_fraction = math.nan, False
    if not is_fraction or not (0.0 <= value < 1.0) or math.isnan(value):
        raise argparse.ArgumentTypeError(
            f"invalid --max-bad {text!r}: use a count (10), a percentage (0.5%) "
            "or a fraction below 1 (0.005)"
        )
    return MaxBad(count=None, fraction=value)


def bad_verdict(bad: int, read: int, max_bad: MaxBad) -> str | None:
    """The line to print when the bad records exceed what `--max-bad` allows, else None."""
    if max_bad.allows(bad, read):
        return None
    return (
        f"{bad} of {read} records were bad, more than --max-bad allows "
        f"({max_bad.describe()}): exit status 1"
    )


def read_events(path: Path) -> Iterator[tuple[int, Event | DecodeError]]:
    """(line or row number, event or why it was refused) for every record of the file."""
    if not path.is_file():
        raise StreamsError(f"{path}: no such file")
    if path.suffix.lower() in {".parquet", ".pq"}:
        return _parquet_records(path)
    return _jsonl_records(path)


def score_file(
    events_path: Path,
    out_path: Path,
    config_path: Path | None = None,
    cadence: timedelta | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
    alerts_path: Path | None = None,
    transitions_path: Path | None = None,
) -> ScoreFileSummary:
    """Score every event of `events_path` and write ScoreRecords (JSONL) to `out_path`,
    and with `alerts_path`, every alert raised (JSONL), ticks' included; with
    `transitions_path`, every transition likewise.

    `now` is the file's clock for the `from_future` check (default: the wall clock).
    The input and the output path are checked before anything is read."""
    check_input_file(Path(events_path))
    check_output_file(Path(out_path))
    config = scoring.load_config(config_path)
    learner = scoring.ChurnLearner(config)
    model = learner.model
    latest = (now or datetime.now(UTC)) + timedelta(hours=config.ingest.max_future_skew_hours)
    events: list[tuple[int, Event]] = []
    bad: list[BadLine] = []
    bad_count = read = 0

    def refuse(number: int, error: DecodeError) -> None:
        nonlocal bad_count
        bad_count += 1
        if len(bad) < MAX_BAD_SAMPLES:
            bad.append(BadLine(number, error.reason.value, error.detail[:200], error.field))

    for number, item in read_events(Path(events_path)):
        read += 1
        if isinstance(item, DecodeError):
            refuse(number, item)
        elif item.ts > latest:
            detail = (
                f"event time {item.ts.isoformat()} is more than "
                f"{config.ingest.max_future_skew_hours:g} hours ahead of the file's clock "
                f"{latest.isoformat()} (--now; ingest.max_future_skew_hours)"
            )
            refuse(number, DecodeError(DeadLetterReason.FROM_FUTURE, detail, "ts"))
        else:
            events.append((number, item))
    events.sort(key=lambda e: e[1].ts)  # stable: ties keep file order

    states: dict[str, scoring.AccountState] = {}
    last: dict[str, scoring.StepResult] = {}
    file_clock = FileClock(cadence)
    applied = duplicates = written = learned = 0
    total = len(events)
    with ExitStack() as files:
        out = files.enter_context(Path(out_path).open("wb"))
        alerts_out = None if alerts_path is None else files.enter_context(alerts_path.open("wb"))
        moves = (
            None if transitions_path is None else files.enter_context(transitions_path.open("wb"))
        )
        for done, (number, event) in enumerate(events, start=1):
            if progress is not None and (done % PROGRESS_EVERY == 0 or done == total):
                progress(done, total)
            # the clock (streams.clock): each day boundary the file's event time crosses
            # re-scores every live account; each cadence boundary writes their scores
            for boundary, ticks, row in file_clock.advance(event.ts.timestamp()):
                if ticks:
                    for tick in tick_accounts(states, boundary, config, model):
                        last[tick.state.account_id] = tick
                        if alerts_out is not None:
                            alerts_out.writelines(_jsonl(tick.alerts))
                        if moves is not None:
                            moves.writelines(_jsonl(tick.transitions))
                        if tick.examples:
                            learner.add(tick.examples)
                            model = learner.model
                            learned += len(tick.examples)
                if row:
                    for account, state in states.items():
                        if is_live(state) and (score := last[account].score) is not None:
                            out.write(score.model_dump_json().encode() + b"\n")
                            written += 1
            try:
                step = scoring.process(states.get(event.account_id), event, config, model)
                score = step.score  # built here, so that a failure is this event's
            except scoring.TooLateError:
                detail = "older than the allowed lateness behind this account's newest event"
                refuse(number, DecodeError(DeadLetterReason.TOO_LATE, detail, "ts"))
                continue
            except scoring.ConflictingDuplicateError as exc:  # the id again, another content
                refuse(
                    number,
                    DecodeError(DeadLetterReason.CONFLICTING_DUPLICATE, str(exc), "event_id"),
                )
                continue
            except Exception as exc:  # one event never stops the run
                refuse(number, _unexpected(exc))
                continue
            if score is None:
                duplicates += 1
                continue
            applied += 1
            if alerts_out is not None:
                alerts_out.writelines(_jsonl(step.alerts))
            if moves is not None:
                moves.writelines(_jsonl(step.transitions))
            states[event.account_id] = step.state
            last[event.account_id] = step
            if step.examples:
                learner.add(step.examples)
                model = learner.model
                learned += len(step.examples)
        for account, state in states.items():  # the end of the file settles what waits
            step = scoring.settle(state, config, model)
            if step.duplicate:  # nothing waited (`settle_hours` 0)
                continue
            states[account] = step.state
            last[account] = step
            if alerts_out is not None:
                alerts_out.writelines(_jsonl(step.alerts))
            if moves is not None:
                moves.writelines(_jsonl(step.transitions))
            if step.examples:
                learner.add(step.examples)
                model = learner.model
                learned += len(step.examples)
        for step in last.values():
            assert step.score is not None
            out.write(step.score.model_dump_json().encode() + b"\n")
            written += 1
    return ScoreFileSummary(
        records_read=read,
        events_applied=applied,
        duplicates=duplicates,
        bad_lines=bad_count,
        bad_samples=tuple(bad),
        accounts=len(last),
        scores_written=written,
        examples_learned=learned,
        config_version=config.version,
        model_version=model.version,
    )


def _jsonl(records: Iterable[BaseModel]) -> Iterator[bytes]:
    return (r.model_dump_json().encode() + b"\n" for r in records)


_CADENCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_cadence(text: str) -> timedelta:
    """`30m`, `12h`, `1d`, `2w` ... as a timedelta (argparse type)."""
    match = _CADENCE.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"invalid cadence {text!r}: use e.g. 30m, 12h, 1d, 1w")
    value = timedelta(**{_UNIT[match.group(2)]: float(match.group(1))})
    if value <= timedelta(0):
        raise argparse.ArgumentTypeError("cadence must be positive")
    return value


def parse_now(text: str) -> datetime:
    """An ISO date or date-time (UTC when it has no offset) as an aware datetime."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid time {text!r}: use an ISO date or time, e.g. 2026-03-01T12:00:00Z"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def build_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `score-file` to the `healthscore` CLI (`subparsers` from add_subparsers())."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "score-file",
        help="score a JSONL or Parquet file of events offline and write the scores as JSONL",
    )
    p.add_argument("events", type=Path, help="events: .jsonl (one per line) or .parquet")
    p.add_argument("--out", type=Path, required=True, help="where to write the scores (JSONL)")
    p.add_argument("--config", type=Path, help="scoring config YAML (default: packaged)")
    p.add_argument(
        "--now",
        type=parse_now,
        help="the file's clock, ISO date or time (default: now): events more than "
        "ingest.max_future_skew_hours ahead of it are refused as from_future",
    )
    p.add_argument("--alerts", type=Path, help="also write every alert raised (JSONL) to this file")
    p.add_argument(
        "--cadence",
        type=parse_cadence,
        help="also write every live account's score at each multiple of CADENCE of event "
        "time (30m, 12h, 1d, 1w); 1d: one row per account per day, at day ends",
    )
    p.add_argument(
        "--max-bad",
        type=parse_max_bad,
        default=MaxBad(),
        metavar="N|P%",
        help="bad records allowed before the exit status is 1: a count, a percentage or a "
        "fraction of the records read (default 0: any bad record fails the run)",
    )
    p.set_defaults(func=run)
    return p


def _print_progress(done: int, total: int) -> None:
    end = "\n" if done == total else ""
    print(f"\rscored {done}/{total} events", end=end, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Run `score-file` from parsed arguments; print the summary to stderr.

    Exit status 1 when the bad records exceed `--max-bad` (default: any), or when no
    event could be applied; the input and output paths are checked before any work."""
    summary = score_file(
        args.events, args.out, args.config, args.cadence, _print_progress, args.now, args.alerts
    )
    print(summary.describe(), file=sys.stderr)
    verdict = bad_verdict(summary.bad_lines, summary.records_read, args.max_bad)
    if verdict is not None:
        print(verdict, file=sys.stderr)
        return 1
    if summary.records_read and not summary.events_applied:
        return 1
    return 0
