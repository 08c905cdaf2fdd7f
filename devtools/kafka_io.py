"""Small aiokafka helpers for producing event files and reading output topics.

Used by the demo, `healthscore replay`, the bench and the tests; the worker itself goes
through Faust.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas.events import FAMILY_BY_TYPE, Family


async def create_topics(
    bootstrap: str, names: Iterable[str], partitions: int, timeout: float = 30.0
) -> None:
    """Create the topics that do not exist, and wait until every partition has a leader."""
    names = list(names)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [NewTopic(n, partitions, 1) for n in names if n not in existing]
        if new:
            await admin.create_topics(new)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            described = await admin.describe_topics(names)
            if all(
                t.get("partitions") and all(p.get("leader", -1) >= 0 for p in t["partitions"])
                for t in described
            ):
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"topics {names} have no leaders after {timeout}s")
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


async def send_messages(
    bootstrap: str, messages: list[tuple[str, bytes | None, bytes]], rate: float = 0
) -> None:
    """Send in order; with `rate` > 0, at most that many messages per second."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=5,
        max_batch_size=256 * 1024,
        max_request_size=1024 * 1024,
        acks="all",
    )
    await producer.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        for i, (topic, key, value) in enumerate(messages):
            await producer.send(topic, value, key=key)
            if rate > 0 and i % 500 == 499:
                ahead = (i + 1) / rate - (loop.time() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        await producer.flush()
    finally:
        await producer.stop()


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


async def group_progress(bootstrap: str, group: str, topics: list[str]) -> tuple[int, int]:
    """(records committed by `group`, records in `topics`): lag is their difference.

    A consumer group's committed offsets are how far it has *processed*, which
    is how the demo and the tests know the worker has finished.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await consumer.start()
    try:
        described = await admin.describe_topics(topics)
        tps = [
            TopicPartition(t["topic"], p["partition"])
            for t in described
            for p in t.get("partitions", [])
        ]
        end = await consumer.end_offsets(tps) if tps else {}
        try:
            committed = await admin.list_consumer_group_offsets(group)
        except Exception:  # the group does not exist yet
            committed = {}
    finally:
        await consumer.stop()
        await admin.close()
    done = sum(
        min(meta.offset, end[tp]) for tp, meta in committed.items() if tp in end and meta.offset > 0
    )
    return done, sum(end.values())
