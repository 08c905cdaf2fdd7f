"""Where a batch's outputs go: Kafka topics for services, ClickHouse for Grafana, and
optionally a chat webhook for alerts (`streams.webhook`, never waited for)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from streams.clickhouse.rows import (
    ALERT_COLUMNS,
    DEAD_LETTER_COLUMNS,
    SCORE_COLUMNS,
    TRANSITION_COLUMNS,
    alert_row,
    dead_letter_row,
    score_row,
    transition_row,
)
from streams.clickhouse.writer import ClickHouseWriter
from streams.pipeline import BatchOutput
from streams.topics import Topics
from streams.webhook import AlertWebhook


def encode(model: BaseModel) -> bytes:
    return model.model_dump_json().encode()


class OutputSink:
    def __init__(
        self, topics: Topics, writer: ClickHouseWriter, webhook: AlertWebhook | None = None
    ) -> None:
        self.topics = topics
        self.writer = writer
        self.webhook = webhook

    async def publish(self, out: BatchOutput) -> None:
        """Send a batch's outputs; waits only when ClickHouse is far behind."""
        await self._send(self.topics.scores, [(s.account_id, s) for s in out.scores])
        await self._send(self.topics.transitions, [(t.account_id, t) for t in out.transitions])
        await self._send(self.topics.alerts, [(a.account_id, a) for a in out.alerts])
        await self._send(
            self.topics.dead_letters, [(d.key or d.source_topic, d) for d in out.dead_letters]
        )
        if out.scores:
            rows = [score_row(s) for s in out.scores]
            self.writer.add("score_history", SCORE_COLUMNS, rows)
            self.writer.add("latest_score", SCORE_COLUMNS, rows)
        if out.transitions:
            self.writer.add(
                "transitions", TRANSITION_COLUMNS, [transition_row(t) for t in out.transitions]
            )
        if out.alerts:
            self.writer.add("alerts", ALERT_COLUMNS, [alert_row(a) for a in out.alerts])
            if self.webhook is not None:
                for alert in out.alerts:
                    self.webhook.submit(alert)
        if out.dead_letters:
            self.writer.add(
                "dead_letters", DEAD_LETTER_COLUMNS, [dead_letter_row(d) for d in out.dead_letters]
            )
        await self.writer.wait_for_capacity()

    @staticmethod
    async def _send(topic: object, items: Sequence[tuple[str, BaseModel]]) -> None:
        send = topic.send  # type: ignore[attr-defined]
        for key, model in items:
            await send(key=key.encode(), value=encode(model))
