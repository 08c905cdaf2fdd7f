"""The topics the worker reads and writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import faust

from schemas.events import Family
from streams.settings import Settings
from streams.transport import BATCH_CODEC

EXAMPLES_RETENTION = timedelta(days=365)


@dataclass(frozen=True)
class Topics:
    inputs: faust.TopicT
    families_by_topic: dict[str, Family]
    scores: faust.TopicT
    transitions: faust.TopicT
    alerts: faust.TopicT
    dead_letters: faust.TopicT
    churn_examples: faust.TopicT
    churn_models: faust.TopicT
    clock: faust.TopicT | None = None
    """Tick records (`streams.clock`), co-partitioned with the inputs; None: no clock."""

    @property
    def outputs(self) -> tuple[faust.TopicT, ...]:
        return (
            self.scores,
            self.transitions,
            self.alerts,
            self.dead_letters,
            self.churn_examples,
            self.churn_models,
        )


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
        # labelled examples from every worker, for the deployment's one learner: one
        # partition, so one consumer in the learner's group owns it (streams.churn_model);
        # kept long enough for a new owner to replay what the last checkpoint lacks
        churn_examples=app.topic(
            settings.topic("churn-examples"), partitions=1, retention=EXAMPLES_RETENTION, **raw
        ),
        # every published model version (key "version:<v>"), the newest ("current"), the
        # learner's checkpoint and its track record: compacted, so each key's last value
        # stays readable for good
        churn_models=app.topic(
            settings.topic("churn-models"), partitions=1, compacting=True, **raw
        ),
        # ticks (streams.clock): partition p re-scores the accounts of input partition p
        clock=app.topic(settings.topic("clock"), partitions=settings.topic_partitions, **raw)
        if settings.clock_enabled
        else None,
    )
