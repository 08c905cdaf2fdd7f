"""Kafka for the bench: bulk pre-load, a paced producer, the raw consumer ceiling.

The pre-load uses aiokafka's batch API (`create_batch` / `send_batch`) with
the partition computed once per account by the Java client's murmur2, the
same as `producer.send(key=...)` would pick: the worker's co-partitioning of
events and state depends on it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import murmur2

from schemas.events import Family

Progress = Callable[[int], None]
BATCH_BYTES = 512 * 1024


def partition_of(key: bytes, partitions: int) -> int:
    """The partition the default (Java-compatible) partitioner picks for `key`."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


@dataclass(frozen=True)
class ProduceResult:
    events: int
    bytes: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


async def preload(
    bootstrap: str,
    topics: dict[Family, str],
    events: Sequence[tuple[Family, bytes, bytes]],
    partitions: int,
    *,
    compression: str | None = "lz4",
    progress: Progress | None = None,
) -> ProduceResult:
    """Send pre-serialized events as fast as aiokafka can, in ~512 KB batches."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks=1,
        linger_ms=50,
        max_batch_size=BATCH_BYTES,
        compression_type=compression,
        max_request_size=4 * BATCH_BYTES,
        request_timeout_ms=60_000,
    )
    await producer.start()
    part: dict[bytes, int] = {}
    builders: dict[tuple[str, int], object] = {}
    pending: list[asyncio.Future[object]] = []
    size = 0
    started = time.monotonic()
    try:
        for i, (family, key, value) in enumerate(events, 1):
            p = part.get(key)
            if p is None:
                p = part[key] = partition_of(key, partitions)
            tp = (topics[family], p)
            builder = builders.get(tp)
            if builder is None:
                builder = builders[tp] = producer.create_batch()
            if builder.append(key=key, value=value, timestamp=None) is None:  # type: ignore[attr-defined]
                pending.append(await producer.send_batch(builder, tp[0], partition=tp[1]))
                builder = builders[tp] = producer.create_batch()
                builder.append(key=key, value=value, timestamp=None)
            size += len(value)
            if progress and i % 50_000 == 0:
                progress(i)
            if len(pending) >= 64:
                await asyncio.gather(*pending)
                pending.clear()
        for (topic, p), builder in builders.items():
            if builder.record_count():  # type: ignore[attr-defined]
                pending.append(await producer.send_batch(builder, topic, partition=p))
        await asyncio.gather(*pending)
        await producer.flush()
    finally:
        await producer.stop()
    if progress:
        progress(len(events))
    return ProduceResult(len(events), size, time.monotonic() - started)


async def end_offsets(bootstrap: str, topics: Iterable[str]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [
            TopicPartition(t, p)
            for t in topics
            for p in sorted(consumer.partitions_for_topic(t) or await _partitions(consumer, t))
        ]
        return dict(await consumer.end_offsets(tps))
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # metadata for a topic not subscribed
    return consumer.partitions_for_topic(topic) or set()


@dataclass(frozen=True)
class ConsumeResult:
    events: int
    seconds: float  # partitions assigned (first fetch asked) to the last records returned
    startup_seconds: float  # consumer start to partitions assigned
    complete: bool

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


async def raw_consume(
    bootstrap: str,
    topics: Sequence[str],
    expected: int,
    timeout: float,
    *,
    decode: bool = False,
    progress: Progress | None = None,
) -> ConsumeResult:
    """The ceiling: read every record of `topics` from the start, doing nothing with it
    (or only `orjson.loads` of the value with `decode`)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=1024 * 1024,
    )
    t0 = time.monotonic()
    await consumer.start()
    count, ready, last = 0, 0.0, 0.0
    loads = orjson.loads
    try:
        await consumer._client.force_metadata_update()
        tps = [
            TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t))
        ]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ready = time.monotonic()
        deadline = t0 + timeout
        next_report = 0
        while count < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                if decode:
                    for r in records:
                        loads(r.value)
                count += len(records)
            if batch:
                last = time.monotonic()
            if progress and count >= next_report:
                progress(count)
                next_report = count + 100_000
    finally:
        await consumer.stop()
    if progress:
        progress(count)
    return ConsumeResult(count, max(0.0, last - ready), ready - t0, count >= expected)
