"""`healthscore worker`: wire settings, ClickHouse, the App and its agents, then run."""

from __future__ import annotations

import asyncio
import logging

import faust

import scoring
from streams.agents import Counters, register_scoring_agent
from streams.app import create_app
from streams.churn_model import ModelFeed, register_churn_model
from streams.clickhouse import ClickHouseWriter, connect, migrate
from streams.gcpolicy import GcPolicy
from streams.pipeline import BatchProcessor
from streams.settings import Settings
from streams.sinks import OutputSink
from streams.tables import declare_state_table
from streams.topics import declare_topics

log = logging.getLogger(__name__)


def build(
    settings: Settings, writer: ClickHouseWriter, gc_policy: GcPolicy | None = None
) -> tuple[faust.App, Counters]:
    """The App with its topics, table and agent, ready for a faust Worker."""
    config = scoring.load_config(settings.scoring_config)
    app = create_app(settings)
    topics = declare_topics(app, settings)
    table = declare_state_table(app, settings)
    # scores use the deployment's published churn model (streams.churn_model); until the
    # feed has read the models topic, the default one, which no score is made with
    feed = ModelFeed(config, settings.churn_model_pin)
    processor = BatchProcessor(
        config, topics.families_by_topic, feed.get, cache_size=settings.state_cache_accounts
    )
    crashing: list[asyncio.Future[None]] = []

    def delivery_failed(exc: BaseException) -> None:
        log.critical("a message could not be delivered to Kafka: %r; stopping the worker", exc)
        crashing.append(asyncio.ensure_future(app.crash(exc)))

    sink = OutputSink(
        topics, writer, producer=app.producer._ensure_producer, on_failure=delivery_failed
    )
    register_churn_model(app, topics, settings, config, sink, writer, feed)
    webhook = settings.alert_webhook_url
    counters = register_scoring_agent(
        app,
        topics,
        table,
        processor,
        sink,
        feed.ready,
        webhook_url=webhook.get_secret_value() if webhook else None,
        gc_policy=gc_policy,
    )

    @app.on_before_shutdown.connect
    async def flush_clickhouse(app: faust.App, **_: object) -> None:
        writer.flush(timeout=30)

    return app, counters


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
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        writer.stop(timeout=30)
        log.info("worker stopped; ClickHouse rows written: %d", writer.stats.rows_written)
    return 0
