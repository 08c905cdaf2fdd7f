"""One batch of raw Kafka records in, state updates and outputs out.

This is what the agent calls: decode and validate each record, dead-letter
what cannot be accepted (with the reason), then run the scoring core per
account in arrival order, loading and saving each account's state once per
batch whatever the number of its events. Every event's transitions and
alerts are published, and the score of every event the core marks `emit`
(`scoring.emission`): the decision is made per event, so the outputs are the
same however the records are batched. No arithmetic here: every number
comes from `scoring`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import scoring
from schemas.decode import decode_event
from schemas.errors import DeadLetterReason, DecodeError
from schemas.events import Event, Family
from schemas.outputs import Alert, DeadLetter, ScoreRecord, Transition

log = logging.getLogger(__name__)

MAX_DEAD_LETTER_PAYLOAD = 4096


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A Kafka record as the agent received it."""

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


class BatchProcessor:
    """Stateless between batches: state lives in the table behind load/save."""

    def __init__(
        self,
        config: scoring.ScoringConfig,
        families_by_topic: dict[str, Family],
        model: Callable[[], scoring.ChurnModel],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.families_by_topic = families_by_topic
        self.model = model
        self.clock = clock

    def run(self, records: Iterable[RawRecord], load: LoadState, save: SaveState) -> BatchOutput:
        out = BatchOutput()
        by_account: dict[str, list[tuple[RawRecord, Event]]] = {}
        for record in records:
            out.received += 1
            try:
                event = self._accept(record)
            except DecodeError as exc:
                out.dead_letters.append(self.dead_letter(record, exc))
                continue
            by_account.setdefault(event.account_id, []).append((record, event))

        model = self.model()
        for account_id, items in by_account.items():
            raw = load(account_id)
            state = scoring.AccountState.from_bytes(raw) if raw else scoring.new_state(account_id)
            applied = False
            for record, event in items:
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
                applied = True
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
            if applied:
                save(account_id, state.to_bytes())
        return out

    def _accept(self, record: RawRecord) -> Event:
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
        self, record: RawRecord, error: DecodeError, event: Event | None = None
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
