"""Issue 3 on the real broker: a mix of valid, malformed, duplicate and out-of-order events."""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter

import orjson
import pytest

from devtools.demo.portfolio import generate
from devtools.kafka_io import group_progress, send_messages
from schemas.events import FAMILY_BY_TYPE, Family
from tests.integration.harness import Pipeline

pytestmark = pytest.mark.integration

PROGRESS = re.compile(r"received=(\d+) applied=(\d+) duplicates=(\d+) dead_letters=(\d+)")


def hostile(topics: dict[Family, str], valid: list[dict]) -> list[tuple[str, bytes | None, bytes]]:
    """(topic, key, value) messages that must each become one dead letter, with a reason."""
    e = dict(valid[0])
    usage, support = topics[Family.USAGE], topics[Family.SUPPORT]
    key = e["account_id"].encode()
    late = {**e, "event_id": "late-1", "type": "feature_used", "user_id": "u", "feature": "f",
            "ts": "2025-12-01T00:00:00+00:00"}  # fmt: skip
    return [
        (usage, key, b"{not json"),
        (usage, key, b"[1,2,3]"),
        (usage, key, orjson.dumps({**e, "type": "teleported"})),
        (support, key, orjson.dumps({**e, "type": "nps_response", "score": 42})),
        (usage, key, orjson.dumps({**e, "type": "nps_response", "score": 9})),  # wrong topic
        (topics[FAMILY_BY_TYPE[valid[1]["type"]]], b"not-the-account", orjson.dumps(valid[1])),
        (usage, key, orjson.dumps({**e, "schema_version": "7.0"})),
        (usage, key, b'{"pad":"' + b"x" * 20_000 + b'"}'),  # too large
        (usage, key, orjson.dumps(late)),  # too late within its family
    ]


def test_every_message_is_scored_once_or_dead_lettered_with_a_reason(kafka_bootstrap, tmp_path):
    pipeline = Pipeline.create(kafka_bootstrap, tmp_path)
    topics = pipeline.settings.input_topics
    valid = list(generate(accounts=10, days=12, seed=5))
    rng = random.Random(1)
    # out of order within an account and family (inside the 48 h lateness), plus duplicates
    shuffled = list(valid)  # in time order; then swap neighbours of one account and family
    for i in range(0, len(shuffled) - 1, 7):
        a, b = shuffled[i], shuffled[i + 1]
        if (
            a["account_id"] == b["account_id"]
            and FAMILY_BY_TYPE[a["type"]] == FAMILY_BY_TYPE[b["type"]]
        ):
            shuffled[i], shuffled[i + 1] = b, a
    duplicates = rng.sample(valid, 25)
    messages = [
        (topics[FAMILY_BY_TYPE[ev["type"]]], ev["account_id"].encode(), orjson.dumps(ev))
        for ev in [*shuffled, *duplicates]
    ]
    bad = hostile(topics, valid)
    messages += bad
    total = len(messages)

    with pipeline.worker() as worker:
        asyncio.run(send_messages(kafka_bootstrap, messages))

        group, names = pipeline.settings.app_id, list(topics.values())
        for _ in range(240):  # until the worker group has committed every message
            done, _all = asyncio.run(group_progress(kafka_bootstrap, group, names))
            if done >= total or not worker.running:
                break
            time.sleep(0.5)
        assert worker.running, worker.log_tail()
        letters = pipeline.read_output("dead-letters", lambda m: len(m) >= len(bad), timeout=30)
        # the worker logs its counters every 2 s: wait for the line that has seen everything
        for _ in range(50):
            counts = [tuple(map(int, m)) for m in PROGRESS.findall(worker.log_path.read_text())]
            if counts and counts[-1][0] == total:
                break
            time.sleep(0.2)
    received, applied, dups, dead = counts[-1]
    print(
        f"\nsent {total}: {len(valid)} valid, {len(duplicates)} duplicates, {len(bad)} hostile; "
        f"worker: received={received} applied={applied} duplicates={dups} dead_letters={dead}"
    )
    assert received == total
    assert applied == len(valid)
    assert dups == len(duplicates)
    assert dead == len(bad)
    assert applied + dups + dead == received

    reasons = Counter(letter["reason"] for letter in letters)
    assert reasons == Counter({
        "invalid_json": 1, "not_an_object": 1, "unknown_type": 1, "invalid_field": 1,
        "wrong_topic": 1, "key_mismatch": 1, "unsupported_schema_version": 1, "too_large": 1,
        "too_late": 1,
    })  # fmt: skip
    for letter in letters:
        assert letter["detail"] and letter["source_topic"] in topics.values()
        assert len(letter["payload"]) <= 4096

    with pipeline.clickhouse() as ch:
        db = ch.database
        table = Counter(
            dict(ch.query(f"SELECT reason, count() FROM {db}.dead_letters FINAL GROUP BY reason"))
        )
        scored = ch.query(f"SELECT uniqExact(account_id) FROM {db}.latest_score")[0][0]
    assert table == reasons
    assert scored == len({ev["account_id"] for ev in valid})
