"""The clock: re-scoring silent accounts as event time passes (docs/scoring.md, "The clock").

`scoring.tick` re-evaluates one account at a later event time. This module says
*when*: at every day boundary of event time, every live account (one whose
subscription is not cancelled) is ticked at the boundary, so each account is
re-evaluated at least once per day of event time, with or without events of its
own. `score-file` drives it from the file's sorted event times (`FileClock`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

import scoring
from scoring.decay import DAY
from streams.statepack import _POSITIONS, _V2  # the value's header: positions only

log = logging.getLogger(__name__)


def day_boundaries(after: float | None, upto: float) -> Iterator[float]:
    """The day boundaries (UTC midnights, epoch seconds) in (after, upto], ascending;
    none when `after` is None (no event time yet)."""
    if after is None:
        return
    day = math.floor(after / DAY) + 1
    while day * DAY <= upto:
        yield day * DAY
        day += 1


def is_live(state: scoring.AccountState) -> bool:
    """An account worth re-scoring: it has events and its subscription is not cancelled
    (a cancelled account is terminal until a new subscription starts), or it has events
    or ticks waiting to settle (`settle_hours`: the core decides as each tick settles)."""
    if state.pending or state.pending_ticks:
        return True
    return state.clock.max_ts is not None and not state.billing.cancelled


def tick_accounts(
    states: MutableMapping[str, scoring.AccountState],
    ts: float,
    config: scoring.ScoringConfig,
    model: scoring.ChurnModel,
) -> Iterator[scoring.StepResult]:
    """Tick every live account of `states` at `ts`, in the mapping's order, storing each new
    state back; yields the steps that re-evaluated something."""
    for account, state in list(states.items()):
        if not is_live(state):
            continue
        step = scoring.tick(state, ts, config, model)
        if step.score is None:
            continue
        states[account] = step.state
        yield step


class FileClock:
    """The clock of a file scored in event-time order: the boundaries a new event time
    crosses, as (ts, tick?, row?) ascending: `tick` at every day boundary, `row` at every
    multiple of `cadence` since the epoch (when a cadence is given)."""

    def __init__(self, cadence: timedelta | None) -> None:
        self.cadence = None if cadence is None else cadence.total_seconds()
        self.now: float | None = None

    def advance(self, ts: float) -> list[tuple[float, bool, bool]]:
        before = self.now
        if before is not None and ts <= before:
            return []
        self.now = ts
        if before is None:
            return []
        marks = {b: (True, False) for b in day_boundaries(before, ts)}
        if self.cadence is not None:
            step = self.cadence
            k = math.floor(before / step) + 1
            while k * step <= ts:
                tick, _ = marks.get(k * step, (False, False))
                marks[k * step] = (tick, True)
                k += 1
        return [(b, tick, row) for b, (tick, row) in sorted(marks.items())]


# --- the worker's clock: tick records in a co-partitioned clock topic ------------------


class Tick(NamedTuple):
    """A tick record of the clock topic: re-score every account of input `partition` at
    `ts`, a day boundary (UTC midnight, epoch seconds)."""

    partition: int
    ts: int

    def to_bytes(self) -> bytes:
        return orjson.dumps({"partition": self.partition, "ts": self.ts})

    @classmethod
    def from_bytes(cls, data: bytes) -> Tick:
        doc = orjson.loads(data)
        partition, ts = doc["partition"], doc["ts"]
        if not isinstance(partition, int) or not isinstance(ts, int) or ts % int(DAY):
            raise ValueError(f"not a tick record: {data[:200]!r}")
        return cls(partition, ts)


def partition_of(value: bytes) -> int | None:
    """The input partition an account's table value says its events come from (the first
    family with a position), or None when it has none. Reads the positions only."""
    if not value.startswith(_V2):
        return None
    positions = _POSITIONS.unpack_from(value, len(_V2))
    for partition in positions[0::2]:
        if partition >= 0:
            return int(partition)
    return None


def topics_unread(
    highwaters: dict[str, int | None], fetched: dict[str, int], scored: dict[str, int]
) -> int:
    """How many input topics of a partition hold its event time back: those not fetched
    yet (highwater None), and those with records fetched that the scoring agent has not
    scored yet (`fetched` past `scored`: the offset after the last record of each). A
    fetched batch waits in the agent's queue behind the batches of other topics: until
    it is scored its event times are unknown, so the partition's time may not pass them
    (a tick written past them would be applied before their events)."""
    return sum(
        highwater is None or fetched.get(topic, 0) > scored.get(topic, 0)
        for topic, highwater in highwaters.items()
    )


@dataclass
class _Partition:
    event_time: float
    """The partition's event time: how far all its input topics have been read."""
    seen_at: float
    """The wall time `event_time` last moved."""
    ticked: float
    """The newest tick written (or read back) for the partition."""
    topics: dict[str, tuple[float, bool]] = field(default_factory=dict)
    """Input topic -> (newest event time read, still behind its end?)."""
    started: bool = False
    """A tick was written or read back: the first day boundary is settled."""


class PartitionClock:
    """When a worker writes tick records, per input partition it owns.

    * **Event time.** A partition's event time is how far its input topics have been
      read: the newest event time of the topics still behind their end (the least of
      them: a worker catching up reads a small topic days ahead of a large one), or the
      newest of all when every topic is read to its end. When it passes a day boundary,
      a tick at that boundary is due. It never moves back.
    * **Idle.** While no newer event arrives, the partition's time goes on with the wall
      clock: `event_time + (wall - seen_at)`, but only for a *live* partition, whose
      event time was within `live_lag` seconds of the wall clock when it last moved. A
      backfill or a catch-up (event time far behind the wall clock) ticks only on its
      own event time, so it never ticks ahead of its events: no false silence.
    * **Lag.** Each partition has its own time: a lagging partition's accounts are
      ticked on that partition's event time only, never on another partition's.
    * **Restart.** A worker assigned a partition whose input topics are all read to their
      end (every record committed) recovers its event time from the log (`ClockRecovery`,
      `resume`): idle ticks go on with no new event.

    Ticks are written to the clock topic, and the scoring agent applies them as it reads
    them, so a replay of the same log sees the same ticks. Applying a tick twice changes
    nothing (`scoring.tick` at or before an account's time is a no-op).
    """

    def __init__(self, live_lag: float = 3600.0) -> None:
        self.live_lag = live_lag
        self.partitions: dict[int, _Partition] = {}
        self.revocations = 0
        """How many times partitions were revoked (a recovery begun before one is void)."""

    def ticked(self, partition: int, ts: float) -> None:
        """A tick record of `partition` at `ts` exists (written, or read back on start)."""
        p = self.partitions.get(partition)
        if p is None:
            self.partitions[partition] = _Partition(ts, -math.inf, ts, started=True)
        elif not p.started or ts > p.ticked:
            p.ticked, p.started = ts, True

    def observe(
        self,
        partition: int,
        event_ts: float,
        wall: float,
        since: float | None = None,
        topic: str = "",
        behind: bool = False,
        unfetched: int = 0,
        aligned: float | None = None,
    ) -> list[Tick]:
        """Events up to `event_ts` were read from `topic` of `partition` at wall time
        `wall` (the oldest of them at `since`, when known; `behind`: the topic has more
        records after them; `unfetched`: how many other input topics of the partition
        were not fetched yet, which hold the partition's time back; `aligned`: the
        partition's time the consumer vouches for, `streams.transport.aligned_time`, which
        moves it past those rules): the ticks now due
        for the partition, each day boundary its event time passed since the last tick
        (since its first event time, when the first events are seen)."""
        start = event_ts if since is None else min(since, event_ts)
        p = self.partitions.get(partition)
        if p is None:
            p = self.partitions[partition] = _Partition(start, wall, start)
        elif not p.started and start < p.ticked:
            # another topic, read later, starts earlier: until the first tick, the ticks
            # start from the partition's earliest event
            p.ticked = p.event_time = start
        newest = p.topics.get(topic, (-math.inf, False))[0]
        p.topics[topic] = (max(newest, event_ts), behind)
        lagging = [ts for ts, late in p.topics.values() if late]
        now = min(lagging) if lagging else max(ts for ts, _ in p.topics.values())
        if aligned is not None and aligned > now:
            now, unfetched = aligned, 0
        if now > p.event_time and not unfetched:
            p.event_time, p.seen_at = now, wall
        return self._due(partition, p, p.event_time)

    def idle(self, wall: float) -> list[Tick]:
        """The ticks due on idle live partitions at wall time `wall` (call it periodically)."""
        due: list[Tick] = []
        for partition, p in sorted(self.partitions.items()):
            if p.seen_at == -math.inf or p.seen_at - p.event_time > self.live_lag:
                continue  # no event seen yet, or behind the wall clock (a backfill): it
                # ticks on its own events only
            now = min(wall, p.event_time + max(0.0, wall - p.seen_at))
            due += self._due(partition, p, now)
        return due

    def resume(self, partition: int, found: Recovered) -> None:
        """`partition`'s time as the log says it was (`ClockRecovery`), for a partition
        assigned to this worker with every record of its input topics read: as if this
        worker had read those records itself, at the wall times they were written. Only
        moves the partition's time forward."""
        p = self.partitions.get(partition)
        if p is None:
            ticked = found.event_time if found.ticked is None else found.ticked
            p = self.partitions[partition] = _Partition(found.event_time, found.seen_at, ticked)
            p.started = found.ticked is not None
        else:
            if found.ticked is not None and (not p.started or found.ticked > p.ticked):
                p.ticked, p.started = found.ticked, True
            if p.seen_at == -math.inf or found.event_time > p.event_time:
                # (a partition known from its tick records only has no event time yet)
                p.event_time, p.seen_at = found.event_time, found.seen_at
        for topic, ts in found.topics.items():
            newest, behind = p.topics.get(topic, (-math.inf, False))
            p.topics[topic] = (max(newest, ts), behind)

    def forget(self, partitions: set[int]) -> None:
        """Partitions revoked: another worker writes their ticks now."""
        self.revocations += 1
        for partition in partitions:
            self.partitions.pop(partition, None)

    @staticmethod
    def _due(partition: int, p: _Partition, now: float) -> list[Tick]:
        ticks = [Tick(partition, int(b)) for b in day_boundaries(p.ticked, now)]
        if ticks:
            p.ticked, p.started = ticks[-1].ts, True
        return ticks


# --- a restarted worker's clock: a partition's event time recovered from the log -------


class Recovered(NamedTuple):
    """What the log says of an input partition's time (`ClockRecovery`)."""

    event_time: float
    """The newest event time of its input topics' last records."""
    seen_at: float
    """The wall time that event was written (its record's Kafka timestamp)."""
    ticked: float | None
    """Its newest tick record, None when it has none."""
    topics: dict[str, float]
    """Input topic -> the newest event time of its last records."""


class ClockRecovery:
    """A worker that starts (or is assigned partitions) knows a partition's event time only
    once it reads one of its events, and the topics of an idle deployment bring none: its
    idle timer would have nothing to tick. So, on assignment, for each input partition
    whose input topics the consumer group has read to their end (everything committed;
    a partition with records left is read, and its clock moves as they are), it reads the
    last records of each input topic (`tail` of them) and the last record of the clock
    topic: the partition's event time is the newest event time among them that the
    scoring agent accepts (`event_time`, which raises for a record it would dead-letter),
    seen at its record's Kafka timestamp, and its ticks go on after the newest tick
    record. The clock then resumes the partition as if this worker had read those
    records (`PartitionClock.resume`): idle ticks go on with no new event.

    A recovery is void if partitions were revoked meanwhile; one that fails is logged,
    and the partition's clock waits for its next event, as without it."""

    def __init__(
        self,
        clock: PartitionClock,
        kafka: dict[str, Any],
        group: str,
        inputs: list[str],
        clock_topic: str,
        event_time: Callable[[Any], float],
        on_resumed: Callable[[int, Recovered], None] = lambda partition, found: None,
        tail: int = 100,
        timeout: float = 30.0,
    ) -> None:
        self.clock = clock
        self.kafka = kafka
        self.group = group
        self.inputs = inputs
        self.clock_topic = clock_topic
        self.event_time = event_time
        self.on_resumed = on_resumed
        self.tail = tail
        self.timeout = timeout

    async def __call__(self, partitions: set[int]) -> dict[int, Recovered]:
        """Recover `partitions` (input partitions just assigned) into the clock; returns
        what was recovered, by partition."""
        if not partitions:
            return {}
        revocations = self.clock.revocations
        try:
            found = await asyncio.wait_for(self.read(partitions), self.timeout)
        except Exception as exc:
            log.warning("clock: recovering partitions %s from the log failed (%r); their ticks "
                        "wait for their next event", sorted(partitions), exc)  # fmt: skip
            return {}
        if self.clock.revocations != revocations:
            return {}
        for partition, recovered in sorted(found.items()):
            self.clock.resume(partition, recovered)
            self.on_resumed(partition, recovered)
            log.info("clock: partition %d resumed from the log: event time %s (written at %s), "
                     "last tick %s", partition, _iso(recovered.event_time),
                     _iso(recovered.seen_at),
                     "none" if recovered.ticked is None else _iso(recovered.ticked))  # fmt: skip
        return found

    async def read(self, partitions: set[int]) -> dict[int, Recovered]:
        """What the log says of each partition of `partitions` read to its end."""
        admin = AIOKafkaAdminClient(**self.kafka)
        consumer = AIOKafkaConsumer(enable_auto_commit=False, **self.kafka)
        await admin.start()
        try:
            await consumer.start()
            try:
                existing = await consumer.topics()
                inputs = [t for t in self.inputs if t in existing]
                tps = [TopicPartition(t, p) for t in inputs for p in sorted(partitions)]
                committed = await admin.list_consumer_group_offsets(self.group, partitions=tps)
                ticks = [TopicPartition(self.clock_topic, p) for p in sorted(partitions)]
                ticks = [tp for tp in ticks if tp.topic in existing]
                begin = await consumer.beginning_offsets([*tps, *ticks])
                end = await consumer.end_offsets([*tps, *ticks])
                read_to_end = {
                    p
                    for p in partitions
                    if all(
                        end[tp] <= max(begin[tp], _offset(committed.get(tp)))
                        for tp in tps
                        if tp.partition == p
                    )
                }
                wanted = {
                    tp: (max(begin[tp], end[tp] - self.tail), end[tp])
                    for tp in tps
                    if tp.partition in read_to_end and end[tp] > begin[tp]
                }
                wanted |= {
                    tp: (end[tp] - 1, end[tp])
                    for tp in ticks
                    if tp.partition in read_to_end and end[tp] > begin[tp]
                }
                records = await _read_ranges(consumer, wanted)
            finally:
                await consumer.stop()
        finally:
            await admin.close()
        return self._recovered(read_to_end, records)

    def _recovered(
        self, partitions: set[int], records: dict[TopicPartition, list[Any]]
    ) -> dict[int, Recovered]:
        found: dict[int, Recovered] = {}
        for p in sorted(partitions):
            topics: dict[str, float] = {}
            newest: tuple[float, float] | None = None
            for topic in self.inputs:
                for record in records.get(TopicPartition(topic, p), []):
                    try:
                        ts = self.event_time(record)
                    except Exception:  # the scoring agent dead-lettered it
                        continue
                    topics[topic] = max(topics.get(topic, -math.inf), ts)
                    if newest is None or ts > newest[0]:
                        stamp = getattr(record, "timestamp", None)
                        seen = stamp / 1000.0 if stamp is not None and stamp >= 0 else time.time()
                        newest = (ts, seen)
            if newest is None:
                continue  # no event: nothing to tick
            ticked = None
            for record in records.get(TopicPartition(self.clock_topic, p), []):
                with contextlib.suppress(ValueError, KeyError, TypeError):  # not a tick
                    ticked = float(Tick.from_bytes(record.value).ts)
            found[p] = Recovered(newest[0], newest[1], ticked, topics)
        return found


def _offset(committed: Any) -> int:
    """A committed offset (aiokafka's OffsetAndMetadata), -1 for none."""
    return -1 if committed is None else int(committed.offset)


async def _read_ranges(
    consumer: AIOKafkaConsumer, ranges: dict[TopicPartition, tuple[int, int]]
) -> dict[TopicPartition, list[Any]]:
    """The records of each topic partition in [start, end) of `ranges`."""
    out: dict[TopicPartition, list[Any]] = {tp: [] for tp in ranges}
    if not ranges:
        return out
    consumer.assign(list(ranges))
    for tp, (start, _) in ranges.items():
        consumer.seek(tp, start)
    left = set(ranges)
    while left:
        batch = await consumer.getmany(*left, timeout_ms=500)
        for tp, records in batch.items():
            end = ranges[tp][1]
            out[tp] += [r for r in records if r.offset < end]
        left = {tp for tp in left if await consumer.position(tp) < ranges[tp][1]}
    return out


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
