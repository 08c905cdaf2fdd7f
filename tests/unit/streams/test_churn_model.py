"""The churn model's plumbing without a broker: the feed's choice of model, the learner's
publishing, checkpoint and takeover, and the report of `healthscore model`."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

import scoring
from streams.churn_model import (
    CHECKPOINT,
    CURRENT,
    TRACK,
    ChurnLearnerTask,
    ModelFeed,
    decode_checkpoint,
    encode_checkpoint,
    format_report,
    version_key,
)
from streams.clickhouse.rows import TRACK_RECORD_COLUMNS
from streams.settings import load_settings

DEFAULT_CONFIG = Path(scoring.__file__).resolve().parent / "default_config.yaml"


def _config() -> scoring.ScoringConfig:
    """The default config with a refit (a model version) every 20 learnable examples."""
    text = DEFAULT_CONFIG.read_text()
    text, n = re.subn(r"(?m)^(\s+refit_every:\s*)[0-9]+", r"\g<1>20", text, count=1)
    assert n == 1
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "config.yaml"
        path.write_text(text)
        return scoring.load_config(path)


CONFIG = _config()
DEFAULT = scoring.default_churn_model(CONFIG)
SETTINGS = load_settings(churn_min_per_class=3, churn_auc_min_examples=1)


@dataclass(frozen=True)
class Rec:
    offset: int
    value: bytes


def examples(n: int, seed: int = 1) -> list[scoring.LabelledExample]:
    """Snapshots around the prior's typical values, churners lower on every feature; the
    survivals come a horizon after their snapshots, so the cancellations' horizons pass."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        churned = rng.random() < 0.3
        base = -0.3 if churned else 0.3
        features = tuple(round(c + base + rng.uniform(-0.2, 0.2), 3) for c in DEFAULT.centres)
        ts = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=i % 50)
        out.append(scoring.LabelledExample(
            f"a{i}", ts, features, rng.random(), DEFAULT.version, churned))  # fmt: skip
    return out


def records(exs: list[scoring.LabelledExample]) -> list[Rec]:
    return [Rec(i, scoring.example_to_bytes(e)) for i, e in enumerate(exs)]


class Topic:
    """The models topic as a compacted log: every record, and the last value per key."""

    def __init__(self) -> None:
        self.log: list[tuple[bytes, bytes]] = []

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        self.log.append((key, value))

    @property
    def last(self) -> dict[bytes, bytes]:
        return dict(self.log)


class Writer:
    def __init__(self) -> None:
        self.rows: list[tuple[str, tuple[str, ...], list[Any]]] = []

    def add(self, table: str, columns: tuple[str, ...], rows: list[Any]) -> None:
        self.rows.append((table, columns, rows))


def task(topic: Topic, writer: Writer | None = None) -> ChurnLearnerTask:
    t = ChurnLearnerTask(SETTINGS, CONFIG, "ex", "models", topic.send, writer)  # type: ignore[arg-type]
    return t


def feed_all(t: ChurnLearnerTask, recs: list[Rec], chunk: int = 50) -> None:
    for i in range(0, len(recs), chunk):
        asyncio.run(t.feed(recs[i : i + chunk]))


def published(topic: Topic) -> list[str]:
    return [k.decode() for k, _ in topic.log if k.startswith(b"version:")]


def test_the_learner_publishes_each_version_then_current_then_its_checkpoint_and_record():
    topic, writer = Topic(), Writer()
    t = task(topic, writer)
    t.start_from({})
    feed_all(t, records(examples(300)))
    versions = published(topic)
    assert len(versions) >= 3
    keys = [k for k, _ in topic.log]
    first = keys.index(version_key(versions[0][len("version:"):]))  # fmt: skip
    assert keys[first + 1] == CURRENT and CHECKPOINT in keys[first:] and TRACK in keys[first:]
    current = scoring.ChurnModel.from_bytes(topic.last[CURRENT])
    assert "version:" + current.version == versions[-1]
    assert writer.rows and all(r[0] == "churn_track_record" for r in writer.rows)
    _, columns, rows = writer.rows[-1]
    assert columns == TRACK_RECORD_COLUMNS and all(len(r) == len(columns) for r in rows)
    track = orjson.loads(topic.last[TRACK])
    assert [r["model_version"] for r in track] == [r[0] for r in rows]


def test_examples_sent_twice_are_learned_once():
    exs = examples(200)
    once, twice = Topic(), Topic()
    a, b = task(once), task(twice)
    a.start_from({})
    b.start_from({})
    feed_all(a, records(exs))
    doubled = exs[:100] + exs[80:100] + exs[100:]  # a worker's crash window sent again
    feed_all(b, records(doubled))
    assert b.stats["duplicates"] == 20
    assert once.last[CURRENT] == twice.last[CURRENT]


def test_a_new_owner_replays_to_the_checkpoint_and_publishes_what_the_first_would_have():
    exs = records(examples(600))
    alone = Topic()
    a = task(alone)
    a.start_from({})
    feed_all(a, exs)
    # the first owner dies after 330 examples; the second takes over from the topic
    shared = Topic()
    first = task(shared)
    first.start_from({})
    feed_all(first, exs[:330], chunk=30)
    by_first = published(shared)
    assert by_first, "the first owner should have published versions"
    second = task(shared)
    seek = second.start_from(shared.last)
    checkpointed, next_offset = decode_checkpoint(shared.last[CHECKPOINT])
    assert seek == 0 and next_offset == 330
    assert "version:" + checkpointed.version == by_first[-1]
    before = len(shared.log)
    feed_all(second, exs[seek:], chunk=70)
    again = [k for k, _ in shared.log[before:] if k.startswith(b"version:")]
    assert not set(again) & {v.encode() for v in by_first}, "the replay republished versions"
    assert shared.last[CURRENT] == alone.last[CURRENT]
    assert published(shared) == published(alone)


def test_the_feed_takes_the_newest_version_or_only_the_pinned_one():
    learner = scoring.ChurnLearner(CONFIG, min_per_class=3)
    models = []
    for ex in examples(400):
        if (new := learner.add([ex])) is not None:
            models.append(new)
    assert len(models) >= 3
    log = [(k, m.to_bytes()) for m in models for k in (version_key(m.version), CURRENT)]
    newest = ModelFeed(CONFIG)
    pinned = ModelFeed(CONFIG, pin=models[0].version)
    default = ModelFeed(CONFIG, pin="default")
    for key, value in log:
        for feed in (newest, pinned, default):
            feed.apply(key, value)
    assert newest.get() == models[-1]
    assert pinned.get() == models[0] and pinned.pin_found
    assert default.get() == DEFAULT and default.pin_found
    newest.apply(CURRENT, models[0].to_bytes())  # a resuming learner publishing an old one
    assert newest.get() == models[-1]
    missing = ModelFeed(CONFIG, pin="2026.1+m999")
    for key, value in log:
        missing.apply(key, value)
    assert not missing.pin_found and missing.get() == DEFAULT


def test_the_feed_ignores_a_model_of_another_scoring_config():
    other = scoring.ChurnModel.from_bytes(DEFAULT.to_bytes().replace(
        f'"{CONFIG.version}"'.encode(), b'"other"'))  # fmt: skip
    assert other.config_version == "other"
    feed = ModelFeed(CONFIG)
    assert feed.apply(CURRENT, other.to_bytes()) is None and feed.get() == DEFAULT


def test_the_checkpoint_codec_round_trips():
    assert decode_checkpoint(encode_checkpoint(DEFAULT, 12345)) == (DEFAULT, 12345)


def test_the_report_names_the_version_its_coefficients_and_its_record():
    topic = Topic()
    t = task(topic)
    t.start_from({})
    feed_all(t, records(examples(300)))
    current = scoring.ChurnModel.from_bytes(topic.last[CURRENT])
    text = format_report(topic.last, CONFIG)
    assert f"workers score with churn model {current.version} (the newest" in text
    assert "term_days_left" in text and "customer_happiness" in text
    assert "track record (computed" in text
    first = published(topic)[0][len("version:"):]  # fmt: skip
    pinned = format_report(topic.last, CONFIG, pin=first)
    assert f"churn model {first} (pinned" in pinned
    assert "NOT PUBLISHED" in format_report(topic.last, CONFIG, pin="nope")
    assert "default coefficients" in format_report({}, CONFIG)


def test_a_version_whose_auc_fell_is_flagged_in_its_track_record_rows():
    """Predictions of version m0 rank churners first; those of m1 rank them last."""
    exs = []
    for i, ex in enumerate(examples(300)):
        good = i < 150
        right = 0.8 if ex.churned else 0.2
        predicted = right if good else 1 - right
        version = f"{CONFIG.version}+m{0 if good else 1}"
        exs.append(dataclasses.replace(ex, predicted=predicted, model_version=version))
    topic, writer = Topic(), Writer()
    t = task(topic, writer)
    t.start_from({})
    feed_all(t, records(exs))
    _, columns, rows = writer.rows[-1]
    got = {r[0]: (r[columns.index("auc")], r[columns.index("auc_previous")],
                  r[columns.index("auc_fell")]) for r in rows}  # fmt: skip
    assert got[f"{CONFIG.version}+m0"] == (1.0, None, 0)
    assert got[f"{CONFIG.version}+m1"] == (0.0, 1.0, 1)
    track = {r["model_version"]: r["auc_fell"] for r in orjson.loads(topic.last[TRACK])}
    assert track == {f"{CONFIG.version}+m0": False, f"{CONFIG.version}+m1": True}
    assert "AUC FELL" in format_report(topic.last, CONFIG)
