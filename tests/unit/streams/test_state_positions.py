"""The table value keeps input positions (exact redelivery dedupe) and a decoded-state
cache that never serves a stale state."""

from __future__ import annotations

import orjson
import pytest

import scoring
from devtools.demo.portfolio import generate
from schemas.events import FAMILY_BY_TYPE, Family
from streams.pipeline import BatchProcessor, RawRecord
from streams.statepack import NO_POSITIONS, pack_value, unpack_value

TOPICS = {family: f"t.{family.value}" for family in Family}
CONFIG = scoring.load_config()
MODEL = scoring.default_churn_model(CONFIG)


@pytest.fixture(scope="module")
def records() -> list[RawRecord]:
    """Two accounts' histories as Kafka would hold them: one partition per topic."""
    events = list(generate(accounts=2, days=90, seed=3))
    offsets: dict[str, int] = {}
    out = []
    for e in events:
        topic = TOPICS[FAMILY_BY_TYPE[e["type"]]]
        offsets[topic] = offsets.get(topic, -1) + 1
        out.append(RawRecord(topic, 0, offsets[topic], e["account_id"].encode(), orjson.dumps(e)))
    return out


def processor(cache_size: int = 100) -> BatchProcessor:
    return BatchProcessor(
        CONFIG, {t: f for f, t in TOPICS.items()}, lambda: MODEL, cache_size=cache_size
    )


def test_values_round_trip_and_older_formats_still_load(records: list[RawRecord]) -> None:
    positions = (0, 17, -1, -1, 3, 2**40, 1, 0)
    table: dict[str, bytes] = {}
    processor().run(records, table.get, table.__setitem__)
    for value in table.values():
        _, state = unpack_value(value)
        assert state.startswith(b"{") and scoring.AccountState.from_bytes(state).to_bytes() == state
        assert unpack_value(pack_value(positions, state)) == (positions, state)
        assert len(value) < 0.7 * len(state)  # the dictionary earns its keep
    assert unpack_value(b'{"f":1}') == (NO_POSITIONS, b'{"f":1}')


def test_a_redelivered_stretch_is_all_duplicates_however_long(records: list[RawRecord]) -> None:
    """A crash after the state was saved but before the offsets were committed: Kafka
    delivers the whole stretch again, far more than the 64 remembered event ids."""
    table: dict[str, bytes] = {}
    p = processor()
    first = p.run(records, table.get, table.__setitem__)
    assert first.applied == len(records)
    per_account = {r.key: sum(1 for x in records if x.key == r.key) for r in records}
    assert min(per_account.values()) > 2 * CONFIG.limits.recent_event_ids
    saved = dict(table)
    again = processor().run(records, table.get, table.__setitem__)  # a new worker
    assert (again.applied, again.duplicates) == (0, len(records))
    assert not (again.scores or again.transitions or again.alerts)
    assert table == saved


def test_positions_do_not_hide_new_events_of_another_partition(records: list[RawRecord]) -> None:
    """After a repartition an account's events come from another partition: they are
    new events, and only the event-id memory may call them duplicates."""
    table: dict[str, bytes] = {}
    half = len(records) // 2
    processor().run(records[:half], table.get, table.__setitem__)
    moved = [RawRecord(r.topic, 1, r.offset - half, r.key, r.value) for r in records[half:]]
    out = processor().run(moved, table.get, table.__setitem__)
    assert out.applied == len(moved)


def test_the_cache_gives_the_same_outputs_as_decoding_every_time(
    records: list[RawRecord],
) -> None:
    def run(cache_size: int) -> list[str]:
        table: dict[str, bytes] = {}
        p = processor(cache_size)
        out = []
        for i in range(0, len(records), 7):
            o = p.run(records[i : i + 7], table.get, table.__setitem__)
            out += [m.model_dump_json() for m in (*o.scores, *o.transitions, *o.alerts)]
        return out

    assert run(0) == run(1) == run(100)


def test_the_cache_is_not_used_once_the_table_holds_other_bytes(
    records: list[RawRecord],
) -> None:
    """A rebalance or changelog recovery replaces the table's value: the cached state
    must not be used then, or events would be applied to a stale state."""
    table: dict[str, bytes] = {}
    p = processor()
    half = len(records) // 2
    p.run(records[:half], table.get, table.__setitem__)
    reference = dict(table)
    p.run(records[half:], table.get, table.__setitem__)  # the cache now holds the newer state
    final = dict(table)
    table.clear()
    table.update(reference)  # e.g. another worker's older changelog value after a rebalance
    hits = p.states.cache.hits
    p.run(records[half:], table.get, table.__setitem__)
    assert p.states.cache.hits == hits  # every account was decoded from the table
    assert table == final
