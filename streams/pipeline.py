"""One batch of raw Kafka records in, state updates and outputs out.

This is what the agent calls: decode and validate each record, dead-letter
what cannot be accepted (with the reason), then run the scoring core per
account in arrival order. Changed states are held here until the worker
saves them all at once before a commit (`streams.gate`): a busy account is
encoded once per commit interval, whatever the number of its events. The table value carries, beside
the state, the position (partition, offset) of the last record applied from
each family's topic, so a record Kafka delivers again after a crash is a
duplicate however many events the account had since (the state's own
memory of recent event ids catches what a producer sent twice). Decoded
states of recently seen accounts are kept in a bounded cache, checked
against the table's bytes, so a busy account is decoded once, not once per
batch. Every event's transitions and
alerts are published, and the score of every event the core marks `emit`
(`scoring.emission`): the decision is made per event, so the outputs are the
same however the records are batched. No arithmetic here: every number
comes from `scoring`.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import scoring
from schemas.decode import decode_event
from schemas.errors import DeadLetterReason, DecodeError
from schemas.events import FAMILY_BY_TYPE, Event, Family
from schemas.outputs import Alert, DeadLetter, ScoreRecord, Transition
from streams.statepack import FAMILY_INDEX, NO_POSITIONS, Positions, pack_value, unpack_value

log = logging.getLogger(__name__)

MAX_DEAD_LETTER_PAYLOAD = 4096


class Record(Protocol):
    """A Kafka record as the agent receives it: aiokafka's ConsumerRecord, or a RawRecord."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A Kafka record built by hand (tests, the bench)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(slots=True)
class BatchOutput:
    scores: list[ScoreRecord] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    examples: list[scoring.LabelledExample] = field(default_factory=list)
    received: int = 0
    applied: int = 0
    duplicates: int = 0


LoadState = Callable[[str], bytes | None]
SaveState = Callable[[str, bytes], None]


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


class BatchProcessor:
    """State lives in the table behind load/save; between a batch and the next flush, the
    changed states are held here (`pending`, then `flushing` while being saved)."""

    def __init__(
        self,
        config: scoring.ScoringConfig,
        families_by_topic: dict[str, Family],
        model: Callable[[], scoring.ChurnModel],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        cache_size: int = 10_000,
    ) -> None:
        self.config = config
        self.families_by_topic = families_by_topic
        self.model = model
        self.clock = clock
        self.cache = StateCache(cache_size)
        self.pending: dict[str, Pending] = {}
        self.flushing: dict[str, Pending] = {}

    def _load(self, account_id: str, load: LoadState) -> tuple[scoring.AccountState, Positions]:
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

    def begin_flush(self) -> dict[str, Pending]:
        """Move the unsaved states aside to be saved (`encode` each, then `end_flush`);
        until then they are still what `score` loads, newer changes taking precedence."""
        if self.flushing:
            raise RuntimeError("a flush is already in progress")
        self.flushing, self.pending = self.pending, {}
        return self.flushing

    def encode(self, account_id: str, entry: Pending) -> bytes:
        """The table value of a state being flushed (and the cache entry for it): the
        caller writes it to the table before anything else runs."""
        value = pack_value(entry.positions, entry.state.to_bytes())
        self.cache.put(account_id, _Cached(value, entry.state, entry.positions))
        return value

    def end_flush(self) -> None:
        self.flushing = {}

    def discard(self, partitions: set[int]) -> int:
        """Drop unsaved states of accounts in `partitions` (revoked: another worker owns
        them now, from the committed offsets and the changelog). Returns how many."""
        gone = [a for a, e in self.pending.items() if e.partition in partitions]
        for account_id in gone:
            del self.pending[account_id]
        return len(gone)

    def run(self, records: Iterable[Record], load: LoadState, save: SaveState) -> BatchOutput:
        """`score` the records, then save every changed state at once."""
        out = self.score(records, load)
        self.save_pending(save)
        return out

    def save_pending(self, save: SaveState) -> int:
        """Save every unsaved state now, synchronously (the worker's `StateFlusher` does
        the same between awaits). Returns how many."""
        entries = self.begin_flush()
        try:
            for account_id, entry in entries.items():
                save(account_id, self.encode(account_id, entry))
        finally:
            self.end_flush()
        return len(entries)

    def score(self, records: Iterable[Record], load: LoadState) -> BatchOutput:
        """Decode, validate and score `records` (one topic partition's, in offset order).

        The states they change are kept in `pending`, not saved: the worker saves them
        all at once before each commit (`streams.gate`), so a busy account is encoded
        once per commit interval, not once per batch."""
        out = BatchOutput()
        by_account: dict[str, list[tuple[Record, Event]]] = {}
        for record in records:
            out.received += 1
            try:
                event = self._accept(record)
            except DecodeError as exc:
                out.dead_letters.append(self.dead_letter(record, exc))
                continue
            by_account.setdefault(event.account_id, []).append((record, event))

        model = self.model()
        family_index = FAMILY_INDEX
        for account_id, items in by_account.items():
            state, positions = self._load(account_id, load)
            moved = list(positions)
            changed = False
            for record, event in items:
                i = 2 * family_index[FAMILY_BY_TYPE[event.type]]
                if moved[i] == record.partition and record.offset <= moved[i + 1]:
                    out.duplicates += 1  # delivered again (a crash before the commit)
                    continue
                moved[i], moved[i + 1] = record.partition, record.offset
                changed = True
                try:  # a duplicate comes back as such however old: only new events are late
                    step = scoring.process(state, event, self.config, model)
                except scoring.TooLateError:
                    out.dead_letters.append(
                        self.dead_letter(
                            record,
                            DecodeError(
                                DeadLetterReason.TOO_LATE,
                                f"event time {event.ts.isoformat()} is older than the allowed "
                                f"lateness behind this account's newest event",
                                "ts",
                            ),
                            event,
                        )
                    )
                    continue
                except scoring.ConflictingDuplicateError as exc:
                    out.dead_letters.append(
                        self.dead_letter(
                            record,
                            DecodeError(
                                DeadLetterReason.CONFLICTING_DUPLICATE, str(exc), "event_id"
                            ),
                            event,
                        )
                    )
                    continue
                except Exception as exc:  # a bug in scoring must not stop the worker
                    log.exception("scoring failed on event %s", event.event_id)
                    out.dead_letters.append(
                        self.dead_letter(
                            record,
                            DecodeError(
                                DeadLetterReason.PROCESSING_ERROR,
                                f"{type(exc).__name__}: {exc}",
                            ),
                            event,
                        )
                    )
                    continue
                if step.duplicate:
                    out.duplicates += 1
                    continue
                out.applied += 1
                state = step.state
                if step.emit:
                    score = step.score  # built only for the emitted steps
                    assert score is not None
                    out.scores.append(score)
                if step.transitions:
                    out.transitions.extend(step.transitions)
                if step.alerts:
                    out.alerts.extend(step.alerts)
                if step.examples:
                    out.examples.extend(step.examples)
            if changed:
                self.pending[account_id] = Pending(state, tuple(moved), items[-1][0].partition)
        return out

    def _accept(self, record: Record) -> Event:
        if record.value is None:
            raise DecodeError(DeadLetterReason.INVALID_JSON, "empty message (null value)")
        event = decode_event(record.value, self.families_by_topic.get(record.topic))
        key = record.key.decode("utf-8", "replace") if record.key is not None else None
        if key != event.account_id:
            raise DecodeError(
                DeadLetterReason.KEY_MISMATCH,
                f"the message key must be the account_id so that an account's events share a "
                f"partition; key is {key!r}, account_id is {event.account_id!r}",
                "account_id",
            )
        return event

    def dead_letter(
        self, record: Record, error: DecodeError, event: Event | None = None
    ) -> DeadLetter:
        payload = record.value or b""
        return DeadLetter(
            received_at=self.clock(),
            source_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key.decode("utf-8", "replace")[:256] if record.key is not None else None,
            reason=error.reason,
            field=error.field,
            detail=error.detail[:1000],
            payload=payload[:MAX_DEAD_LETTER_PAYLOAD].decode("utf-8", "replace"),
            payload_bytes=len(payload),
            event_id=event.event_id if event else None,
            account_id=event.account_id if event else None,
        )
