"""`process`: one event in, the new state and everything it implies out.

    state, event --(dedupe, then lateness)--> apply to facts --> fold sealed days
        --> evaluate facts at the watermark (signals, health, churn risk)
        --> classify with the memory's previous classes (hysteresis)
        --> memory: daily health point, churn snapshots and their labels
        --> alerts: rising edges of alert conditions, cool-downs (scoring.alerts)
        --> emit: is the score worth publishing? (scoring.emission)
        --> StepResult(state, score, transitions, alerts, emit, examples)

`tick` runs the same path from "evaluate" on, with no event: the account is
re-evaluated at a later event time, so silence moves its score.

Exactly-once is keyed on the event id alone: an event whose id is among the
account's most recent `limits.recent_event_ids` events is a duplicate when
its content (every field but the envelope's ids and schema version, ts
included) is the same: `score` is None and the state is returned unchanged,
however old the event (a redelivered batch is counted as duplicates, not as
late). With a different content it is a conflicting duplicate: `process`
raises ConflictingDuplicateError and the streams layer dead-letters it
(reason `conflicting_duplicate`): it is neither applied twice nor dropped.
Lateness rule: any other event is too late when its ts is before the newest
ts of its family minus `allowed_lateness`: `process` raises TooLateError for
it, and the streams layer dead-letters it (reason `too_late`); `is_too_late`
asks beforehand.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from datetime import datetime
from functools import partial

import orjson

from schemas.events import FAMILY_BY_TYPE, Event, Family
from schemas.outputs import Alert, ScoreRecord, Transition
from scoring import alerts as alerting
from scoring import emission, outputs
from scoring.bounded import (
    UNKNOWN_CONTENT,
    content_fingerprint,
    find_id,
    id_hash,
    id_record,
    insert_recent_id,
)
from scoring.churn import ChurnModel, LabelledExample
from scoring.config import ScoringConfig
from scoring.decay import DAY, day_of
from scoring.errors import ConflictingDuplicateError, ScoringError, TooLateError
from scoring.evaluate import evaluate
from scoring.facts import EVENT_FAMILIES, Clock
from scoring.memory import advance_memory
from scoring.outputs import as_datetime, drivers_once, score_record, signal_effects
from scoring.reducers import REDUCERS
from scoring.scratch import Scratch
from scoring.state import AccountState, new_state
from scoring.step import Step

_FAMILY_INDEX: dict[Family, int] = {Family(name): i for i, name in enumerate(EVENT_FAMILIES)}

_U32 = 2**32 - 1
_FAMILIES = 4  # exactly-once buckets: the two low bits of an id key name the family
assert len(_FAMILY_INDEX) == _FAMILIES


class StepResult:
    """What one event did: the new state, the score, transitions, alerts and churn examples.

    Immutable. `score` is None only when the event was a duplicate (then
    `state` is the input state and `duplicate` is True). It is built on first
    access and then kept: building a ScoreRecord costs about as much as the
    scoring step itself, and the streams layer publishes only the scores with
    `emit` True (`scoring.emission`), so read `duplicate` and `emit` first.
    """

    __slots__ = ("_build", "_score", "alerts", "emit", "examples", "state", "transitions")
    state: AccountState
    transitions: tuple[Transition, ...]
    alerts: tuple[Alert, ...]
    emit: bool
    examples: tuple[LabelledExample, ...]
    _score: ScoreRecord | None
    _build: Callable[[], ScoreRecord] | None

    def __init__(
        self,
        state: AccountState,
        score: ScoreRecord | Callable[[], ScoreRecord] | None,
        transitions: tuple[Transition, ...] = (),
        examples: tuple[LabelledExample, ...] = (),
        alerts: tuple[Alert, ...] = (),
        emit: bool | None = None,
    ) -> None:
        _set(self, "state", state)
        _set(self, "transitions", transitions)
        _set(self, "alerts", alerts)
        _set(self, "emit", score is not None if emit is None else emit)
        _set(self, "examples", examples)
        _set(self, "_score", score if isinstance(score, ScoreRecord) else None)
        _set(self, "_build", None if isinstance(score, ScoreRecord) else score)

    @property
    def duplicate(self) -> bool:
        """The event was a duplicate: nothing changed, there is no score (without building it)."""
        return self._score is None and self._build is None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"StepResult is immutable (cannot set {name!r})")

    @property
    def score(self) -> ScoreRecord | None:
        if self._score is None and self._build is not None:
            _set(self, "_score", self._build())
            _set(self, "_build", None)
        return self._score

    def __repr__(self) -> str:
        return (
            f"StepResult(account={self.state.account_id!r}, score={self.score!r}, "
            f"transitions={len(self.transitions)}, alerts={len(self.alerts)}, emit={self.emit}, "
            f"examples={len(self.examples)})"
        )


_set = object.__setattr__


def _family_index(event: Event) -> int:
    return _FAMILY_INDEX[FAMILY_BY_TYPE[event.type]]


def is_too_late(state: AccountState | None, event: Event, config: ScoringConfig) -> bool:
    """True when `event.ts` < the newest ts seen for the account *in the event's family*
    - allowed_lateness. Events of different families may interleave in any order (each
    family has its own topic), so only lateness within a family can be bounded."""
    if state is None:
        return False
    family = _family_index(event)
    newest = state.clock.family_max[family]
    for waiting in state.pending:  # events not settled yet count as seen
        t = waiting.ts.timestamp()
        if (newest is None or t > newest) and _family_index(waiting) == family:
            newest = t
    return newest is not None and event.ts.timestamp() < newest - config.lateness_seconds


def _id_key(ts: float, event_id: str, family: int) -> tuple[int, int]:
    """The exactly-once key of an event: (ts second, 48-bit id hash whose two lowest bits
    are replaced by the event's family, the bucket it is remembered in)."""
    return min(_U32, max(0, int(ts))), (id_hash(event_id) & ~3) | family


_ENVELOPE = ("event_id", "account_id", "schema_version")
_TIMES = ("ts", "due", "term_end")


def fingerprint(event: Event) -> int:
    """The content fingerprint of an event: every field but its ids and schema version
    (type and ts included), as canonical JSON, times as POSIX seconds (the same instant
    written with another offset is the same content)."""
    content = dict(event.__dict__)
    for name in _ENVELOPE:
        del content[name]
    for name in _TIMES:
        value = content.get(name)
        if value is not None:
            content[name] = value.timestamp()
    return content_fingerprint(orjson.dumps(content, option=orjson.OPT_SORT_KEYS))


def _repeat(ids: bytes, key: tuple[int, int], event: Event) -> bool | None:
    """None: the id is new. True: the same id with the same content (a duplicate).
    False: the same id with another content (a conflicting duplicate)."""
    found = find_id(ids, key[1])
    if found is None:
        return None
    ts, remembered = found
    return ts == key[0] and remembered in (UNKNOWN_CONTENT, fingerprint(event))


def _pending_repeat(pending: tuple[Event, ...], event: Event) -> bool | None:
    """As `_repeat`, against the events waiting to settle."""
    for waiting in pending:
        if waiting.event_id == event.event_id:
            return fingerprint(waiting) == fingerprint(event)
    return None


def is_duplicate(state: AccountState, event: Event) -> bool:
    """The event's id is among the account's recent events, with the same content."""
    key = _id_key(event.ts.timestamp(), event.event_id, _family_index(event))
    return _repeat(state.clock.recent_ids, key, event) is True


def is_conflicting_duplicate(state: AccountState, event: Event) -> bool:
    """The event's id is among the account's recent events, with another content."""
    key = _id_key(event.ts.timestamp(), event.event_id, _family_index(event))
    return _repeat(state.clock.recent_ids, key, event) is False


def _admit(state: AccountState, event: Event, config: ScoringConfig) -> tuple[int, int] | None:
    """The event's exactly-once key if it is to be applied (or queued); None when it is a
    duplicate of an applied or a queued event (same id, same content). Raises
    ConflictingDuplicateError for the same id with another content, and TooLateError for
    an event older than its family's newest minus `allowed_lateness`. Both the arrival
    path and the settling path admit an event here."""
    key = _id_key(event.ts.timestamp(), event.event_id, _family_index(event))
    repeat = _repeat(state.clock.recent_ids, key, event)
    if repeat is None:
        repeat = _pending_repeat(state.pending, event)
    if repeat is True:
        return None
    if repeat is False:
        raise ConflictingDuplicateError(
            f"event {event.event_id!r} was applied before with another content "
            f"(another ts, type or payload); this version is not applied"
        )
    if is_too_late(state, event, config):
        raise TooLateError(f"event {event.event_id!r} is older than the allowed lateness")
    return key


def _push_evidence(
    old: tuple[tuple[int, str], ...], item: tuple[int, str], cap: int
) -> tuple[tuple[int, str], ...]:
    """Keep the `cap` newest (ts second, event id) pairs of a source, ascending."""
    if len(old) >= cap and item <= old[0]:
        return old
    i = bisect.bisect_left(old, item)
    if i < len(old) and old[i] == item:
        return old
    new = (*old[:i], item, *old[i:])
    return new[len(new) - cap :] if len(new) > cap else new


def _latest_event_id(state: AccountState) -> str:
    pairs = [p for v in state.evidence.values() for p in v]
    return max(pairs)[1] if pairs else ""


def apply_event(
    state: AccountState, event: Event, ts: float, key: tuple[int, int], config: ScoringConfig
) -> AccountState:
    """The state with the event (exactly-once `key`) merged into its facts (memory untouched)."""
    clock = state.clock
    h = key[1]
    cap = config.limits.recent_event_ids
    record = id_record(*key, fingerprint(event))
    ids = insert_recent_id(clock.recent_ids, record, cap, _FAMILIES, floor=max(1, cap // 8))
    old_max = clock.max_ts
    watermark = ts if old_max is None or ts > old_max else old_max
    first = ts if clock.first_ts is None or ts < clock.first_ts else clock.first_ts
    family = _family_index(event)
    old_family_max = clock.family_max[family]
    family_max = ts if old_family_max is None or ts > old_family_max else old_family_max
    new_clock = Clock(
        watermark,
        first,
        clock.events_applied + 1,
        ids,
        (*clock.family_max[:family], family_max, *clock.family_max[family + 1 :]),
    )

    s = Scratch(state.usage, state.support, state.billing, state.success, config)
    source = REDUCERS[event.type](s, event, ts, day_of(ts), h)

    evidence = state.evidence
    if source is not None:
        cap = max(1, config.limits.driver_event_ids)
        pushed = _push_evidence(evidence.get(source, ()), (key[0], event.event_id), cap)
        evidence = {**evidence, source: pushed}

    lateness = config.lateness_seconds
    seal_day = day_of(family_max - lateness)
    sealing = old_family_max is None or seal_day > day_of(old_family_max - lateness)
    usage, support, billing, success = s.finish(
        seal_day if sealing else None, EVENT_FAMILIES[family]
    )
    return AccountState(
        state.account_id,
        new_clock,
        usage,
        support,
        billing,
        success,
        evidence,
        state.memory,
        state.pending,
        state.pending_ticks,
    )


def process(
    state: AccountState | None, event: Event, config: ScoringConfig, model: ChurnModel
) -> StepResult:
    """Apply one event (in event-time order per account, within lateness) and score the account."""
    if state is None:
        state = new_state(event.account_id)
    elif state.account_id != event.account_id:
        raise ScoringError(
            f"event for {event.account_id!r} applied to the state of {state.account_id!r}"
        )
    if config.settle_seconds > 0 or state.pending or state.pending_ticks:
        return _process_settling(state, event, config, model)
    return _process_now(state, event, config, model)


def _process_now(
    state: AccountState, event: Event, config: ScoringConfig, model: ChurnModel
) -> StepResult:
    """Apply the event to the facts and advance the memory at once (the arrival order)."""
    key = _admit(state, event, config)
    if key is None:
        return StepResult(state, None)
    ts = event.ts.timestamp()
    applied = apply_event(state, event, ts, key, config)
    cancel_ts = ts if event.type == "subscription_cancelled" else None
    return _step(state, applied, event.ts, event.event_id, cancel_ts, config, model)


def _step(
    state: AccountState,
    applied: AccountState,
    at: datetime,
    event_id: str,
    cancel_ts: float | None,
    config: ScoringConfig,
    model: ChurnModel,
    ticking: bool = False,
) -> StepResult:
    """Evaluate `applied` (an event, or with `ticking` a tick, applied to `state`) at its
    watermark and advance the memory: the path an event and a tick share."""
    ev = evaluate(applied, config, model)
    when = at if at.timestamp() == ev.now_ts else as_datetime(ev.now_ts)
    advanced = advance_memory(applied, ev, cancel_ts, config, model)
    step = Step(
        state=applied,
        ev=ev,
        classes=advanced.classes,
        trends=advanced.trends,
        at=when,
        event_id=event_id,
        config=config,
        model=model,
        drivers=drivers_once(ev, applied.evidence, config),
        ticking=ticking,
    )
    transitions = outputs.transitions(step)
    previous = applied.memory
    held = alerting.conditions(applied, step.classes, ev, config, ticking)
    alerts: tuple[Alert, ...] = ()
    fired = previous.fired
    if held != previous.conditions:  # a rising edge is possible
        alerts, fired = alerting.raise_alerts(step, held)
        changed = True
    else:
        changed = bool(
            transitions
            or step.classes.happiness != previous.happiness
            or (
                applied.billing is not state.billing
                and applied.billing.cancelled != state.billing.cancelled
            )
        )
    emit, emitted = emission.decide(previous, ev, changed, config)
    covered = previous.covered_since
    if covered is None and ev.health.coverage >= config.alerts.health_drop_min_coverage:
        covered = ev.now_day
    effects = signal_effects(ev) if emit else previous.emitted_effects
    new = applied.with_memory(advanced.memory(held, fired, emitted, covered, effects))
    return StepResult(
        new, partial(score_record, step), transitions, advanced.examples, alerts, emit
    )


def tick_id(ts: float) -> str:
    """The event id a tick at `ts` stamps on its score, transitions and alerts:
    `tick:<UTC time, ISO 8601>`, so a replay of the same ticks gives the same ids."""
    return "tick:" + as_datetime(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


def tick(state: AccountState, ts: float, config: ScoringConfig, model: ChurnModel) -> StepResult:
    """Re-evaluate an account at event time `ts` with no event of its own; with
    `settle_hours`, the tick is queued with the events and settles in its place among them
    (`_tick_settling`)."""
    if config.settle_seconds > 0 or state.pending or state.pending_ticks:
        return _tick_settling(state, ts, config, model)
    return _tick_now(state, ts, config, model)


def _tick_now(
    state: AccountState, ts: float, config: ScoringConfig, model: ChurnModel
) -> StepResult:
    """Re-evaluate an account at event time `ts` with no event of its own (docs/scoring.md,
    "The clock").

    The evaluation time (`Clock.max_ts`) moves to `ts`, and the account goes through the
    very path an event takes after it is applied: decayed signals, health, classes,
    daily health point and trends, alert conditions, emission. Nothing else of the
    clock moves: the family watermarks that lateness and the sealing of decayed counters
    are measured against stay where the account's events left them, so a tick never
    makes a later ordinary event too late. The outputs carry the event id `tick_id(ts)`.

    A tick at or before the account's evaluation time, or on an account with no event
    applied, changes nothing: `score` is None and `emit` False.
    """
    clock = state.clock
    if clock.max_ts is None or ts <= clock.max_ts:
        return StepResult(state, None, emit=False)
    moved = Clock(ts, clock.first_ts, clock.events_applied, clock.recent_ids, clock.family_max)
    applied = AccountState(
        state.account_id,
        moved,
        state.usage,
        state.support,
        state.billing,
        state.success,
        state.evidence,
        state.memory,
        state.pending,
        state.pending_ticks,
    )
    return _step(state, applied, as_datetime(ts), tick_id(ts), None, config, model, ticking=True)


# --- settling: the published path on settled event time ------------------------------


def _pending_key(event: Event) -> tuple[float, int, str]:
    """The order events settle in: event time, ties broken by id (never by arrival)."""
    return event.ts.timestamp(), id_hash(event.event_id), event.event_id


def _newest(state: AccountState) -> float:
    """The newest event or tick time the account has seen, settled or not."""
    times = [t for t in state.clock.family_max if t is not None]
    if state.clock.max_ts is not None:
        times.append(state.clock.max_ts)
    if state.pending:
        times.append(state.pending[-1].ts.timestamp())
    if state.pending_ticks:
        times.append(state.pending_ticks[-1])
    return max(times)


def _horizon(state: AccountState, config: ScoringConfig) -> float:
    """What is older than this settles: the newest time seen minus `settle_hours`; with
    `settle_hours` 0 (a config that stopped settling), everything waiting."""
    if config.settle_seconds <= 0:
        return float("inf")
    return _newest(state) - config.settle_seconds


def _process_settling(
    state: AccountState, event: Event, config: ScoringConfig, model: ChurnModel
) -> StepResult:
    """Queue the event, then settle every queued event older than the newest event time
    seen minus `settle_hours`, in event-time order (`_release`)."""
    if _admit(state, event, config) is None:
        return StepResult(state, None)
    pending = state.pending
    at = bisect.bisect_left(pending, _pending_key(event), key=_pending_key)
    queued = state.with_pending((*pending[:at], event, *pending[at:]))
    return _release(queued, _horizon(queued, config), config, model)


def _release(
    state: AccountState,
    horizon: float,
    config: ScoringConfig,
    model: ChurnModel,
    queued: bool = True,
) -> StepResult:
    """Settle the queued events and ticks older than `horizon` (and, past
    `limits.pending_events`, the oldest events) one by one in event-time order, a tick
    before the events of its own time: each event through the whole path
    (`_process_now`), each tick re-evaluating the settled account (`_tick_now`) if it is
    live then (it has events and is not cancelled, as `streams.clock.is_live` asks), and
    before each of them a tick at every day boundary the settled account passes
    (`_tick_days`), so the settled path does not depend on when tick records come.
    The outputs of all those steps, the score of the last. With nothing settled, the
    score is *provisional* (every queued event's facts, classes from the settled memory)
    and not emitted; it is None when the state did not change (nothing `queued` by the
    caller, nothing settled)."""
    events, ticks = state.pending, state.pending_ticks
    over = len(events) - config.limits.pending_events
    settled = state.with_pending((), ())  # each queued event was checked as it arrived
    steps: list[StepResult] = []
    i = j = 0
    while True:
        event_due = i < len(events) and (i < over or events[i].ts.timestamp() < horizon)
        tick_due = j < len(ticks) and ticks[j] < horizon
        if tick_due and (not event_due or ticks[j] <= events[i].ts.timestamp()):
            settled = _tick_days(settled, ticks[j], config, model, steps)
            if settled.clock.max_ts is not None and not settled.billing.cancelled:
                step = _tick_now(settled, ticks[j], config, model)  # a tick off midnight
                if not step.duplicate:
                    settled = step.state
                    steps.append(step)
            j += 1
        elif event_due:
            settled = _tick_days(settled, events[i].ts.timestamp(), config, model, steps)
            step = _process_now(settled, events[i], config, model)
            settled = step.state
            steps.append(step)
            i += 1
        else:
            break
    if not steps:
        if not queued and i == 0 and j == 0:  # nothing changed
            return StepResult(state, None, emit=False)
        current = settled.with_pending(events[i:], ticks[j:])
        return StepResult(current, lambda: _provisional_score(current, config, model), emit=False)
    current = settled.with_pending(events[i:], ticks[j:])
    last = steps[-1]

    def build() -> ScoreRecord:
        score = last.score
        assert score is not None  # a step that is no duplicate has a score
        return score

    return StepResult(
        current,
        build,
        tuple(t for s in steps for t in s.transitions),
        tuple(e for s in steps for e in s.examples),
        tuple(a for s in steps for a in s.alerts),
        any(s.emit for s in steps),
    )


def _tick_days(
    settled: AccountState,
    upto: float,
    config: ScoringConfig,
    model: ChurnModel,
    steps: list[StepResult],
) -> AccountState:
    """Tick the settled account at every day boundary (UTC midnight) after its time up to
    `upto`, while it is live (it has events and is not cancelled, as
    `streams.clock.is_live` asks): the settled path ticks itself every day, as
    `score-file` does, whenever the tick records of the worker come."""
    at = settled.clock.max_ts
    if at is None:
        return settled
    day = int(at // DAY) + 1
    while day * DAY <= upto and not settled.billing.cancelled:
        step = _tick_now(settled, day * DAY, config, model)
        if not step.duplicate:
            settled = step.state
            steps.append(step)
        day += 1
    return settled


def _tick_settling(
    state: AccountState, ts: float, config: ScoringConfig, model: ChurnModel
) -> StepResult:
    """Queue a tick at `ts` (unless the settled account is already there, or the tick is
    queued), then settle what is older than the newest time seen minus `settle_hours`."""
    ticks = state.pending_ticks
    settled_at = state.clock.max_ts
    if settled_at is None and not state.pending:  # no event yet: nothing to re-evaluate
        return StepResult(state, None, emit=False)
    queued = (settled_at is None or ts > settled_at) and ts not in ticks
    if queued:
        at = bisect.bisect_left(ticks, ts)
        state = state.with_pending(state.pending, (*ticks[:at], ts, *ticks[at:]))
    return _release(state, _horizon(state, config), config, model, queued)


def _provisional_score(
    state: AccountState, config: ScoringConfig, model: ChurnModel
) -> ScoreRecord:
    """The score of the settled state with the facts of the queued events added."""
    facts = state.with_pending((), ())
    for event in state.pending:
        ts = event.ts.timestamp()
        facts = apply_event(
            facts, event, ts, _id_key(ts, event.event_id, _family_index(event)), config
        )
    return score_state(facts, config, model)


def settle(state: AccountState, config: ScoringConfig, model: ChurnModel) -> StepResult:
    """Settle every queued event now (`settle_hours`: the end of the input, e.g. the end of
    a file): their outputs as `_release` gives them. `score` None when none was queued."""
    if not state.pending and not state.pending_ticks:
        return StepResult(state, None, emit=False)
    return _release(state, float("inf"), config, model, queued=False)


def score_state(
    state: AccountState, config: ScoringConfig, model: ChurnModel, scorecard: str | None = None
) -> ScoreRecord:
    """Score a state without changing it, optionally with another scorecard (shadow runs).

    Hysteresis starts from the state's memory; `config_version` becomes
    `<version>:shadow:<scorecard>` when a scorecard is named.
    """
    if state.clock.max_ts is None:
        raise ScoringError("cannot score an account with no events applied")
    if scorecard is not None and scorecard not in config.scorecards:
        raise ScoringError(f"no scorecard {scorecard!r} in config {config.version}")
    card = None if scorecard is None else config.scorecards[scorecard]
    ev = evaluate(state, config, model, card)
    advanced = advance_memory(state, ev, None, config, model)
    step = Step(
        state=state,
        ev=ev,
        classes=advanced.classes,
        trends=advanced.trends,
        at=as_datetime(ev.now_ts),
        event_id=_latest_event_id(state),
        config=config,
        model=model,
        drivers=drivers_once(ev, state.evidence, config),
    )
    record = score_record(step)
    if scorecard is None:
        return record
    return record.model_copy(update={"config_version": f"{config.version}:shadow:{scorecard}"})


def process_shadow(
    state: AccountState, config: ScoringConfig, model: ChurnModel
) -> ScoreRecord | None:
    """The score under `config.shadow_scorecard` (None when the config names none)."""
    if config.shadow_scorecard is None or state.clock.max_ts is None:
        return None
    return score_state(state, config, model, config.shadow_scorecard)
