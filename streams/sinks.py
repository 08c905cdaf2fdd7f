"""Where a batch's outputs go: Kafka topics for services, ClickHouse for Grafana, and
optionally a chat webhook for alerts (`streams.webhook`, never waited for)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

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
    """Publishes a batch's outputs.

    With `producer` (a callable returning the app's started aiokafka producer),
    messages go straight to aiokafka, without Faust's per-message machinery
    (several times the cost). They are not awaited one by one: Faust's commit
    flushes the aiokafka producer before it commits input offsets, so a batch's
    outputs are on the broker before its offsets are committed (at-least-once,
    like the inputs). A message that cannot be delivered at all calls
    `on_failure`, which crashes the worker before anything else is committed.
    Without `producer`, each message goes through Faust's `Topic.send`.
    """

    def __init__(
        self,
        topics: Topics,
        writer: ClickHouseWriter,
        webhook: AlertWebhook | None = None,
        producer: Callable[[], Any] | None = None,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.topics = topics
        self.on_failure = on_failure
        self.writer = writer
        self.webhook = webhook
        self.producer = producer
        self.names = {
            "scores": topics.scores.get_topic_name(),
            "transitions": topics.transitions.get_topic_name(),
            "alerts": topics.alerts.get_topic_name(),
            "dead_letters": topics.dead_letters.get_topic_name(),
        }

    async def publish(self, out: BatchOutput) -> list[asyncio.Future[Any]]:
        """Send a batch's outputs; waits only when ClickHouse is far behind. Returns the
        delivery futures of the direct sends (none through Faust)."""
        messages = (
            ("scores", [(s.account_id, s) for s in out.scores]),
            ("transitions", [(t.account_id, t) for t in out.transitions]),
            ("alerts", [(a.account_id, a) for a in out.alerts]),
            ("dead_letters", [(d.key or d.source_topic, d) for d in out.dead_letters]),
        )
        futures: list[asyncio.Future[Any]] = []
        if self.producer is not None:
            futures = await self._send_direct(self.producer(), messages)
        else:
            for name, items in messages:
                await self._send(getattr(self.topics, name), items)
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
        return futures

    async def _send_direct(
        self, producer: Any, messages: Sequence[tuple[str, Sequence[tuple[str, BaseModel]]]]
    ) -> list[asyncio.Future[Any]]:
        send = producer.send
        check = self.check_delivery
        futures = []
        for name, items in messages:
            topic = self.names[name]
            for key, model in items:
                future = await send(topic, encode(model), key=key.encode())
                future.add_done_callback(check)
                futures.append(future)
        return futures

    def check_delivery(self, future: asyncio.Future[Any]) -> None:
        """Done-callback of every direct send: a failure is never silent."""
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None and self.on_failure is not None:
            self.on_failure(exc)

    @staticmethod
    async def _send(topic: object, items: Sequence[tuple[str, BaseModel]]) -> None:
        send = topic.send  # type: ignore[attr-defined]
        for key, model in items:
            await send(key=key.encode(), value=encode(model))
