"""Integration tests for the project-owned Kafka launcher.

These start a real broker from the official jars, so they need Java 17+ (and Maven on the
first run).  They deliberately fail - never skip - when Java is missing: a silently skipped
broker test would hide that the reliability suite is not running at all.
"""

from __future__ import annotations

import asyncio
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from devtools.local_kafka import (
    BOOTSTRAP_ENV,
    JAVA_ENV,
    KafkaLaunchError,
    LocalKafka,
    broker_from_env_or_local,
)

pytestmark = pytest.mark.integration

PARTITIONS = 4


@pytest.fixture(scope="module")
def kafka() -> Iterator[LocalKafka]:
    """One broker for the module: JVM start-up dominates the runtime of these tests."""
    broker = LocalKafka(partitions=PARTITIONS)
    with broker:
        yield broker
    assert not broker.is_running
    assert not broker.work_dir.exists(), "a cleanly stopped broker must remove its temp dir"


def _topic(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def _produce(
    bootstrap: str, topic: str, values: list[bytes], *, by_partition: bool
) -> set[int]:
    """Send ``values`` (round-robin over partitions if asked); return the topic's partitions."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for index, value in enumerate(values):
            partition = index % PARTITIONS if by_partition else None
            await producer.send_and_wait(topic, value, partition=partition)
        return await producer.partitions_for(topic)
    finally:
        await producer.stop()


async def _consume(bootstrap: str, topic: str, count: int, timeout: float = 20.0) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=_topic("group"),
        auto_offset_reset="earliest",
    )
    await consumer.start()
    received: list[bytes] = []
    try:
        async with asyncio.timeout(timeout):
            while len(received) < count:
                message = await consumer.getone()
                assert message.value is not None
                received.append(message.value)
    finally:
        await consumer.stop()
    return received


def test_produce_and_consume_across_four_partitions(kafka: LocalKafka) -> None:
    topic = _topic("roundtrip")
    values = [f"event-{i}".encode() for i in range(12)]

    partitions = asyncio.run(_produce(kafka.bootstrap_servers, topic, values, by_partition=True))

    assert partitions == set(range(PARTITIONS)), "auto-created topics get num.partitions"
    received = asyncio.run(_consume(kafka.bootstrap_servers, topic, len(values)))
    assert sorted(received) == sorted(values)


def test_restart_keeps_data_and_address(kafka: LocalKafka) -> None:
    topic = _topic("restart")
    bootstrap = kafka.bootstrap_servers
    asyncio.run(_produce(bootstrap, topic, [b"before-restart"], by_partition=False))

    kafka.restart()

    assert kafka.is_running
    assert kafka.bootstrap_servers == bootstrap
    asyncio.run(_produce(bootstrap, topic, [b"after-restart"], by_partition=False))
    received = asyncio.run(_consume(bootstrap, topic, 2))
    assert sorted(received) == [b"after-restart", b"before-restart"]


def test_crash_restart_keeps_acknowledged_data(kafka: LocalKafka) -> None:
    """SIGKILL mimics a crashed broker; acks=all writes must survive log recovery."""
    topic = _topic("crash")
    asyncio.run(_produce(kafka.bootstrap_servers, topic, [b"durable"], by_partition=False))

    kafka.restart(kill=True)

    assert asyncio.run(_consume(kafka.bootstrap_servers, topic, 1)) == [b"durable"]


def test_position_survives_restart(kafka: LocalKafka) -> None:
    """Committed group offsets (__consumer_offsets) persist across a restart."""
    topic = _topic("offsets")
    bootstrap = kafka.bootstrap_servers
    asyncio.run(_produce(bootstrap, topic, [b"a", b"b"], by_partition=False))

    async def committed_after_restart() -> int | None:
        group = _topic("group")
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            async with asyncio.timeout(20):
                for _ in range(2):
                    await consumer.getone()
            await consumer.commit()
        finally:
            await consumer.stop()
        # Called from a running event loop on purpose: restart() must cope with that.
        await asyncio.to_thread(kafka.restart)
        checker = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
        await checker.start()
        try:
            offsets = [await checker.committed(TopicPartition(topic, p)) for p in range(PARTITIONS)]
            return sum(offset or 0 for offset in offsets)
        finally:
            await checker.stop()

    assert asyncio.run(committed_after_restart()) == 2


def test_env_bootstrap_is_used_without_starting_a_broker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(BOOTSTRAP_ENV, "kafka.example:9092")
    monkeypatch.setenv(JAVA_ENV, "/nonexistent/java")  # would fail loudly if started
    with broker_from_env_or_local() as bootstrap:
        assert bootstrap == "kafka.example:9092"


def _fake_java(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "fake-java"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_broker_that_dies_fails_fast_with_log_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JVM that exits during start-up is reported at once, with the log tail attached."""
    java = _fake_java(
        tmp_path,
        'case "$*" in *StorageTool*) echo "pretend-formatted"; exit 0;; esac\n'
        'echo "fake broker: bogus configuration" >&2\nexit 3',
    )
    monkeypatch.setenv(JAVA_ENV, str(java))
    work_dir = tmp_path / "broker"
    progress: list[str] = []
    broker = LocalKafka(work_dir, startup_timeout=30, progress=progress.append)

    started = time.monotonic()
    with pytest.raises(KafkaLaunchError) as raised:
        broker.start()

    assert time.monotonic() - started < 10, "must not wait for the startup timeout"
    message = str(raised.value)
    assert str(broker.log_path) in message
    assert raised.value.log_path == broker.log_path
    assert "exit 3" in message
    assert "fake broker: bogus configuration" in message  # the log tail
    assert broker.log_path.is_file()
    assert not broker.is_running
    assert any(str(broker.log_path) in line for line in progress)


def test_missing_java_binary_raises_launch_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(JAVA_ENV, str(tmp_path / "no-such-java"))
    broker = LocalKafka(tmp_path / "broker", startup_timeout=10, progress=lambda _: None)

    with pytest.raises(KafkaLaunchError) as raised:
        broker.start()

    assert str(broker.log_path) in str(raised.value)
    assert "no-such-java" in str(raised.value)
    assert broker.log_path.is_file(), "logs are kept for inspection after a failed start"
