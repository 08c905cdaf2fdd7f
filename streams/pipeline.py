"""One batch of raw Kafka records in, state updates and outputs out.

This is what the agent calls: decode and validate each record, dead-letter
what cannot be accepted (with the reason), then run the scoring core per
account in arrival order. An account's state is loaded from, and its
change held in, the `StateStore` (`streams.state_store`), which saves it
before the next commit (`streams.state_flush`). A record at or before the
position (partition, offset) saved with the state for its family's topic is
a duplicate however many events the account had since (the state's own
memory of recent event ids catches what a producer sent twice). Every
event's transitions and alerts are published, and the score of every event
the core marks `emit` (`scoring.emission`): the decision is made per event,
so the outputs are the same however the records are batched. No arithmetic here: every number
comes from `scoring`.

Nothing a producer sends escapes as an exception: whatever goes wrong with
one record (decoding, its key, its time, scoring it) becomes a dead letter
with the reason and the field, and the batch goes on. Keys are strict UTF-8.
Event times are checked against the Kafka record's timestamp (`ingest` in
the scoring config): an event too far ahead of it is `from_future`, and,
when `new_account_max_age_days` is set, an event of an account without
state too far behind it is `backdated` (see docs/operations.md, "Trust
boundary").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import scoring
from schemas.decode import decode_event
from schemas.errors import DeadLetterReason, DecodeError
from schemas.events import FAMILY_BY_TYPE, Event, Family
from schemas.outputs import Alert, DeadLetter, ScoreRecord, Transition
from streams.clock import Tick, day_boundaries, is_live
from streams.state_store import LoadState, Pending, SaveState, StateStore
from streams.statepack import FAMILY_INDEX

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
    timestamp: int | None = None
    """Milliseconds since the epoch, as aiokafka's ConsumerRecord.timestamp; None (or a
    negative value, Kafka's "no timestamp") skips the time checks that need it."""


def record_seconds(record: Record) -> float | None:
    """The record's Kafka timestamp in seconds, or None when it has none."""
    ms = getattr(record, "timestamp", None)
    if ms is None or ms < 0:
        return None
    return float(ms) / 1000.0


@dataclass(slots=True)
class BatchOutput:
    scores: list[ScoreRecord] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    examples: list[scoring.LabelledExample] = field(default_factory=list)
    shadows: list[scoring.ShadowScore] = field(default_factory=list)
    """With `shadow_scorecard` in the config: the shadow of each score in `scores`."""
    received: int = 0
    applied: int = 0
    duplicates: int = 0
    newest_ts: float | None = None
    """The newest event time accepted (the partition's event time, for `streams.clock`)."""
    oldest_ts: float | None = None
    """The oldest event time accepted."""


class BatchProcessor:
    """Scores batches of records against the states of `states`: each account's state is
    read through `states.get` and its change handed to `states.hold`."""

    def __init__(
        self,
        config: scoring.ScoringConfig,
        families_by_topic: dict[str, Family],
        model: Callable[[], scoring.ChurnModel],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        cache_size: int = 10_000,
        catch_up_ticks: bool = False,
        states: StateStore | None = None,
    ) -> None:
        self.config = config
        self.families_by_topic = families_by_topic
        self.model = model
        self.clock = clock
        self.states = StateStore(cache_size=cache_size) if states is None else states
        """Where states are loaded from and held until saved (the worker's: on its state
        table; by default one of `cache_size` cached states, without a table)."""
        self.catch_up_ticks = catch_up_ticks
        """With the clock (`streams.clock`): before a usage event, its account is ticked
        at each day boundary between its time and the event's, whether the tick record of
        that boundary was written or read yet or not (the agent writes the ticks a chunk
        makes due after scoring it; a replay may read them first), so the outputs do not
        depend on when a tick record is read relative to the partition's events. An
        account's usage is read in order, so the days between two of its uses are truly
        without use. An event of another family may be read ahead of the account's usage
        (the topics are read at their own pace): it catches its account up only to the
        boundaries a tick record of its partition exists for (`clock_at`; the partition's
        time waits for every topic), or the usage not read yet would look silent."""
        self.clock_time: dict[int, float] = {}
        """Per input partition, the newest tick written or applied."""
        self.shadow_failures = 0
        """Shadow scores that failed (logged at the 1st, 2nd, 4th, 8th, ... failure)."""

    def run(self, records: Iterable[Record], load: LoadState, save: SaveState) -> BatchOutput:
        """`score` the records, then save every changed state at once."""
        out = self.score(records, load)
        self.save_pending(save)
        return out

    def save_pending(self, save: SaveState) -> int:
        """Save every unsaved state now, synchronously (`StateStore.save_pending`)."""
        return self.states.save_pending(save)

    def score(self, records: Iterable[Record], load: LoadState) -> BatchOutput:
        """Decode, validate and score `records` (one topic partition's, in offset order).

        The states they change are held in `states` (`StateStore.hold`), not saved:
        the worker saves them all at once before each commit (`streams.state_flush`), so
        a busy account is encoded once per commit interval, not once per batch."""
        out = BatchOutput()
        by_account: dict[str, list[tuple[Record, Event]]] = {}
        for record in records:
            out.received += 1
            try:
                event = self._accept(record)
            except DecodeError as exc:
                out.dead_letters.append(self.dead_letter(record, exc))
                continue
            except Exception as exc:  # whatever one record does, the worker goes on
                log.exception("accepting the record at %s:%s failed", record.topic, record.offset)
                failed = DecodeError(
                    DeadLetterReason.PROCESSING_ERROR,
                    f"accepting the record failed: {type(exc).__name__}: {exc}",
                )
                out.dead_letters.append(self.dead_letter(record, failed))
                continue
            by_account.setdefault(event.account_id, []).append((record, event))
            ts = event.ts.timestamp()
            if out.newest_ts is None or ts > out.newest_ts:
                out.newest_ts = ts
            if out.oldest_ts is None or ts < out.oldest_ts:
                out.oldest_ts = ts

        model = self.model()
        family_index = FAMILY_INDEX
        max_age_days = self.config.ingest.new_account_max_age_days
        max_age = None if max_age_days is None else max_age_days * 86400.0
        for account_id, items in by_account.items():
            state, positions = self.states.get(account_id, load)
            moved = list(positions)
            changed = False
            for record, event in items:
                i = 2 * family_index[FAMILY_BY_TYPE[event.type]]
                if moved[i] == record.partition and record.offset <= moved[i + 1]:
                    out.duplicates += 1  # delivered again (a crash before the commit)
                    continue
                if max_age is not None and state.clock.events_applied == 0:
                    # before the position moves: refused again if delivered again, it leaves
                    # no state behind for an account id that never had an event
                    backdated = self._backdated(record, event, max_age)
                    if backdated is not None:
                        out.dead_letters.append(self.dead_letter(record, backdated, event))
                        continue
                moved[i], moved[i + 1] = record.partition, record.offset
                changed = True
                if self.catch_up_ticks:
                    upto = event.ts.timestamp()
                    if FAMILY_BY_TYPE[event.type] is not Family.USAGE:
                        upto = min(upto, self.clock_time.get(record.partition, 0.0))
                    state = self._catch_up(state, upto, model, out)
                try:  # a duplicate comes back as such however old: only new events are late
                    step = scoring.process(state, event, self.config, model)
                    # built only for the emitted steps, and part of scoring the event
                    score = step.score if step.emit and not step.duplicate else None
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
                    assert score is not None
                    out.scores.append(score)
                    self._shadow(state, score, model, out)
                if step.transitions:
                    out.transitions.extend(step.transitions)
                if step.alerts:
                    out.alerts.extend(step.alerts)
                if step.examples:
                    out.examples.extend(step.examples)
            if changed:
                self.states.hold(account_id, Pending(state, tuple(moved), items[-1][0].partition))
        return out

    def _catch_up(
        self,
        state: scoring.AccountState,
        ts: float,
        model: scoring.ChurnModel,
        out: BatchOutput,
    ) -> scoring.AccountState:
        """`state` ticked at each day boundary in (its time, ts] (`streams.clock`)."""
        if state.clock.max_ts is None or not is_live(state):
            return state
        for boundary in day_boundaries(state.clock.max_ts, ts):
            step = scoring.tick(state, boundary, self.config, model)
            state = self._collect(step, out, model)
        return state

    def _shadow(
        self,
        state: scoring.AccountState,
        score: ScoreRecord,
        model: scoring.ChurnModel,
        out: BatchOutput,
    ) -> None:
        """The shadow of `score` (made from `state`) into `out`, with `shadow_scorecard` set.
        It reads the state and changes nothing; if it fails, the live outputs go on
        without it."""
        if self.config.shadow_scorecard is None:
            return
        try:
            shadow = scoring.shadow_score(state, score, self.config, model)
        except Exception:  # the shadow must never cost a live output
            self.shadow_failures += 1
            if self.shadow_failures & (self.shadow_failures - 1) == 0:  # 1, 2, 4, 8, ...
                log.exception("shadow scoring failed for account %s (%d failures so far)",
                              score.account_id, self.shadow_failures)  # fmt: skip
            return
        if shadow is not None:
            out.shadows.append(shadow)

    def _collect(
        self, step: scoring.StepResult, out: BatchOutput, model: scoring.ChurnModel
    ) -> scoring.AccountState:
        """A tick's outputs into `out`; its new state."""
        if step.emit and step.score is not None:
            out.scores.append(step.score)
            self._shadow(step.state, step.score, model, out)
        out.transitions.extend(step.transitions)
        out.alerts.extend(step.alerts)
        out.examples.extend(step.examples)
        return step.state

    def clock_at(self, partition: int, ts: float) -> None:
        """A tick record of `partition` at `ts` was written (or read): events of the
        partition other than usage catch their account up to it (`catch_up_ticks`)."""
        if ts > self.clock_time.get(partition, -1.0):
            self.clock_time[partition] = ts

    def tick(self, tick: Tick, accounts: Iterable[str], load: LoadState) -> BatchOutput:
        """Apply a tick record of the clock topic to `accounts` (a slice of the accounts of
        the tick's partition, in a fixed order): each live account is re-scored at the
        tick's time (`scoring.tick`); the states it changes are held in `states`."""
        out = BatchOutput()
        model = self.model()
        self.clock_at(tick.partition, float(tick.ts))
        for account_id in accounts:
            state, positions = self.states.get(account_id, load)
            if not is_live(state):
                continue
            try:
                step = scoring.tick(state, float(tick.ts), self.config, model)
                if step.score is None:
                    continue
                new = self._collect(step, out, model)
            except Exception:  # a bug in scoring must not stop the worker
                log.exception("ticking account %s at %s failed", account_id, tick.ts)
                continue
            self.states.hold(account_id, Pending(new, positions, tick.partition))
        return out

    def _accept(self, record: Record) -> Event:
        if record.value is None:
            raise DecodeError(DeadLetterReason.INVALID_JSON, "empty message (null value)")
        event = decode_event(record.value, self.families_by_topic.get(record.topic))
        key = None
        if record.key is not None:
            try:  # strict: with "replace", b"\xff" and b"\xfe" would both read as U+FFFD
                key = record.key.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DecodeError(
                    DeadLetterReason.INVALID_KEY,
                    f"the message key is not valid UTF-8 (byte {exc.start}: "
                    f"{record.key[exc.start : exc.start + 1]!r})",
                    "key",
                ) from None
        if key != event.account_id:
            raise DecodeError(
                DeadLetterReason.KEY_MISMATCH,
                f"the message key must be the account_id so that an account's events share a "
                f"partition; key is {key!r}, account_id is {event.account_id!r}",
                "account_id",
            )
        received = record_seconds(record)
        if received is not None:
            skew = self.config.ingest.max_future_skew_hours
            ahead = event.ts.timestamp() - received
            if ahead > skew * 3600.0:
                raise DecodeError(
                    DeadLetterReason.FROM_FUTURE,
                    f"event time {event.ts.isoformat()} is {ahead / 3600.0:.1f} hours ahead of "
                    f"the record's timestamp {_iso(received)}; the allowed clock skew is "
                    f"{skew:g} hours (ingest.max_future_skew_hours)",
                    "ts",
                )
        return event

    def _backdated(self, record: Record, event: Event, max_age: float) -> DecodeError | None:
        """Why the first events of a new account may not start so far back, if they may not."""
        received = record_seconds(record)
        if received is None:
            return None
        age = received - event.ts.timestamp()
        if age <= max_age:
            return None
        return DecodeError(
            DeadLetterReason.BACKDATED,
            f"event time {event.ts.isoformat()} is {age / 86400.0:.1f} days before the "
            f"record's timestamp {_iso(received)}, and a new account's history may start at "
            f"most {max_age / 86400.0:g} days back (ingest.new_account_max_age_days)",
            "ts",
        )

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


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()
