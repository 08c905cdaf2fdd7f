"""`healthscore worker`: wire settings, ClickHouse, the App and its agents, then run."""

from __future__ import annotations

import asyncio
import logging
import time

import faust
from faust.types import TP

import scoring
from streams.agents import Counters, register_scoring_agent
from streams.app import create_app
from streams.churn_model import ModelFeed, kafka_kwargs, register_churn_model
from streams.clickhouse import ClickHouseWriter, connect, migrate
from streams.clock import ClockRecovery, PartitionClock, Recovered
from streams.gcpolicy import GcPolicy
from streams.pipeline import BatchProcessor
from streams.settings import Settings
from streams.sinks import OutputSink
from streams.state_store import StateStore
from streams.tables import declare_state_table
from streams.topics import declare_topics

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_SECONDS = 20.0
"""From SIGTERM (or a crash) to the process exiting, even in a ClickHouse outage."""
CLICKHOUSE_SHUTDOWN_SECONDS = 10.0
"""Of that, how long the rows still pending may take to be written. Then the writer
gives up: the state flush before the last commit stops waiting and nothing more is
committed, so the records whose rows were not written are scored again after a restart.
The rest of the budget is for Faust: the webhook's drain (5 s), the producer's flush,
leaving the group and closing the loop."""


class BoundedShutdownWorker(faust.Worker):
    """Faust's Worker, whose stop (SIGTERM, SIGINT, a crash) starts the ClickHouse
    writer's shutdown budget (`CLICKHOUSE_SHUTDOWN_SECONDS`)."""

    def __init__(self, app: faust.App, writer: ClickHouseWriter, **kwargs: object) -> None:
        super().__init__(app, **kwargs)  # type: ignore[arg-type]
        self.writer = writer

    async def stop(self) -> None:
        self.writer.give_up_at(time.monotonic() + CLICKHOUSE_SHUTDOWN_SECONDS)
        await super().stop()


def build(
    settings: Settings, writer: ClickHouseWriter, gc_policy: GcPolicy | None = None
) -> tuple[faust.App, Counters]:
    """The App with its topics, table and agent, ready for a faust Worker."""
    config = scoring.load_config(settings.scoring_config)
    if config.shadow_scorecard is not None:
        log.info("shadow scorecard %r: its scores go to ClickHouse shadow_scores only",
                 config.shadow_scorecard)  # fmt: skip
    app = create_app(settings)
    topics = declare_topics(app, settings)
    table = declare_state_table(app, settings)
    # scores use the deployment's published churn model (streams.churn_model); until the
    # feed has read the models topic, the default one, which no score is made with
    feed = ModelFeed(config, settings.churn_model_pin)
    crashing: list[asyncio.Future[None]] = []

    def delivery_failed(exc: BaseException) -> None:
        log.critical("a message could not be delivered to Kafka: %r; stopping the worker", exc)
        crashing.append(asyncio.ensure_future(app.crash(exc)))

    sink = OutputSink(
        topics, writer, producer=app.producer._ensure_producer, on_failure=delivery_failed
    )
    processor = BatchProcessor(
        config,
        topics.families_by_topic,
        feed.get,
        catch_up_ticks=settings.clock_enabled,
        states=StateStore.of_table(table, sink.send, settings.state_cache_accounts),
    )
    register_churn_model(app, topics, settings, config, sink, writer, feed)
    webhook = settings.alert_webhook_url
    clock = PartitionClock(settings.clock_live_lag_seconds) if settings.clock_enabled else None
    counters = register_scoring_agent(
        app,
        topics,
        processor,
        sink,
        feed.ready,
        webhook_url=webhook.get_secret_value() if webhook else None,
        alert_route=settings.alert_route,
        gc_policy=gc_policy,
        clock=clock,
        clock_slice_accounts=settings.clock_slice_accounts,
        clock_idle_seconds=settings.clock_idle_seconds,
    )
    if clock is not None:
        register_clock_recovery(app, settings, clock, processor)

    @app.on_before_shutdown.connect
    async def flush_clickhouse(app: faust.App, **_: object) -> None:
        # bounded by the writer's shutdown budget, which the worker's stop started
        writer.flush(timeout=CLICKHOUSE_SHUTDOWN_SECONDS)

    return app, counters


def register_clock_recovery(
    app: faust.App, settings: Settings, clock: PartitionClock, processor: BatchProcessor
) -> None:
    """On each assignment, the clock of the input partitions read to their end resumes
    from the log (`streams.clock.ClockRecovery`), in a task of its own: the rebalance does
    not wait for it."""
    inputs = set(settings.input_topics.values())

    def event_time(record: object) -> float:
        # the checks of the scoring agent: a record it dead-letters raises
        return processor._accept(record).ts.timestamp()  # type: ignore[arg-type]

    def resumed(partition: int, found: Recovered) -> None:
        if found.ticked is not None:  # that tick record was written
            processor.clock_at(partition, found.ticked)

    recovery = ClockRecovery(
        clock,
        kafka_kwargs(settings),
        settings.app_id,
        list(settings.input_topics.values()),
        settings.topic("clock"),
        event_time,
        resumed,
    )
    running: set[asyncio.Task[dict[int, Recovered]]] = set()

    @app.on_partitions_assigned.connect
    async def recover_clock(app: faust.App, assigned: set[TP], **_: object) -> None:
        task = asyncio.ensure_future(
            recovery({tp.partition for tp in assigned if tp.topic in inputs})
        )
        running.add(task)
        task.add_done_callback(running.discard)


def run_worker(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM; write everything pending before exiting."""
    log.info("starting worker: %s", settings.safe_summary())
    ch = connect(settings)
    migrate(ch)
    writer = ClickHouseWriter(
        ch,
        batch_rows=settings.clickhouse_batch_rows,
        flush_seconds=settings.clickhouse_flush_seconds,
        max_pending_rows=settings.clickhouse_max_pending_rows,
    ).start()
    gc_policy = GcPolicy()
    app, _ = build(settings, writer, gc_policy)
    gc_policy.install()  # see streams.gcpolicy
    worker = BoundedShutdownWorker(app, writer, loglevel=settings.log_level, quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        writer.stop(timeout=CLICKHOUSE_SHUTDOWN_SECONDS)  # at once if it already gave up
        log.info("worker stopped; ClickHouse rows written: %d, dead-lettered: %d",
                 writer.stats.rows_written, writer.stats.rows_dead_lettered)  # fmt: skip
    return 0
