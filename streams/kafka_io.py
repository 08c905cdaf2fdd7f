"""Small aiokafka helpers for producing event files and reading output topics.

Used by the demo, `healthscore replay` and the tests; the worker itself goes
through Faust.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas.events import FAMILY_BY_TYPE, Family


async def create_topics(bootstrap: str, names: Iterable[str], partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [NewTopic(n, partitions, 1) for n in names if n not in existing]
        if new:
            await admin.create_topics(new)
    finally:
        await admin.close()


async def produce_events(
    bootstrap: str,
    topics: dict[Family, str],
    events: Iterable[dict[str, Any]],
    progress: Callable[[int], None] | None = None,
) -> int:
    """Send events (dicts) keyed by account to their family's topic."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024, acks="all"
    )
    await producer.start()
    sent = 0
    try:
        for event in events:
            family = FAMILY_BY_TYPE[event["type"]]
            await producer.send(
                topics[family], orjson.dumps(event), key=str(event["account_id"]).encode()
            )
            sent += 1
            if progress and sent % 1000 == 0:
                progress(sent)
        await producer.flush()
    finally:
        await producer.stop()
    if progress:
        progress(sent)
    return sent


async def read_topic(
    bootstrap: str,
    topic: str,
    until: Callable[[list[tuple[bytes | None, bytes]]], bool],
    timeout: float,
    on_message: Callable[[bytes | None, bytes], None] | None = None,
) -> list[tuple[bytes | None, bytes]]:
    """Read a topic from the beginning until `until(messages)` holds or timeout."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    messages: list[tuple[bytes | None, bytes]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while loop.time() < deadline and not until(messages):
            batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
            for records in batch.values():
                for r in records:
                    messages.append((r.key, r.value))
                    if on_message:
                        on_message(r.key, r.value)
    finally:
        await consumer.stop()
    return messages
