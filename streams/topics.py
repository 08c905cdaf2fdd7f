"""The topics the worker reads and writes."""

from __future__ import annotations

from dataclasses import dataclass

import faust

from schemas.events import Family
from streams.settings import Settings
from streams.transport import BATCH_CODEC


@dataclass(frozen=True)
class Topics:
    inputs: faust.TopicT
    families_by_topic: dict[str, Family]
    scores: faust.TopicT
    transitions: faust.TopicT
    alerts: faust.TopicT
    dead_letters: faust.TopicT
    churn_examples: faust.TopicT

    @property
    def outputs(self) -> tuple[faust.TopicT, ...]:
        return (self.scores, self.transitions, self.alerts, self.dead_letters, self.churn_examples)


def declare_topics(app: faust.App, settings: Settings) -> Topics:
    raw = {
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    names = settings.input_topics
    return Topics(
        # one message per fetched partition batch: see streams.transport
        inputs=app.topic(*names.values(), key_serializer="raw", value_serializer=BATCH_CODEC),
        families_by_topic={name: family for family, name in names.items()},
        # latest score per account: keyed and compacted so a new subscriber
        # reads every account's current score and nothing older
        scores=app.topic(settings.topic("scores"), compacting=True, **raw),
        transitions=app.topic(settings.topic("transitions"), **raw),
        alerts=app.topic(settings.topic("alerts"), **raw),
        dead_letters=app.topic(settings.topic("dead-letters"), **raw),
        churn_examples=app.topic(settings.topic("churn-examples"), partitions=1, **raw),
    )
