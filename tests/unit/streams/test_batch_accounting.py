"""Through the real decode and scoring path: every record is accepted or dead-lettered."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scoring
from schemas.events import FAMILY_BY_TYPE, Family
from streams.pipeline import BatchProcessor, RawRecord

GOLDEN = [
    orjson.loads(line)
    for line in (Path(__file__).resolve().parents[2] / "fixtures" / "golden_events.jsonl")
    .read_bytes()
    .splitlines()
]
TOPIC = {family: f"t.{family.value}" for family in Family}
CONFIG = scoring.load_config()
MODEL = scoring.default_churn_model(CONFIG)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=10,
)


@st.composite
def records(draw: st.DrawFn) -> RawRecord:
    kind = draw(st.sampled_from(["golden", "mutated", "bytes", "json", "wrong_key", "wrong_topic"]))
    event = dict(draw(st.sampled_from(GOLDEN)))
    event["account_id"] = draw(st.sampled_from(["a1", "a2", "a3"]))
    event["event_id"] = f"e{draw(st.integers(0, 30))}"  # collisions make duplicates
    topic = TOPIC[FAMILY_BY_TYPE[event["type"]]]
    key: bytes | None = event["account_id"].encode()
    if kind == "mutated":
        event[draw(st.sampled_from(sorted(event)))] = draw(json_values)
    elif kind == "wrong_key":
        key = draw(st.none() | st.just(b"someone-else"))
    elif kind == "wrong_topic":
        topic = draw(st.sampled_from(sorted(set(TOPIC.values()) - {topic})))
    if kind == "bytes":
        value: bytes | None = draw(st.binary(max_size=64) | st.none())
    elif kind == "json":
        value = orjson.dumps(draw(json_values))
    else:
        value = orjson.dumps(event)
    return RawRecord(topic, 0, 0, key, value)


def processor() -> BatchProcessor:
    return BatchProcessor(CONFIG, {t: f for f, t in TOPIC.items()}, lambda: MODEL)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(records(), max_size=40), min_size=1, max_size=4))
def test_accepted_plus_dead_lettered_equals_received_for_every_batch(batches):
    store: dict[str, bytes] = {}
    p = processor()
    for drawn in batches:
        # offsets as Kafka assigns them: unique, so a dead letter names its record
        batch = [RawRecord(r.topic, r.partition, i, r.key, r.value) for i, r in enumerate(drawn)]
        out = p.run(batch, store.get, store.__setitem__)
        assert out.received == len(batch)
        assert out.applied + out.duplicates + len(out.dead_letters) == out.received
        sizes = {r.offset: len(r.value or b"") for r in batch}
        for letter in out.dead_letters:
            assert letter.reason and letter.detail
            assert letter.payload_bytes == sizes[letter.offset]


def test_a_redelivered_batch_is_applied_once():
    batch = [
        RawRecord(
            TOPIC[FAMILY_BY_TYPE[e["type"]]], 0, i, b"a1", orjson.dumps({**e, "account_id": "a1"})
        )
        for i, e in enumerate(GOLDEN)
    ]
    store: dict[str, bytes] = {}
    p = processor()
    first = p.run(batch, store.get, store.__setitem__)
    state_after_first = dict(store)
    again = p.run(batch, store.get, store.__setitem__)
    assert first.applied == len(GOLDEN) and not first.dead_letters
    assert again.applied == 0 and again.duplicates == len(GOLDEN)
    assert store == state_after_first


def test_a_resent_id_with_another_content_is_dead_lettered_not_applied_or_dropped():
    golden = next(e for e in GOLDEN if e["type"] == "invoice_paid")
    event = {**golden, "account_id": "a1"}
    topic = TOPIC[FAMILY_BY_TYPE[event["type"]]]
    same = orjson.dumps(event)
    an_hour_later = datetime.fromisoformat(event["ts"]) + timedelta(hours=1)
    moved = orjson.dumps({**event, "ts": an_hour_later.isoformat()})
    batch = [
        RawRecord(topic, 0, 0, b"a1", same),
        RawRecord(topic, 0, 1, b"a1", same),  # a producer retry: the same event again
        RawRecord(topic, 0, 2, b"a1", moved),  # the same id, another ts
    ]
    store: dict[str, bytes] = {}
    out = processor().run(batch, store.get, store.__setitem__)
    assert (out.applied, out.duplicates) == (1, 1)
    (letter,) = out.dead_letters
    assert letter.reason == "conflicting_duplicate" and letter.offset == 2
    assert letter.field == "event_id" and letter.event_id == event["event_id"]
