"""The scoring agent: batches of raw records through the pipeline into the sinks.

The labelled churn examples a batch yields go out with its other outputs, to the
churn-examples topic; the deployment's one learner reads them (`streams.churn_model`).

With a webhook URL, alerts are also posted to a Slack-compatible webhook by a
task of the app (`streams.webhook`); scoring never waits for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import faust
from faust.types import TP
from mode import CrashingSupervisor

from streams.alert_route import EVERY_ALERT, AlertRoute
from streams.clock import PartitionClock, Tick, topics_unread
from streams.gcpolicy import GcPolicy
from streams.pipeline import BatchOutput, BatchProcessor
from streams.sinks import OutputSink
from streams.state_flush import StateFlusher
from streams.topics import Topics
from streams.transport import BatchingApp, aligned_time
from streams.webhook import AlertWebhook

log = logging.getLogger(__name__)


@dataclass
class Counters:
    received: int = 0
    applied: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    scores: int = 0
    transitions: int = 0
    alerts: int = 0
    shadows: int = 0
    started: float = field(default_factory=time.monotonic)

    def add(self, out: BatchOutput) -> None:
        self.received += out.received
        self.applied += out.applied
        self.duplicates += out.duplicates
        self.dead_letters += len(out.dead_letters)
        self.scores += len(out.scores)
        self.transitions += len(out.transitions)
        self.alerts += len(out.alerts)
        self.shadows += len(out.shadows)


def register_scoring_agent(
    app: BatchingApp,
    topics: Topics,
    processor: BatchProcessor,
    sink: OutputSink,
    model_ready: asyncio.Event | None = None,
    webhook_url: str | None = None,
    alert_route: AlertRoute = EVERY_ALERT,
    chunk_records: int = 500,
    gc_policy: GcPolicy | None = None,
    clock: PartitionClock | None = None,
    clock_slice_accounts: int = 100,
    clock_idle_seconds: float = 60.0,
) -> Counters:
    """The scoring agent and its progress timer; with `webhook_url` (a secret: never
    logged), the alerts `alert_route` admits also go to that Slack-compatible webhook;
    with `gc_policy`, its collection counts go on the progress line (`streams.gcpolicy`).
    With `model_ready`, no record is scored before it is set: the churn model is loaded
    (`streams.churn_model`). With `clock` (and `topics.clock`), the worker writes and
    applies tick records (`register_clock`)."""
    counters = Counters()
    if webhook_url:
        register_alert_webhook(app, sink, AlertWebhook(webhook_url, route=alert_route))

    # The states the agent changes are saved before each commit, once the outputs they
    # caused are durable (`streams.state_flush`), by the store they live in
    # (`streams.state_store`); Faust commits only after that.
    states = processor.states
    input_topics = set(topics.inputs.topics)
    scored: dict[TP, int] = {}
    """Per input topic partition, the offset after the last record scored."""

    flusher = StateFlusher(states, sink.writer)
    app.before_commit = flusher.flush

    @app.on_partitions_revoked.connect
    async def forget_revoked(app: faust.App, revoked: set[TP], **_: object) -> None:
        # Faust committed (so flushed) before this signal; a state changed since then
        # belongs to offsets not committed, which the partition's new owner scores again
        partitions = {tp.partition for tp in revoked if tp.topic in input_topics}
        if clock is not None:
            clock.forget(partitions)
        fetched = getattr(app.consumer, "fetched", {})
        for tp in revoked:
            scored.pop(tp, None)
            fetched.pop(tp, None)
        if partitions and (dropped := states.discard(partitions)):
            log.info("revoked partitions %s: %d unsaved states left to their new owner",
                     sorted(partitions), dropped)  # fmt: skip

    async def prepare() -> None:
        """Create the output topics before the first batch (with their settings,
        e.g. the compacted scores topic, rather than broker defaults)."""
        for topic in topics.outputs:
            await topic.maybe_declare()
        if model_ready is not None and not model_ready.is_set():
            log.info("waiting for the churn model before scoring")
            await model_ready.wait()

    # A crash of this agent crashes the worker (CrashingSupervisor): the process
    # exits, and a restart resumes from committed offsets. Restarting only the
    # agent would leave its uncommitted batch unprocessed until a rebalance.
    @app.agent(topics.inputs, name="score-events", supervisor_strategy=CrashingSupervisor)
    async def score_events(stream: faust.StreamT) -> None:
        await prepare()
        async for event in stream.events():
            records = event.value  # aiokafka's ConsumerRecords, one partition's, in order
            # A fetched batch is scored a chunk at a time, and each chunk's outputs are
            # sent before the next is scored: the first scores leave within
            # milliseconds, and the event loop (fetching, commits, timers) is never
            # held for more than one chunk.
            for start in range(0, len(records), chunk_records):
                async with flusher.chunk():
                    out = processor.score(records[start : start + chunk_records], states.load)
                    flusher.track(await sink.publish(out))
                counters.add(out)
                last = records[min(len(records), start + chunk_records) - 1]
                scored[TP(last.topic, last.partition)] = last.offset + 1
                if clock is not None and out.newest_ts is not None:
                    aligned = aligned_time(event.message) if last is records[-1] else None
                    behind = _behind(app, last.topic, last.partition, last.offset)
                    p = last.partition
                    fetched = getattr(app.consumer, "fetched", {})
                    unfetched = topics_unread(
                        {t: _highwater(app, t, p) for t in input_topics},
                        {t: fetched.get(TP(t, p), 0) for t in input_topics},
                        {t: scored.get(TP(t, p), 0) for t in input_topics},
                    )
                    await send_ticks(
                        clock.observe(
                            last.partition,
                            out.newest_ts,
                            time.time(),
                            out.oldest_ts,
                            last.topic,
                            behind,
                            unfetched,
                            aligned,
                        )
                    )

    clock_topic = None if topics.clock is None else topics.clock.get_topic_name()

    async def send_ticks(ticks: list[Tick]) -> None:
        assert clock_topic is not None
        if ticks:
            log.info("clock: partition %d ticks %s to %s (%d)", ticks[0].partition,
                     _iso_day(ticks[0].ts), _iso_day(ticks[-1].ts), len(ticks))  # fmt: skip
        for tick in ticks:
            processor.clock_at(tick.partition, float(tick.ts))
            await sink.send(
                clock_topic, str(tick.partition).encode(), tick.to_bytes(), tick.partition
            )

    if clock is not None and topics.clock is not None:
        register_clock(
            app, topics.clock, clock, processor, flusher, sink, counters, prepare, send_ticks,
            clock_slice_accounts, clock_idle_seconds,
        )  # fmt: skip

    @app.timer(2.0)
    async def report_progress() -> None:
        elapsed = max(1e-9, time.monotonic() - counters.started)
        f = flusher.last
        g = gc_policy.stats if gc_policy is not None else None
        log.info(
            "received=%d applied=%d duplicates=%d dead_letters=%d scores=%d transitions=%d "
            "alerts=%d rate=%.0f/s clickhouse_pending=%d unsaved_states=%d state_cache=%d/%d "
            "last_flush=%d states in %.0f ms (outputs %.0f, save %.0f: encode %.0f, send %.0f, "
            "yielded %.0f) gc_ms=%.0f "
            "gc_longest_ms=%.0f shadows=%d",
            counters.received, counters.applied, counters.duplicates, counters.dead_letters,
            counters.scores, counters.transitions, counters.alerts, counters.received / elapsed,
            sink.writer.pending_rows, states.unsaved, states.cache.hits, states.cache.misses,
            f.states, f.total_s * 1000, f.outputs_s * 1000, f.save_s * 1000, f.encode_s * 1000,
            f.send_s * 1000, f.yielded_s * 1000,
            sum(g.seconds) * 1000 if g else 0, g.longest * 1000 if g else 0, counters.shadows,
        )  # fmt: skip

    return counters


def _iso_day(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).date().isoformat()


def _highwater(app: faust.App, topic: str, partition: int) -> int | None:
    """The topic partition's highwater as of the last fetch; None before any fetch."""
    try:
        highwater = app.consumer.highwater(TP(topic, partition))
    except Exception:  # no consumer yet, or not assigned: as good as unfetched
        return None
    return None if highwater is None else int(highwater)


def _behind(app: faust.App, topic: str, partition: int, offset: int) -> bool:
    """The topic partition has records after `offset` (its highwater, as of the last
    fetch); False when unknown."""
    highwater = _highwater(app, topic, partition)
    return highwater is not None and offset + 1 < highwater


def register_clock(
    app: faust.App,
    topic: faust.TopicT,
    clock: PartitionClock,
    processor: BatchProcessor,
    flusher: StateFlusher,
    sink: OutputSink,
    counters: Counters,
    prepare: Callable[[], Awaitable[None]],
    send_ticks: Callable[[list[Tick]], Awaitable[None]],
    slice_accounts: int,
    idle_seconds: float,
    sweep_share: float = 0.1,
) -> None:
    """The clock (`streams.clock`, docs/scoring.md "The clock"): an agent applying the tick
    records of the clock topic, one slice of accounts at a time with the event loop free
    between slices, and a timer writing the ticks of idle live partitions. After each slice
    the agent waits so that the sweep takes at most `sweep_share` of the event loop's
    time: a daily sweep has a day to finish, and events must not wait behind it."""
    states = processor.states

    @app.agent(topic, name="apply-ticks", supervisor_strategy=CrashingSupervisor)
    async def apply_ticks(stream: faust.StreamT) -> None:
        await topic.maybe_declare()
        await prepare()
        async for value in stream:
            try:
                tick = Tick.from_bytes(value)
            except (ValueError, KeyError, TypeError):
                log.warning("not a tick record on %s: %r", topic.get_topic_name(), value[:200])
                continue
            clock.ticked(tick.partition, tick.ts)
            began, busy, cpu = time.time(), 0.0, 0.0
            accounts = states.accounts_of(tick.partition)
            busy += time.time() - began
            for start in range(0, len(accounts), slice_accounts):
                slice_began = time.time()
                async with flusher.chunk():
                    cpu_began = time.process_time()
                    out = processor.tick(
                        tick, accounts[start : start + slice_accounts], states.load
                    )
                    cpu += time.process_time() - cpu_began
                    flusher.track(await sink.publish(out))
                counters.add(out)
                spent = time.time() - slice_began
                busy += spent
                # events go first between slices, and have the loop to themselves a while
                await asyncio.sleep(spent * (1 - sweep_share) / sweep_share)
            # (read by `make bench`, bench.sweep_run: the sweep's cost per account)
            # busy: wall time inside the slices (publishing may let events run meanwhile);
            # tick_cpu: CPU time re-scoring the accounts (processor.tick)
            log.info("clock: swept partition %d at %s: accounts=%d busy_ms=%.1f elapsed_ms=%.1f "
                     "began=%.3f tick_cpu_ms=%.1f", tick.partition, _iso_day(tick.ts),
                     len(accounts), busy * 1000, (time.time() - began) * 1000, began,
                     cpu * 1000)  # fmt: skip

    @app.timer(idle_seconds)
    async def idle_ticks() -> None:
        await send_ticks(clock.idle(time.time()))


def register_alert_webhook(app: faust.App, sink: OutputSink, webhook: AlertWebhook) -> None:
    """Deliver the sink's alerts through `webhook`: a task of the app posts them, and a
    clean shutdown gives the queue a few seconds to drain."""
    sink.webhook = webhook

    @app.task
    async def deliver_alerts() -> None:
        await webhook.run()

    @app.timer(30.0)
    async def report_webhook() -> None:
        s = webhook.stats
        if s.submitted:
            log.info(
                "alert webhook: submitted=%d filtered=%d sent=%d failed=%d dropped=%d retries=%d "
                "queued=%d",
                s.submitted, s.filtered, s.sent, s.failed, s.dropped, s.retries, len(webhook.queue),
            )  # fmt: skip

    @app.on_before_shutdown.connect
    async def drain_alerts(app: faust.App, **_: object) -> None:
        if not await webhook.drain(timeout=5.0):
            log.warning("alert webhook: %d alerts left undelivered at shutdown", len(webhook.queue))
