"""One churn model for the whole deployment: its learner, its published versions, its record.

Three parts, all in every worker process (docs/operations.md, The churn model):

* Examples. Each worker sends the labelled examples its accounts yield to the
  `<prefix>.churn-examples` topic (`streams.sinks`, with the other outputs, so they are
  durable before the offsets that caused them are committed).
* The learner (`ChurnLearnerTask`). The examples topic has one partition, read by an
  aiokafka consumer in its own group (`<app id>-churn-learner`): Kafka gives that
  partition to exactly one worker, and to another within the session timeout when that
  one leaves or dies. The owner feeds the examples, in topic order, to
  `scoring.ChurnLearner` and publishes each new model version to the compacted
  `<prefix>.churn-models` topic (keys `version:<v>` and `current`), then a checkpoint
  (key `learner`: the model plus the offset of the next example it has not seen) and
  the track record (key `track`, and the `churn_track_record` table). A new owner
  rebuilds the learner by replaying the retained examples from the start of the topic
  (the learner's refits use a buffer of past examples, which is too large for one
  Kafka record): the learner is deterministic in the example sequence, so it reaches
  the checkpoint's model, publishing nothing until it passes the checkpoint's offset,
  then carries on as the old owner would have. Examples are deduplicated by (account,
  snapshot time) over a bounded window, since a worker that crashes before a commit
  sends its examples again.
* The feed (`ModelFeed`). Every worker reads the models topic from the beginning at
  start, before it scores anything, then follows it: it scores with the newest
  version, or with `HEALTHSCORE_CHURN_MODEL_PIN`'s version only. Each score names the
  version it used (`model_version`).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import struct
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import faust
import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

import scoring
from streams.clickhouse.rows import TRACK_RECORD_COLUMNS, track_record_row
from streams.clickhouse.writer import ClickHouseWriter
from streams.settings import Settings
from streams.sinks import OutputSink
from streams.topics import Topics

log = logging.getLogger(__name__)

CURRENT = b"current"
CHECKPOINT = b"learner"
TRACK = b"track"
VERSION_PREFIX = b"version:"
DEFAULT_PIN = "default"
SEEN_WINDOW = 50_000
"""Examples remembered by (account, snapshot time) to drop ones a worker sent twice."""

Send = Callable[[str, bytes, bytes], Awaitable[None]]


def version_key(version: str) -> bytes:
    return VERSION_PREFIX + version.encode()


def kafka_kwargs(settings: Settings) -> dict[str, Any]:
    """Connection settings of a plain aiokafka client, as the Faust app has them."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    protocol = settings.kafka_security_protocol
    if protocol.endswith("SSL"):
        kwargs["ssl_context"] = ssl.create_default_context()
    if protocol.startswith("SASL"):
        password = settings.kafka_sasl_password
        kwargs["sasl_mechanism"] = settings.kafka_sasl_mechanism
        kwargs["sasl_plain_username"] = settings.kafka_sasl_username
        kwargs["sasl_plain_password"] = password.get_secret_value() if password else None
    return kwargs


# --- the records of the models topic -----------------------------------------------


def encode_checkpoint(model: scoring.ChurnModel, next_offset: int) -> bytes:
    return struct.pack(">q", next_offset) + model.to_bytes()


def decode_checkpoint(value: bytes) -> tuple[scoring.ChurnModel, int]:
    (next_offset,) = struct.unpack(">q", value[:8])
    return scoring.ChurnModel.from_bytes(value[8:]), next_offset


def track_doc(
    model: scoring.ChurnModel, computed_at: datetime, margin: float, min_examples: int
) -> list[dict[str, Any]]:
    """The model's track record, one dict per version (oldest first), with the AUC flag."""
    rows = scoring.track_record(model)
    flags = scoring.auc_fell(rows, margin, min_examples)
    return [
        {
            "model_version": r.model_version,
            "computed_at": computed_at.isoformat(),
            "examples": r.examples,
            "positives": r.positives,
            "auc": r.auc,
            "auc_previous": previous,
            "auc_fell": fell,
            "mean_predicted": r.mean_predicted,
            "observed_rate": r.observed_rate,
        }
        for r, (previous, fell) in zip(rows, flags, strict=True)
    ]


async def read_models(settings: Settings, topic: str, timeout: float = 30.0) -> dict[bytes, bytes]:
    """The last value of each key of the models topic, read from its beginning to its end."""
    consumer = AIOKafkaConsumer(enable_auto_commit=False, **kafka_kwargs(settings))
    await consumer.start()
    try:
        if topic not in await consumer.topics():
            return {}  # no worker has run yet
        return await _read_to_end(consumer, TopicPartition(topic, 0), {}, timeout)
    finally:
        await consumer.stop()


async def _read_to_end(
    consumer: AIOKafkaConsumer,
    tp: TopicPartition,
    into: dict[bytes, bytes],
    timeout: float,
    apply: Callable[[bytes, bytes], object] | None = None,
) -> dict[bytes, bytes]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    consumer.assign([tp])
    await consumer.seek_to_beginning(tp)
    end = (await consumer.end_offsets([tp]))[tp]
    while await consumer.position(tp) < end:
        if loop.time() > deadline:
            raise TimeoutError(f"could not read {tp.topic} to its end within {timeout}s")
        batch = await consumer.getmany(tp, timeout_ms=500, max_records=1000)
        for record in batch.get(tp, ()):
            if record.key is None or record.value is None:
                continue
            into[record.key] = record.value
            if apply is not None:
                apply(record.key, record.value)
    return into


# --- every worker: the model it scores with ----------------------------------------


class PinNotFound(Exception):
    pass


class ModelFeed:
    """The model this worker scores with: the newest published version, or the pinned one.

    `get` is what the scoring pipeline calls (once per batch). `ready` is set once the
    models topic has been read to its end, so no score is made with a model older than
    the newest one published before the worker started."""

    def __init__(self, config: scoring.ScoringConfig, pin: str | None = None) -> None:
        self.config = config
        self.default = scoring.default_churn_model(config)
        self.pin = self.default.version if pin == DEFAULT_PIN else pin
        self.model = self.default
        self.pin_found = self.pin is None or self.pin == self.default.version
        self.versions: deque[str] = deque(maxlen=20)
        """The last version keys read, for the error message of a pin not found."""
        self.ready = asyncio.Event()

    def get(self) -> scoring.ChurnModel:
        return self.model

    def apply(self, key: bytes, value: bytes) -> scoring.ChurnModel | None:
        """Take one record of the models topic; returns the model if it is now the one used."""
        if key.startswith(VERSION_PREFIX):
            self.versions.append(key[len(VERSION_PREFIX) :].decode(errors="replace"))
        wanted = CURRENT if self.pin is None else version_key(self.pin)
        if key != wanted:
            return None
        try:
            model = scoring.ChurnModel.from_bytes(value)
        except scoring.ScoringError:
            log.exception("churn model record %r is corrupt: ignored", key)
            return None
        if model.config_version != self.config.version or len(model.coefficients) != len(
            self.default.coefficients
        ):
            log.warning(
                "churn model %s was learned under another scoring config: ignored (this "
                "worker runs config %s)", model.version, self.config.version,
            )  # fmt: skip
            return None
        if self.pin is None and model.updates < self.model.updates:
            return None  # an older version published again by a learner resuming
        self.model = model
        self.pin_found = True
        return model

    async def run(self, settings: Settings, topic: str) -> None:
        consumer = AIOKafkaConsumer(enable_auto_commit=False, **kafka_kwargs(settings))
        await consumer.start()
        tp = TopicPartition(topic, 0)
        try:
            await _read_to_end(consumer, tp, {}, timeout=120, apply=self.apply)
            if not self.pin_found:
                raise PinNotFound(
                    f"HEALTHSCORE_CHURN_MODEL_PIN={self.pin}: no such model version on {topic} "
                    f"(published: {', '.join(self.versions) or 'none'})"
                )
            self.ready.set()
            log.info("scoring with churn model %s%s", self.model.version,
                     " (pinned)" if self.pin else "")  # fmt: skip
            while True:
                batch = await consumer.getmany(tp, timeout_ms=1000, max_records=1000)
                for record in batch.get(tp, ()):
                    if record.key is None or record.value is None:
                        continue
                    if (model := self.apply(record.key, record.value)) is not None:
                        log.info("scoring with churn model %s", model.version)
        finally:
            await consumer.stop()


# --- one worker of the deployment: the learner ----------------------------------------


class _Seen:
    """The last `size` example keys, for dropping examples sent twice."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.keys: OrderedDict[tuple[str, float], None] = OrderedDict()

    def add(self, key: tuple[str, float]) -> bool:
        """False if the key was already there."""
        if key in self.keys:
            return False
        self.keys[key] = None
        if len(self.keys) > self.size:
            self.keys.popitem(last=False)
        return True


class ChurnLearnerTask:
    """The deployment's learner, in whichever worker owns the examples partition."""

    def __init__(
        self,
        settings: Settings,
        config: scoring.ScoringConfig,
        examples_topic: str,
        models_topic: str,
        send: Send,
        writer: ClickHouseWriter | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.config = config
        self.examples_topic = examples_topic
        self.models_topic = models_topic
        self.send = send
        self.writer = writer
        self.clock = clock
        self.learner: scoring.ChurnLearner | None = None
        self.quiet_until = 0
        """Examples before this offset were learned by an earlier owner: replayed, but the
        versions they yield are already published."""
        self.next_offset = 0
        self.checkpoint_offset = 0
        """The examples offset of the last checkpoint this owner wrote."""
        self.checkpointed: scoring.ChurnModel | None = None
        self.seen = _Seen(SEEN_WINDOW)
        self.flagged: set[str] = set()
        self.stats = {"examples": 0, "duplicates": 0, "skipped": 0, "versions": 0}

    def _new_learner(self, model: scoring.ChurnModel | None) -> scoring.ChurnLearner:
        return scoring.ChurnLearner(
            self.config,
            model,
            min_per_class=self.settings.churn_min_per_class,
        )

    async def resume(self, consumer: AIOKafkaConsumer, tp: TopicPartition) -> None:
        """This worker now owns the learner: start from the last checkpoint."""
        models = await read_models(self.settings, self.models_topic)
        consumer.seek(tp, self.start_from(models))

    def start_from(self, models: dict[bytes, bytes]) -> int:
        """Take over after the checkpoint in `models` (the models topic's last records);
        returns the examples offset to read from: the start, since the learner is
        rebuilt by replaying every retained example."""
        self.checkpointed, self.quiet_until = None, 0
        if (value := models.get(CHECKPOINT)) is not None:
            model, next_offset = decode_checkpoint(value)
            if model.config_version == self.config.version:
                self.checkpointed, self.quiet_until = model, next_offset
            else:
                log.warning(
                    "churn learner: the checkpoint is of config %s, this worker runs %s: "
                    "learning afresh", model.config_version, self.config.version,
                )  # fmt: skip
        self.learner = self._new_learner(None)
        self.next_offset = 0
        self.checkpoint_offset = self.quiet_until
        self.seen = _Seen(SEEN_WINDOW)
        log.info("churn learner: this worker owns it now; replaying the examples up to "
                 "offset %d before publishing", self.quiet_until)  # fmt: skip
        return 0

    def revoke(self) -> None:
        if self.learner is not None:
            log.info("churn learner: handed over to another worker")
        self.learner = None

    async def feed(self, records: list[Any]) -> None:
        """Learn from a batch of example records (in offset order) and publish what changed."""
        learner = self.learner
        if learner is None:
            return
        start = learner.model
        width = len(start.coefficients)
        for record in records:
            self.next_offset = record.offset + 1
            try:
                example = scoring.example_from_bytes(record.value or b"")
            except scoring.ScoringError:
                log.warning("churn learner: corrupt example at offset %d skipped", record.offset)
                continue
            key = (example.account_id, example.snapshot_ts.timestamp())
            if not self.seen.add(key):
                self.stats["duplicates"] += 1
                continue
            if len(example.features) != width:
                self.stats["skipped"] += 1
                continue
            self.stats["examples"] += 1
            new = learner.add([example])
            if new is not None and record.offset >= self.quiet_until:
                await self._publish_version(new)
        if self.checkpointed is not None and self.next_offset >= self.quiet_until:
            self._caught_up(learner.model)
        if self.next_offset > max(self.quiet_until, self.checkpoint_offset):
            # a batch of duplicates alone moves the checkpoint too: its offset is how far
            # the learner has read, which operators and tests compare with the topic's end
            await self._checkpoint(learner, record=learner.model is not start)

    def _caught_up(self, model: scoring.ChurnModel) -> None:
        done = self.checkpointed
        self.checkpointed = None
        if done is not None and done.version != model.version:
            log.warning(
                "churn learner: the replay reached model %s where the previous owner had %s "
                "(examples past the topic's retention are gone): carrying on from %s",
                model.version, done.version, model.version,
            )  # fmt: skip

    async def _publish_version(self, model: scoring.ChurnModel) -> None:
        # without its track record: scoring does not need it, and every worker reads every
        # version at start (the record is in the checkpoint and under the `track` key)
        value = replace(model, track={}).to_bytes()
        await self.send(self.models_topic, version_key(model.version), value)
        await self.send(self.models_topic, CURRENT, value)
        self.stats["versions"] += 1
        log.info("churn learner: published model %s (%d examples learned; %s)",
                 model.version, model.updates, self.stats)  # fmt: skip

    async def _checkpoint(self, learner: scoring.ChurnLearner, record: bool = True) -> None:
        await self.send(
            self.models_topic, CHECKPOINT, encode_checkpoint(learner.model, self.next_offset)
        )
        self.checkpoint_offset = self.next_offset
        if not record:
            return
        now = self.clock()
        s = self.settings
        doc = track_doc(learner.model, now, s.churn_auc_drop, s.churn_auc_min_examples)
        await self.send(self.models_topic, TRACK, orjson.dumps(doc))
        rows = scoring.track_record(learner.model)
        flags = scoring.auc_fell(rows, s.churn_auc_drop, s.churn_auc_min_examples)
        if self.writer is not None and rows:
            self.writer.add(
                "churn_track_record",
                TRACK_RECORD_COLUMNS,
                [track_record_row(r, now, p, f) for r, (p, f) in zip(rows, flags, strict=True)],
            )
        for r, (previous, fell) in zip(rows, flags, strict=True):
            if fell and r.model_version not in self.flagged:
                self.flagged.add(r.model_version)
                log.warning(
                    "churn model %s: AUC %.3f fell below the previous version's %.3f by more "
                    "than %.3f over %d outcomes; to roll back, set HEALTHSCORE_CHURN_MODEL_PIN "
                    "to an earlier version", r.model_version, r.auc, previous, s.churn_auc_drop,
                    r.examples,
                )  # fmt: skip

    async def run(self) -> None:
        s = self.settings
        consumer = AIOKafkaConsumer(
            group_id=f"{s.app_id}-churn-learner",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(s.session_timeout_seconds * 1000),
            heartbeat_interval_ms=int(min(3.0, s.session_timeout_seconds / 3) * 1000),
            **kafka_kwargs(s),
        )
        await consumer.start()
        tp = TopicPartition(self.examples_topic, 0)
        consumer.subscribe([self.examples_topic], listener=_Listener(self, consumer, tp))
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
                for records in batch.values():
                    await self.feed(records)
        finally:
            await consumer.stop()


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, task: ChurnLearnerTask, consumer: AIOKafkaConsumer, tp: TopicPartition):
        self.task, self.consumer, self.tp = task, consumer, tp

    async def on_partitions_revoked(self, revoked: Any) -> None:
        if self.tp in revoked:
            self.task.revoke()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        if self.tp in assigned:
            await self.task.resume(self.consumer, self.tp)


# --- wiring --------------------------------------------------------------------------


def register_churn_model(
    app: faust.App,
    topics: Topics,
    settings: Settings,
    config: scoring.ScoringConfig,
    sink: OutputSink,
    writer: ClickHouseWriter | None,
    feed: ModelFeed,
) -> None:
    """Run `feed` (whose `get` is the scoring model) and the learner as tasks of `app`.
    A failure of either crashes the worker (a restart reads the topics again)."""
    models_topic = topics.churn_models.get_topic_name()

    async def send(topic: str, key: bytes, value: bytes) -> None:
        await (await sink.send(topic, key, value))

    learner = ChurnLearnerTask(
        settings, config, topics.churn_examples.get_topic_name(), models_topic, send, writer
    )

    async def guarded(name: str, run: Callable[[], Awaitable[None]]) -> None:
        try:
            await topics.churn_models.maybe_declare()
            await topics.churn_examples.maybe_declare()
            await run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.critical("churn %s failed: %s; stopping the worker", name, exc)
            await app.crash(exc)

    @app.task
    async def churn_model_feed() -> None:
        await guarded("model feed", lambda: feed.run(settings, models_topic))

    @app.task
    async def churn_learner() -> None:
        await feed.ready.wait()  # the topics exist, and this worker's start is not held up
        await guarded("learner", learner.run)

    @app.timer(30.0)
    async def report_churn() -> None:
        if (current := learner.learner) is not None:
            log.info("churn learner: model %s, %d examples buffered, %d rejected %s",
                     current.model.version, current.buffered, current.rejected,
                     learner.stats)  # fmt: skip


# --- `healthscore model` ---------------------------------------------------------------


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def format_report(
    models: dict[bytes, bytes],
    config: scoring.ScoringConfig,
    pin: str | None = None,
    version: str | None = None,
) -> str:
    """What `healthscore model` prints: the version workers score with (or `version`), its
    coefficients, the published versions and the track record, from the models topic."""
    feed = ModelFeed(config, pin)
    for key, value in models.items():
        if key != CURRENT:
            feed.apply(key, value)
    if CURRENT in models:  # last, as the topic's newest record
        feed.apply(CURRENT, models[CURRENT])
    published = sorted(
        (k[len(VERSION_PREFIX) :].decode(errors="replace") for k in models
         if k.startswith(VERSION_PREFIX)),
        key=lambda v: (len(v), v),
    )  # fmt: skip
    lines = []
    if version is not None:
        found = models.get(version_key(version))
        if found is None and version != feed.default.version:
            return f"no model version {version} on the topic (published: {', '.join(published)})"
        model = scoring.ChurnModel.from_bytes(found) if found else feed.default
        lines.append(f"churn model {model.version}")
    else:
        model = feed.model
        if feed.pin is not None:
            how = f"pinned by HEALTHSCORE_CHURN_MODEL_PIN={pin}"
            if not feed.pin_found:
                how += " (NOT PUBLISHED: workers refuse to start)"
        elif model is feed.default:
            how = "no model published yet: the config's default coefficients"
        else:
            how = "the newest published version"
        lines.append(f"workers score with churn model {model.version} ({how})")
    lines.append(f"learned from {model.updates} examples (scoring config {model.config_version})")
    lines.append(f"published versions: {', '.join(published) or 'none'}")
    lines.append("coefficients (log-odds per unit of the log-scaled feature; docs/churn.md):")
    lines.append(f"  {'intercept':<28}{model.intercept:+.3f}")
    lines.extend(
        f"  {n:<28}{b:+.3f}" for n, b in zip(model.features, model.coefficients, strict=True)
    )
    track = orjson.loads(models[TRACK]) if TRACK in models else []
    if not track:
        lines.append("track record: no outcomes observed yet")
        return "\n".join(lines)
    lines.append(f"track record (computed {track[-1]['computed_at']}; AUC and calibration "
                 "against observed outcomes, per version that made the predictions):")  # fmt: skip
    lines.append(f"  {'version':<24}{'examples':>9}{'churned':>9}{'auc':>7}{'prev':>7}"
                 f"{'mean p':>8}{'observed':>9}  flag")  # fmt: skip
    for r in track:
        flag = "AUC FELL" if r["auc_fell"] else ""
        lines.append(
            f"  {r['model_version']:<24}{r['examples']:>9}{r['positives']:>9}"
            f"{_fmt(r['auc']):>7}{_fmt(r['auc_previous']):>7}{_fmt(r['mean_predicted']):>8}"
            f"{_fmt(r['observed_rate']):>9}  {flag}"
        )
    return "\n".join(lines)


def model_report(settings: Settings, version: str | None = None) -> str:
    config = scoring.load_config(settings.scoring_config)
    models = asyncio.run(read_models(settings, settings.topic("churn-models")))
    return format_report(models, config, settings.churn_model_pin, version)
