"""Bounded containers: the same contents whatever the arrival order."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.bounded import (
    FINGERPRINT_BYTES,
    ID_RECORD,
    UNKNOWN_CONTENT,
    content_fingerprint,
    estimate_distinct,
    feature_key,
    find_id,
    has_record,
    id_hash,
    id_record,
    id_records,
    insert_recent_id,
    put_max,
    put_stamped,
    small_hash,
)


def test_hashes_are_stable_across_runs() -> None:
    assert id_hash("evt-1") == id_hash("evt-1") < 2**48
    assert small_hash("user-1") == small_hash("user-1") < 2**32


def test_feature_keys_are_readable_when_short_and_bounded_when_long() -> None:
    assert feature_key("reports") == "reports"
    long = feature_key("x" * 200)
    assert len(long) == 32 and long != feature_key("x" * 199)


def test_put_max_returns_the_same_mapping_when_nothing_changes() -> None:
    m = {"a": 5}
    assert put_max(m, "a", 3, 10) is m
    assert put_max(m, "a", 7, 10) == {"a": 7}
    assert m == {"a": 5}


def test_put_max_evicts_the_lowest_entry() -> None:
    m: dict[str, int] = {}
    for key, day in [("a", 1), ("b", 5), ("c", 3)]:
        m = dict(put_max(m, key, day, 2))
    assert m == {"b": 5, "c": 3}


@given(st.lists(st.tuples(st.sampled_from("abcdefgh"), st.integers(0, 30)), max_size=60))
def test_put_max_top_k_is_order_independent(items: list[tuple[str, int]]) -> None:
    def build(seq: list[tuple[str, int]]) -> dict[str, int]:
        m: dict[str, int] = {}
        for key, value in seq:
            m = dict(put_max(m, key, value, 3))
        return m

    shuffled = items[:]
    random.Random(len(items)).shuffle(shuffled)
    assert build(items) == build(shuffled)


@given(
    st.lists(
        st.tuples(st.sampled_from("abcdef"), st.integers(0, 9), st.integers(0, 10**6)),
        max_size=40,
        unique_by=lambda item: item[2],  # the stamp is an event id hash: one per event
    )
)
def test_last_writer_wins_keeps_the_payload_of_the_newest_write(
    items: list[tuple[str, int, int]],
) -> None:
    def build(seq: list[tuple[str, int, int]]) -> dict[str, tuple[int, int, str]]:
        m: dict[str, tuple[int, int, str]] = {}
        for key, ts, stamp in seq:
            m = dict(put_stamped(m, key, (ts, stamp, f"payload of {stamp}"), 4))
        return m

    shuffled = items[::-1]
    assert build(items) == build(shuffled)


def reference_insert(
    ids: tuple[tuple[int, int], ...], item: tuple[int, int], cap: int, buckets: int, floor: int
) -> tuple[tuple[int, int], ...]:
    """`insert_recent_id` on (ts, hash) pairs, written plainly: the definition the packed
    version must match."""
    out = tuple(sorted({*ids, item}))
    n = len(out)
    if n <= cap:
        return out
    top = out[n - cap :]
    if floor <= 0 or buckets <= 1:
        return top
    seen = [0] * buckets
    for _, h in top:
        seen[h % buckets] += 1
    kept = []
    for x in reversed(out[: n - cap]):
        if seen[x[1] % buckets] < floor:
            kept.append(x)
        seen[x[1] % buckets] += 1
    return (*reversed(kept), *top)


def insert_pairs(
    pairs: list[tuple[int, int]], cap: int, buckets: int = 1, floor: int = 0
) -> list[tuple[int, int]]:
    ids = b""
    for ts, h in pairs:
        ids = insert_recent_id(ids, id_record(ts, h), cap, buckets, floor)
    return [(ts, h) for ts, h, _ in id_records(ids)]


def test_recent_ids_keep_the_newest() -> None:
    assert insert_pairs([(ts, ts * 11) for ts in [5, 1, 9, 3, 7]], 3) == [(5, 55), (7, 77), (9, 99)]
    ids = b"".join(id_record(ts, ts * 11) for ts in (5, 7, 9))
    assert insert_recent_id(ids, id_record(2, 1), 3) is ids


def test_an_id_record_orders_like_its_triple_and_is_found_only_on_a_record_boundary() -> None:
    triples = [
        (0, 2**48 - 1, 9),
        (1, 0, 2 ** (8 * FINGERPRINT_BYTES) - 1),
        (2**32 - 1, 5, 0),
        (7, 2**40, 1),
        (7, 2**40, 0),
    ]
    assert sorted(id_record(*t) for t in triples) == [id_record(*t) for t in sorted(triples)]
    assert id_records(b"".join(id_record(*t) for t in sorted(triples))) == sorted(triples)
    ids = id_record(1, 0x0102030405, 7) + id_record(2, 0x060708090A, 8)
    assert has_record(ids, id_record(2, 0x060708090A, 8))
    straddling = ids[7 : 7 + ID_RECORD]  # the tail of one record and the head of the next
    assert not has_record(ids, straddling)
    assert not has_record(ids, id_record(3, 0))


def test_an_id_is_found_by_its_key_alone_whatever_its_family_bits() -> None:
    key = 0x0A0B0C0D0E0C  # family 0
    ids = id_record(5, 0x0102030405FF, 1) + id_record(9, key, 0xBEEF)
    assert find_id(ids, key) == (9, 0xBEEF)
    assert find_id(ids, key | 3) == (9, 0xBEEF)  # the same id in another family
    assert find_id(ids, key ^ 4) is None  # another id
    assert find_id(ids, 0x0D0E0CBEEF00) is None  # bytes that straddle the key and fingerprint
    assert find_id(ids + id_record(0, 1, 2), 0xBEEF00000000) is None  # into the next record


def test_a_content_fingerprint_is_stable_and_never_unknown() -> None:
    assert content_fingerprint(b"x") == content_fingerprint(b"x") != content_fingerprint(b"y")
    assert all(content_fingerprint(bytes([i])) != UNKNOWN_CONTENT for i in range(256))


ID_KEYS = st.lists(st.tuples(st.integers(0, 50), st.integers(0, 2**48 - 1)), unique=True)


@given(ID_KEYS, st.sampled_from([(6, 1, 0), (6, 4, 2), (3, 4, 1), (8, 2, 3)]))
def test_packed_records_match_the_plain_definition_at_every_step(
    items: list[tuple[int, int]], params: tuple[int, int, int]
) -> None:
    cap, buckets, floor = params
    ids = b""
    pairs: tuple[tuple[int, int], ...] = ()
    for ts, h in items:
        fingerprint = (h * 2654435761) % 2 ** (
            8 * FINGERPRINT_BYTES
        )  # any content: buckets come from the key
        ids = insert_recent_id(ids, id_record(ts, h, fingerprint), cap, buckets, floor)
        pairs = reference_insert(pairs, (ts, h), cap, buckets, floor)
        assert [(t, k) for t, k, _ in id_records(ids)] == list(pairs)
        assert all(find_id(ids, k) is not None for _, k in pairs)


@given(ID_KEYS, st.randoms())
def test_recent_ids_keep_the_newest_of_each_bucket_in_any_order(
    items: list[tuple[int, int]], rnd: random.Random
) -> None:
    shuffled = list(items)
    rnd.shuffle(shuffled)
    newest = set(sorted(items)[-6:])
    of_bucket = {x for b in range(4) for x in sorted(i for i in items if i[1] % 4 == b)[-2:]}
    expected = sorted(newest | of_bucket)
    assert insert_pairs(items, 6, 4, 2) == insert_pairs(shuffled, 6, 4, 2) == expected


def test_a_lagging_bucket_keeps_its_ids_however_many_newer_ids_others_have() -> None:
    ahead = [(ts, ts * 4) for ts in range(100, 200)]  # bucket 0, far ahead
    assert insert_pairs(ahead, 8, 4, 2) == [(ts, ts * 4) for ts in range(192, 200)]
    after = insert_pairs([*ahead, (1, 4 * 7 + 3)], 8, 4, 2)  # bucket 3, far behind
    assert (1, 31) in after and len(after) == 9


@pytest.mark.parametrize("users", [1, 5, 20, 60, 150])
def test_linear_counting_estimates_distinct_users(users: int) -> None:
    registers: dict[int, int] = {}
    for u in range(users):
        registers[small_hash(f"user-{u}") % 128] = 10
    estimate = estimate_distinct(registers, since_day=0, size=128)
    assert estimate == pytest.approx(users, rel=0.2, abs=1.0)


def test_linear_counting_ignores_stale_registers() -> None:
    assert estimate_distinct({1: 5, 2: 50}, since_day=10, size=128) == pytest.approx(1.0, abs=0.01)
    assert estimate_distinct({}, since_day=0, size=128) == 0.0
