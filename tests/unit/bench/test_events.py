"""The bench's event generator: valid, keyed, deterministic, in event-time order."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

import scoring
from bench.events import MIX, EventStream, seq_of
from schemas.decode import decode_event
from schemas.events import FAMILY_BY_TYPE, Family


@pytest.fixture(scope="module")
def events():
    return EventStream(200, seed=3).take(5000)


def test_every_event_decodes_on_its_family_topic_and_is_keyed_by_its_account(events):
    for family, key, value in events:
        event = decode_event(value, family)
        assert key == event.account_id.encode()


def test_the_same_seed_gives_the_same_bytes():
    assert EventStream(50, seed=9).take(500) == EventStream(50, seed=9).take(500)
    assert EventStream(50, seed=9).take(500) != EventStream(50, seed=10).take(500)


def test_take_continues_the_stream():
    whole = EventStream(50, seed=4).take(300)
    parts = EventStream(50, seed=4)
    assert parts.take(100) + parts.take(200) == whole


def test_event_time_increases_and_event_ids_give_back_the_position(events):
    decoded = [orjson.loads(v) for _, _, v in events]
    times = [d["ts"] for d in decoded]
    assert times == sorted(times)
    assert [seq_of(d["event_id"]) for d in decoded] == list(range(len(events)))


def test_every_account_starts_with_a_subscription_and_all_families_appear(events):
    decoded = [orjson.loads(v) for _, _, v in events]
    assert {d["type"] for d in decoded[:200]} == {"subscription_started"}
    assert len({d["account_id"] for d in decoded[:200]}) == 200
    families = Counter(f for f, _, _ in events[200:])
    assert set(families) == set(Family)
    assert families[Family.USAGE] > 0.7 * sum(families.values())
    assert set(MIX) <= set(FAMILY_BY_TYPE)


def test_the_scoring_core_accepts_the_whole_stream_without_too_late_or_errors(events):
    config = scoring.load_config(None)
    model = scoring.default_churn_model(config)
    states: dict[str, scoring.AccountState] = {}
    for family, _, value in events:
        event = decode_event(value, family)
        state = states.get(event.account_id)
        assert not scoring.is_too_late(state, event, config)
        states[event.account_id] = scoring.process(state, event, config, model).state
    assert len(states) == 200
