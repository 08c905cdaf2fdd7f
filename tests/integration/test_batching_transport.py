"""The batching transport commits exactly what was processed, on the real broker."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.demo.portfolio import generate
from streams.kafka_io import produce_events
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
