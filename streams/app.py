"""The Faust application: only the App and its settings."""

from __future__ import annotations

import ssl

import faust
from faust.auth import SASLCredentials

from streams.settings import Settings
from streams.transport import BatchingApp


def _credentials(settings: Settings) -> SASLCredentials | faust.SSLCredentials | None:
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = ssl.create_default_context() if protocol.endswith("SSL") else None
    if protocol.startswith("SASL"):
        password = settings.kafka_sasl_password
        return SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password else None,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=context,
        )
    return faust.SSLCredentials(context)


def create_app(settings: Settings) -> BatchingApp:
    """A Faust App configured from settings; agents are added by `streams.agents`.

    Its consumer delivers the input topics a fetched batch at a time (see
    `streams.transport`); everything else is Faust as usual.
    """
    app = BatchingApp(
        settings.app_id,
        broker=settings.faust_broker,
        broker_credentials=_credentials(settings),
        store=settings.store,
        datadir=str(settings.data_dir / "worker"),
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # outputs and changelog records are sent a chunk at a time: a few milliseconds of
        # linger and large batches make one produce request per partition out of many
        # chunks (on live traffic, with small chunks, per-request work was the cost)
        producer_linger=0.005,
        producer_max_batch_size=256 * 1024,
        web_enabled=settings.web_enabled,
        web_port=settings.web_port,
        web_host="127.0.0.1",
        key_serializer="raw",
        value_serializer="raw",
        table_standby_replicas=0,
        # states are saved once per commit (streams.state_flush): a longer interval coalesces
        # more of a busy account's events into one save, a shorter one replays fewer
        # events after a crash
        broker_commit_interval=settings.commit_interval_seconds,
        stream_buffer_maxsize=8192,
        broker_max_poll_records=settings.batch_size,
        # a crashed worker's partitions move to the others after this long without
        # a heartbeat (Faust's default, 60 s, held them that long after a kill -9)
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_seconds / 3),
    )
    app.batched_topics = frozenset(settings.input_topics.values())
    app.max_family_skew = settings.max_family_skew_seconds
    return app
