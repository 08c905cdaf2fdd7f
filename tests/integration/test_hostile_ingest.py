"""Issue 22 items 1, 3 and 7 on the real broker: poison messages among 2,000 one-event
accounts, keys that are not UTF-8, and an event from a client clock in 2099.

Each must become one dead letter with its reason and field while the worker stays up:
every good account is scored, nothing is lost (the group commits every message)."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from devtools.kafka_io import group_progress, send_messages
from schemas.events import Family
from tests.integration.faults_harness import changelog_states
from tests.integration.harness import Pipeline

pytestmark = pytest.mark.integration

PROGRESS = re.compile(r"received=(\d+) applied=(\d+) duplicates=(\d+) dead_letters=(\d+)")
ACCOUNTS = 2000
POISON_AT = 1100
FROZEN = "acct-0007"  # gets a 2099 event, then a genuine one


def feature(account: str, n: int, ts: datetime | str, **extra: object) -> dict[str, object]:
    return {
        "event_id": f"{account}-{n}",
        "account_id": account,
        "ts": ts if isinstance(ts, str) else ts.isoformat(),
        "type": "feature_used",
        "user_id": "u1",
        "feature": "reports",
        **extra,
    }


def test_poison_messages_become_dead_letters_and_the_worker_loses_nothing(
    kafka_bootstrap, tmp_path
):
    pipeline = Pipeline.create(kafka_bootstrap, tmp_path)
    topic = pipeline.topic(Family.USAGE)
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=1)
    good = [feature(f"acct-{i:04d}", 0, start + timedelta(seconds=i)) for i in range(ACCOUNTS)]
    messages = [(topic, e["account_id"].encode(), orjson.dumps(e)) for e in good]

    def message(event: dict[str, object], key: bytes | None = None) -> tuple[str, bytes, bytes]:
        return (topic, key or str(event["account_id"]).encode(), orjson.dumps(event))

    hostile = {  # position -> (message, reason, field)
        POISON_AT: (message(feature("poison-v", 0, now, schema_version="\u00b2.0")),
                    "invalid_field", "schema_version"),
        POISON_AT + 1: (message(feature("poison-ts", 0, "9999-12-31T23:00:00-12:00")),
                        "invalid_field", "ts"),
        POISON_AT + 2: (message(feature("\ufffd", 0, now), b"\xff"), "invalid_key", "key"),
        POISON_AT + 3: (message(feature("\ufffd", 1, now), b"\xfe"), "invalid_key", "key"),
        POISON_AT + 4: (message(feature("acct\u200b-0001", 0, now)), "invalid_field",
                        "account_id"),
        POISON_AT + 5: (message(feature(FROZEN, 1, datetime(2099, 1, 1, tzinfo=UTC))),
                        "from_future", "ts"),
    }  # fmt: skip
    for position in sorted(hostile):
        messages.insert(position, hostile[position][0])
    genuine_after = feature(FROZEN, 2, now - timedelta(minutes=1))
    messages.append(message(genuine_after))
    total = len(messages)

    with pipeline.worker() as worker:
        asyncio.run(send_messages(kafka_bootstrap, messages))
        group, names = pipeline.settings.app_id, [topic]
        done = 0
        for _ in range(360):  # until the worker group has committed every message
            done, _all = asyncio.run(group_progress(kafka_bootstrap, group, names))
            if done >= total or not worker.running:
                break
            time.sleep(0.5)
        assert worker.running, worker.log_tail()
        assert done == total, worker.log_tail()
        letters = pipeline.read_output("dead-letters", lambda m: len(m) >= len(hostile), timeout=60)
        scores = pipeline.read_output(
            "scores", lambda s: len({x["account_id"] for x in s}) >= ACCOUNTS, timeout=90
        )
        for _ in range(50):  # the worker logs its counters every 2 s
            counts = [tuple(map(int, m)) for m in PROGRESS.findall(worker.log_path.read_text())]
            if counts and counts[-1][0] == total:
                break
            time.sleep(0.2)
        assert worker.running, worker.log_tail()
    received, applied, duplicates, dead = counts[-1]
    print(
        f"\nsent {total}: {ACCOUNTS} one-event accounts, {len(hostile)} hostile, 1 genuine "
        f"after a 2099 event; worker: received={received} applied={applied} "
        f"duplicates={duplicates} dead_letters={dead}; {len(scores)} score messages"
    )
    assert (received, applied, duplicates, dead) == (total, ACCOUNTS + 1, 0, len(hostile))

    by_offset = sorted(letters, key=lambda d: (d["partition"], d["offset"]))
    assert Counter((d["reason"], d["field"]) for d in by_offset) == Counter(
        (reason, field) for _m, reason, field in hostile.values()
    )
    for letter in letters:
        assert letter["detail"] and letter["source_topic"] == topic

    scored = {s["account_id"] for s in scores}
    assert scored == {e["account_id"] for e in good}
    states = changelog_states(kafka_bootstrap, pipeline.settings.app_id)
    assert set(states) == scored
    assert states[FROZEN].clock.events_applied == 2  # the genuine event after the 2099 one

    with pipeline.clickhouse() as ch:
        db = ch.database
        table = Counter(
            dict(ch.query(f"SELECT reason, count() FROM {db}.dead_letters FINAL GROUP BY reason"))
        )
        in_clickhouse = ch.query(f"SELECT uniqExact(account_id) FROM {db}.latest_score")[0][0]
    assert table == Counter(reason for _m, reason, _f in hostile.values())
    assert in_clickhouse == ACCOUNTS


def test_a_new_accounts_backdated_history_is_refused_by_the_worker_when_configured(
    kafka_bootstrap, tmp_path
):
    """Issue 22 item 4, ingest side: with `ingest.new_account_max_age_days` set, a producer
    cannot fabricate months of history for new accounts; the bound is measured against the
    Kafka record timestamps the worker receives, and accounts with state are not affected."""
    config = tmp_path / "scoring.yaml"
    config.write_text('version: "test-backdated"\ningest: {new_account_max_age_days: 7}\n')
    pipeline = Pipeline.create(kafka_bootstrap, tmp_path, HEALTHSCORE_SCORING_CONFIG=str(config))
    topic = pipeline.topic(Family.USAGE)
    now = datetime.now(UTC).replace(microsecond=0)
    fabricated = [
        feature(f"fake-{a}", d, now - timedelta(days=120 - d)) for a in range(20) for d in range(5)
    ]
    real = [
        feature(f"real-{a}", d, now - timedelta(days=3 - d)) for a in range(20) for d in range(3)
    ]
    messages = [(topic, str(e["account_id"]).encode(), orjson.dumps(e)) for e in fabricated + real]

    with pipeline.worker() as worker:
        asyncio.run(send_messages(kafka_bootstrap, messages))
        done = 0
        for _ in range(240):
            done, _all = asyncio.run(
                group_progress(kafka_bootstrap, pipeline.settings.app_id, [topic])
            )
            if done >= len(messages) or not worker.running:
                break
            time.sleep(0.5)
        assert worker.running and done == len(messages), worker.log_tail()
        letters = pipeline.read_output(
            "dead-letters", lambda m: len(m) >= len(fabricated), timeout=60
        )
    assert Counter((d["reason"], d["field"]) for d in letters) == Counter(
        {("backdated", "ts"): len(fabricated)}
    )
    states = changelog_states(kafka_bootstrap, pipeline.settings.app_id)
    assert {a: s.clock.events_applied for a, s in states.items()} == {
        f"real-{a}": 3 for a in range(20)
    }
