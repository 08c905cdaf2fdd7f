"""A Faust transport that delivers the input topics one fetched batch at a time.

Faust hands every Kafka record to its streams as a separate message: per
record it takes a lock, races the callback against a flow-control event in
`wait_first` (two asyncio tasks), builds an Event and passes it through a
queue. Measured on this kind of machine, that path caps a worker at a few
thousand events per second, while aiokafka itself reads ~100x faster.

`BatchingConsumer` keeps everything else of Faust (the consumer group and its
rebalances, table changelogs and recovery, commits) and changes one thing:
for the topics named in `batched_topics`, all the records one fetch returned
for a partition become ONE message whose value is the tuple of raw records
and whose offset is the last record's. The records before it are registered
as an offset gap, which Faust's commit logic treats as acknowledged once the
batch message is acknowledged, so a batch commits only after it is processed
(at-least-once, as before). Before any commit it awaits the app's
`before_commit` hook, if set: the scoring agent's state flush
(`streams.state_flush`), so offsets are never committed ahead of the state changelog.

The family topics are co-partitioned, and a partition's four family topic partitions
are delivered aligned on event time (`streams.align`; docs/scoring.md, "Order
independence"): what a fetch returned for them is held in a buffer per topic partition
and delivered, split where needed, so that no family runs more than
`BatchingApp.max_family_skew` seconds of event time ahead of the slowest family of the
partition with records still to read. A topic partition holding records is not fetched
again until they are out (Faust's own pause set is left alone: its recovery pauses and
resumes whole assignments). A seek or a revocation drops what is held: those records are
fetched again from the new position. Held records are not delivered, so not acknowledged,
and the commit stops before them.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import faust
from faust.serializers import codecs
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message
from faust.types.tuples import ConsumerMessage
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent

from streams.align import Held, plan
from streams.clickhouse.writer import RowsAbandoned
from streams.gaps import Gaps

BATCH_CODEC = "hs-record-batch"


class _RecordBatchCodec(codecs.Codec):
    """Identity: the value is already a tuple of raw records, not bytes."""

    def _loads(self, s: Any) -> Any:
        return s

    def _dumps(self, s: Any) -> bytes:  # pragma: no cover - never produced
        raise TypeError("record batches are consumer-side only")


codecs.register(BATCH_CODEC, _RecordBatchCodec())


FETCH_MAX_WAIT_MS = 20

ALIGNED_TIME_HEADER = "hs-aligned-time"
"""A header of an aligned batch message: the partition's event time once the batch (and
all delivered before it) is scored (`aligned_time`)."""

DRY_WAIT_SECONDS = 30.0
"""How long a family partition with records on the broker, none fetched, and fetched all
along (not paused by Faust) may hold the other families of its partition before it is
treated as caught up (it never is, unless its fetches fail); the order of events is then
the fetches'."""


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        """Faust's consumer, with fetch requests held on the broker at most
        `FETCH_MAX_WAIT_MS` instead of Faust's 1,500 ms. Measured on paced traffic
        (2,200 events/s, 16 input partitions, one broker): with 1,500 ms the records
        reached the agent in ~120-record batches already 0.6-0.9 s old while the
        worker sat 25% idle, and event-to-score latency was p50 1.3 s; with 100 ms,
        p50 0.33 s; records now reach the agent within tens of milliseconds."""
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class BatchingConsumer(faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._gap = defaultdict(Gaps)  # see streams.gaps
        # Commits only every `broker_commit_interval`, from Faust's commit timer. Faust
        # also commits every `broker_commit_every` acknowledged messages, and does so
        # inside the loop that takes fetched records to the agent: that loop then stops
        # for the whole commit, state flush included (1-3 s on live traffic), or, when
        # the timer's commit is running, waits for it to end. Either way no record
        # reached the agent meanwhile.
        self._commit_every = None
        self.fetched: dict[TP, int] = {}
        """Per topic partition, the offset after the last record fetched for the agents
        (in their queues, or scored already) that may hold the partition's event time
        back; the clock compares it with what the scoring agent has scored
        (`streams.clock.topics_unread`): until they are scored, the partition's time waits.
        Aligned records (`_deliver`) hold it back when they are the first delivered, come
        after the partition was read to its end (live traffic), or are older than some
        record delivered before them; records delivered in event-time order after others
        of their topic partition do not: the clock's time is already at most the newest
        time scored of that topic partition, which is behind them."""
        self._held: dict[TP, Held] = {}
        """Per batched topic partition, records fetched and not delivered yet."""
        self._dry_since: dict[TP, float] = {}
        self._delivered: dict[TP, tuple[float, bool]] = {}
        """Per aligned topic partition, the newest event time delivered, and whether it
        was read to its end after that delivery."""

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        """Faust's `_add_gap` (offsets from `offset_from` to `offset_to` included), without
        its interval-tree rebuild per call: `Gaps` merges as it adds."""
        committed = self._committed_offset[tp]
        if committed is not None:
            offset_from = max(offset_from, committed + 1)
        if offset_from <= offset_to:
            self._gap[tp].addi(offset_from, offset_to + 1)

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    @property
    def batched_topics(self) -> frozenset[str]:
        return getattr(self.app, "batched_topics", frozenset())

    @property
    def max_family_skew(self) -> float | None:
        return getattr(self.app, "max_family_skew", None)

    async def _getmany(self, active_partitions: set[TP] | None, timeout: float) -> Any:
        """Fetch, except the topic partitions holding records (see the module's doc)."""
        if active_partitions is not None and self._held:
            active_partitions = active_partitions - self._held.keys()
            if not active_partitions:
                # whatever is held waits for a partition not fetched now (paused by Faust)
                await asyncio.sleep(min(timeout, 0.05))
                return {}
        return await super()._getmany(active_partitions, timeout)

    async def perform_seek(self) -> None:
        self._held.clear()
        self._dry_since.clear()
        self._delivered.clear()
        await super().perform_seek()

    async def seek(self, partition: TP, offset: int) -> None:
        self._held.pop(partition, None)
        self._delivered.pop(partition, None)
        await super().seek(partition, offset)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        for tp in revoked:
            self._held.pop(tp, None)
            self._dry_since.pop(tp, None)
            self._delivered.pop(tp, None)
        await super().on_partitions_revoked(revoked)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        records, active = await self._wait_next_records(timeout)
        if records is None or self.should_stop:
            return
        if not self.flow_active:
            await self.perform_seek()
            return
        generation = self.app.consumer_generation_id
        bound = self.max_family_skew
        direct: list[tuple[TP, list[Any]]] = []
        for tp, batch in records.items():
            if not batch or not (active is None or tp in active or tp in self._buffered_partitions):
                continue
            if bound is None or tp.topic not in self.batched_topics:
                direct.append((tp, batch))
            elif (held := self._held.get(tp)) is not None:
                held.extend(batch)
            else:
                self._held[tp] = Held(list(batch))
        for tp, batch in direct:
            if not self.flow_active or self.app.consumer_generation_id != generation:
                return
            if tp.topic in self.batched_topics:
                yield tp, await self._deliver(tp, batch)
            else:
                self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                for record in batch:
                    yield tp, self._to_message(tp, record)
        if bound is None or not self._held:
            return
        for tp, n, family, more in self._aligned(bound):
            held = self._held.get(tp)
            if (
                held is None
                or not self.flow_active
                or self.app.consumer_generation_id != generation
            ):
                return  # a rebalance or a seek dropped what was held
            chunk, times = held.take(n)
            if not held:
                del self._held[tp]
            message = await self._deliver(tp, chunk, times)
            low = self._low_water(family, more)
            if low is not None:
                message.headers = [(ALIGNED_TIME_HEADER, repr(low).encode())]
            yield tp, message

    def _low_water(self, family: list[TP], more: set[TP]) -> float | None:
        """The partition's event time once what was delivered is scored: the oldest next
        record of its families with records to read (held: the first readable time;
        on the broker only: the newest time delivered, as its topic is read in order);
        None when none has records left (the clock goes on its own)."""
        low = math.inf
        for tp in family:
            held = self._held.get(tp)
            if held:
                low = min(low, next((t for t in held if t is not None), math.inf))
            elif tp in more:
                before = self._delivered.get(tp)
                if before is None:
                    return None
                low = min(low, before[0])
        return None if math.isinf(low) else low

    def _aligned(self, bound: float) -> list[tuple[TP, int, list[TP], set[TP]]]:
        """What to deliver of the held records now, partition by partition (`plan`): the
        steps, each with its partition's family and the members with records to read."""
        assigned = self.assignment()
        fetching = self._get_active_partitions()
        now = time.monotonic()
        steps: list[tuple[TP, int, list[TP], set[TP]]] = []
        for partition in sorted({tp.partition for tp in self._held}):
            family = [
                tp for t in sorted(self.batched_topics) if (tp := TP(t, partition)) in assigned
            ]
            buffers: dict[TP, Held | list[float]] = {tp: self._held.get(tp) or [] for tp in family}
            more = set()
            for tp in family:
                if not self._unread(tp):
                    self._dry_since.pop(tp, None)
                elif tp in self._held or tp not in fetching:
                    # held, or paused by Faust (its stream buffer is full, a recovery): it
                    # is not being fetched, so not overdue
                    more.add(tp)
                    self._dry_since.pop(tp, None)
                elif now - self._dry_since.setdefault(tp, now) < DRY_WAIT_SECONDS:
                    more.add(tp)
                elif self._dry_since[tp] > 0:
                    self.log.warning("%r: no records fetched for %.0f s: not waiting for it",
                                     tp, DRY_WAIT_SECONDS)  # fmt: skip
                    self._dry_since[tp] = -now
            steps += [(tp, n, family, more) for tp, n in plan(buffers, more, bound)]
        return steps

    def _unread(self, tp: TP) -> bool:
        """`tp` has records on the broker past those fetched, or may have (its highwater
        or position is not known yet)."""
        try:
            highwater = self.highwater(tp)
            consumer = self._thread._ensure_consumer()
            state = consumer._subscription.subscription.assignment.state_value(tp)
        except Exception:  # not assigned (any more), or no consumer: nothing to wait for
            return False
        if highwater is None or state is None or not state.has_valid_position:
            return True
        return bool(state.position < highwater)

    async def _deliver(
        self, tp: TP, batch: list[Any], times: list[float | None] | None = None
    ) -> ConsumerMessage:
        """`batch` (consecutive records of a batched topic partition) as one message;
        `times`: their event times, when it is delivered aligned."""
        highwater = self.highwater(tp)
        if times is None:
            holds_time = True
        else:
            readable = [t for t in times if t is not None]
            before = self._delivered.get(tp)
            holds_time = (
                before is None
                or before[1]
                or (bool(readable) and min(readable) < before[0])
                or len(readable) < len(times)
            )
            newest = max(readable, default=-math.inf)
            caught_up = (
                tp not in self._held and highwater is not None and batch[-1].offset + 1 >= highwater
            )
            self._delivered[tp] = (max(newest, before[0] if before else -math.inf), caught_up)
        if holds_time:
            self.fetched[tp] = max(self.fetched.get(tp, 0), batch[-1].offset + 1)
        self.app.monitor.track_tp_end_offset(tp, highwater)
        first, last = batch[0].offset, batch[-1].offset
        if last > first:
            await self._add_gap(tp, first, last - 1)
        return self._batch_message(tp, batch)

    def _batch_message(self, tp: TP, batch: list[Any]) -> ConsumerMessage:
        last = batch[-1]
        return ConsumerMessage(
            last.topic,
            last.partition,
            last.offset,
            (last.timestamp or 0) / 1000.0,
            last.timestamp_type,
            [],
            None,
            tuple(batch),
            None,
            0,
            sum(r.serialized_value_size for r in batch),
            tp,
            generation_id=self.app.consumer_generation_id,
        )

    def _new_offset(self, tp: TP) -> int | None:
        """The offset to commit for `tp`: one past the first unbroken run of processed
        offsets (acked messages and the gaps Faust and this consumer registered).

        Faust's own version appends the gaps to its list of acked offsets and looks for
        the first run of consecutive numbers; but Faust registers a gap *including* the
        offset of the message after it (`_add_gap(tp, previous + 1, offset)`), which is
        then also acked, and the repeated number ends the run. With one message per
        batch that cut every commit to one batch per partition: measured on a paced
        stream, commits crawled ~500 offsets/s behind a worker that had read everything
        (minutes of lag). Here acked offsets and gaps are merged as a set.
        """
        acked = self._acked[tp]
        if not acked:
            return None
        done = set(acked)
        gaps = self._gap[tp]
        if gaps:
            for interval in gaps.overlap(0, max(done) + 1):
                done.update(range(interval.begin, interval.end))
        ordered = sorted(done)
        committed = self._committed_offset[tp]
        # Faust's gaps start at committed + 1 (`_add_gap`): the offset `committed`
        # itself may be missing from both lists, as in Faust's own version
        if committed is not None and ordered[0] - committed > 1:
            return None
        end = ordered[0]
        for offset in ordered:
            if offset > end + 1:
                break
            end = max(end, offset)
        acked[:] = [o for o in ordered if o > end and o in self._acked_index[tp]]
        self._acked_index[tp].intersection_update(acked)
        if gaps:
            gaps.chop(0, end + 1)
        return end + 1

    async def _commit_offsets(self, offsets: Any, start_new_transaction: bool = True) -> bool:
        """Commit only once the app's `before_commit` (the state flush) has run. When the
        ClickHouse writer gave up at shutdown, commit nothing: those offsets are scored
        again after a restart (at-least-once)."""
        before = getattr(self.app, "before_commit", None)
        if before is not None:
            try:
                await before()
            except RowsAbandoned as exc:
                self.log.warning("not committing offsets %r: %s", dict(offsets), exc)
                return False
        return await super()._commit_offsets(offsets, start_new_transaction)  # type: ignore[no-any-return]


def aligned_time(message: Any) -> float | None:
    """The event time of the partition of an aligned batch `message` once it and every
    message delivered before it are scored, or None: every record of the partition's
    family topics not delivered yet is no older (its topic partitions are read in order
    of event time; `streams.clock.PartitionClock.observe` takes it as `aligned`)."""
    for key, value in getattr(message, "headers", None) or ():
        if key == ALIGNED_TIME_HEADER:
            return float(value)
    return None


class ResumeKeepsFreshMessages(FlowControlEvent):
    """Faust's flow control of the stream queues, except that resuming a flow that is
    already running leaves the queues as they are.

    Faust clears every stream queue on `resume()`, to drop what reached a queue while
    the flow was suspended for a rebalance. But its recovery resumes twice: once when
    it starts reading the changelogs, and again when it is done (`on_recovery_completed`),
    after it has resumed the stream partitions and sought them to their committed
    offsets. A record fetched between that seek and the second resume is in the queue
    then, and the clear dropped it: the agent never saw it, it was never acknowledged,
    and Faust's commits, which wait for an unbroken run of processed offsets, stopped
    for that partition for good (faust-streaming issue #596; here 6 of 20 runs of the
    scale-out SIGTERM fault test under load, and 2 full `make test` runs of 3). The
    first resume, from suspended, still clears what a rebalance left behind; resuming
    a running flow changes nothing else, so it is skipped whole."""

    def resume(self) -> None:
        if not self.is_active():
            super().resume()


class BatchingTransport(faust_aiokafka.Transport):
    Consumer = BatchingConsumer


class BatchingApp(faust.App):
    """A Faust App whose consumer batches the topics in `batched_topics`."""

    batched_topics: frozenset[str] = frozenset()
    max_family_skew: float | None = None
    """Seconds of event time a batched topic partition may be delivered ahead of the
    others of its partition number (`streams.align`); None: each as fetched."""
    before_commit: Callable[[], Awaitable[object]] | None = None
    """Awaited before every commit of input offsets (the scoring agent's state flush)."""

    def _new_transport(self) -> Any:
        return BatchingTransport(self.conf.broker_consumer, self)

    @cached_property
    def flow_control(self) -> FlowControlEvent:
        """Flow control of the stream queues (see `ResumeKeepsFreshMessages`)."""
        return ResumeKeepsFreshMessages(loop=self.loop)
