"""The batching transport commits exactly what was processed, on the real broker."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from devtools.demo.portfolio import generate
from devtools.kafka_io import group_progress, produce_events, send_messages
from schemas.events import FAMILY_BY_TYPE
from tests.integration.harness import Pipeline

pytestmark = pytest.mark.integration


async def committed_and_end_offsets(bootstrap, group, topics, partitions):
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        end = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
        await admin.close()
    return {tp: meta.offset for tp, meta in committed.items() if tp.topic in topics}, end


def test_every_partition_is_committed_up_to_its_end_after_a_clean_stop(kafka_bootstrap, tmp_path):
    pipeline = Pipeline.create(kafka_bootstrap, tmp_path)
    events = list(generate(accounts=8, days=5, seed=11))
    topics = list(pipeline.settings.input_topics.values())
    with pipeline.worker() as worker:
        asyncio.run(produce_events(kafka_bootstrap, pipeline.settings.input_topics, events))

        def consumed_all(_):
            return not worker.running or f"received={len(events)} " in worker.log_path.read_text()

        deadline_ok = pipeline.read_output("scores", consumed_all, timeout=90)
        assert worker.running, worker.log_tail()
        assert consumed_all(deadline_ok), worker.log_tail()
    committed, end = asyncio.run(
        committed_and_end_offsets(
            kafka_bootstrap, pipeline.settings.app_id, topics, pipeline.settings.topic_partitions
        )
    )
    assert sum(end.values()) == len(events)
    # an empty partition has nothing to commit; every other one is committed to its end
    assert {tp: committed.get(tp, 0) for tp in end} == end, (committed, end)
    assert all(tp in committed for tp, offset in end.items() if offset > 0)


def test_commits_keep_up_with_a_stream_of_small_batches(kafka_bootstrap, tmp_path):
    """Live traffic arrives as many small fetches, one batch message each. Faust's
    own commit arithmetic let a repeated offset end its run, so every commit
    advanced one batch per partition, minutes behind the worker; the committed
    offsets must reach the end within seconds of the worker reading it."""
    pipeline = Pipeline.create(kafka_bootstrap, tmp_path)
    topics = pipeline.settings.input_topics
    events = list(generate(accounts=200, days=60, seed=3))[:12000]
    messages = [
        (topics[FAMILY_BY_TYPE[e["type"]]], e["account_id"].encode(), orjson.dumps(e))
        for e in events
    ]
    group, names = pipeline.settings.app_id, list(topics.values())
    with pipeline.worker() as worker:
        asyncio.run(send_messages(kafka_bootstrap, messages, rate=2000))  # ~6 s of trickle
        sent = time.monotonic()
        while f"received={len(events)} " not in worker.log_path.read_text():
            assert worker.running and time.monotonic() - sent < 60, worker.log_tail()
            time.sleep(0.2)
        read_all = time.monotonic()
        while asyncio.run(group_progress(kafka_bootstrap, group, names))[0] < len(events):
            assert time.monotonic() - read_all < 5, (
                f"committed {asyncio.run(group_progress(kafka_bootstrap, group, names))} "
                "5 s after the worker read everything"
            )
            time.sleep(0.5)
        print(f"\ncommitted everything {time.monotonic() - read_all:.1f} s after reading it")
