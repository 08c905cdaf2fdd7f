"""Bounded, order-independent containers for per-account facts.

Every container here merges with an operation that is commutative and
associative (max, last-writer-wins by (ts, id hash), keep-the-top-k), so
the same set of events gives the same contents in any arrival order.

Top-k maps keep the k entries with the highest (entry, key). Because an
entry only ever moves up (each key keeps the max of its entries), an entry
that belongs to the final top k can never be evicted after its last update,
so the final contents are exactly the top k of all entries ever offered.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections.abc import Mapping
from typing import Any, TypeVar

K = TypeVar("K", str, int)
V = TypeVar("V", int, float)


def id_hash(event_id: str) -> int:
    """A stable 48-bit hash of an event id: crc32 and 16 bits of adler32.

    Ids are not adversarial here and only need to differ within one account's
    few dozen recent ids (odds of a clash ~ 64 / 2**48 per event); both checksums
    run in C, four times faster than blake2b on the hottest path.
    """
    raw = event_id.encode()
    return (zlib.crc32(raw) << 16) | (zlib.adler32(raw) & 0xFFFF)


def small_hash(text: str) -> int:
    """A stable, well-mixed 32-bit hash (users into sketch registers, long feature names).

    Not crc32: it is linear, so ids like user-1, user-2 ... spread too evenly and
    linear counting (which assumes random hashing) overestimates."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big")


def put_max(mapping: Mapping[K, V], key: K, entry: V, cap: int) -> Mapping[K, V]:
    """Keep the max entry per key and the `cap` keys with the highest (entry, key).

    Returns `mapping` itself when nothing changes (the common case), else a copy.
    """
    old = mapping.get(key)
    if old is not None and old >= entry:
        return mapping
    out = dict(mapping)
    out[key] = entry
    if len(out) > cap:
        lowest = min(out.values())
        del out[min(k for k, v in out.items() if v == lowest)]  # ties: the lowest key goes
    return out


def stamp_newer(new: tuple[Any, ...], old: tuple[Any, ...] | None) -> bool:
    """Last writer wins: entries start with (ts, id hash), a total order on events."""
    return old is None or (new[0], new[1]) > (old[0], old[1])


def put_stamped(
    mapping: Mapping[str, tuple[Any, ...]], key: str, entry: tuple[Any, ...], cap: int
) -> Mapping[str, tuple[Any, ...]]:
    """Like `put_max`, comparing only the (ts, id hash) stamp at the front of each entry."""
    if not stamp_newer(entry, mapping.get(key)):
        return mapping
    out = dict(mapping)
    out[key] = entry
    if len(out) > cap:
        del out[min(out, key=lambda k: (out[k][0], out[k][1], k))]
    return out


def feature_key(feature: str) -> str:
    """Feature names are kept readable when short, hashed past 32 characters."""
    return feature if len(feature) <= 32 else f"{feature[:23]}~{small_hash(feature):08x}"


def short_id(ident: str) -> str:
    """An id as kept in alert memory: readable when short, hashed past 24 characters."""
    return ident if len(ident) <= 24 else f"{ident[:15]}~{small_hash(ident):08x}"


ID_RECORD = 10
"""Bytes per exactly-once key in `recent_ids`: ts second (u32) then id hash (u48), big-endian,
so the bytes of two records compare like their (ts, hash) pairs."""


def id_record(ts: int, h: int) -> bytes:
    """The `recent_ids` record of (ts second < 2**32, id hash < 2**48)."""
    return ((ts << 48) | h).to_bytes(ID_RECORD, "big")


def id_records(ids: bytes) -> list[tuple[int, int]]:
    """The (ts second, id hash) pairs of packed records, in order."""
    return [
        (int.from_bytes(ids[i : i + 4], "big"), int.from_bytes(ids[i + 4 : i + ID_RECORD], "big"))
        for i in range(0, len(ids), ID_RECORD)
    ]


def has_record(ids: bytes, record: bytes) -> bool:
    """`record` is one of the packed records (a match across two records does not count)."""
    i = ids.find(record)
    while i >= 0:
        if i % ID_RECORD == 0:
            return True
        i = ids.find(record, i + 1)
    return False


def _insertion_point(ids: bytes, record: bytes) -> int:
    """Byte offset where `record` goes to keep the records ascending (bisect_left)."""
    lo, hi = 0, len(ids) // ID_RECORD
    while lo < hi:
        mid = (lo + hi) // 2
        if ids[mid * ID_RECORD : (mid + 1) * ID_RECORD] < record:
            lo = mid + 1
        else:
            hi = mid
    return lo * ID_RECORD


_BUCKET_OF_LAST_BYTE = {n: bytes(b % n for b in range(256)) for n in (1, 2, 4, 8, 16)}


def insert_recent_id(
    ids: bytes, record: bytes, cap: int, buckets: int = 1, floor: int = 0
) -> bytes:
    """Keep the records that are among the `cap` highest overall, or among the `floor`
    highest of their bucket (id hash % `buckets`); ascending. `ids` and the result are
    packed `id_record`s: one bytes object, not a tuple of pairs, so that encoding it is a
    copy and the collector has nothing to scan.

    With one bucket per event family, a family read far behind the others (its
    events older than everything else applied) still has its newest ids
    remembered: with the global top-k alone such an event is forgotten the moment
    it is applied, and its duplicate counts again. The kept set is the union of
    top-k sets, each of which only ever loses members as higher ones arrive, so
    an evicted record could never be kept later: the contents depend only on the
    set of records offered, not on their order (property-tested).
    """
    if buckets not in _BUCKET_OF_LAST_BYTE:
        raise ValueError("buckets must be 1, 2, 4, 8 or 16 (a bucket is read off the last byte)")
    w = ID_RECORD
    size = len(ids) // w
    if (floor <= 0 or buckets <= 1) and size >= cap and record <= ids[:w]:
        return ids
    i = _insertion_point(ids, record)
    out = ids[:i] + record + ids[i:]
    n = size + 1
    if n <= cap:
        return out
    cut = (n - cap) * w
    if floor <= 0 or buckets <= 1:
        return out[cut:]
    top = out[cut:]
    of_bucket = top[w - 1 :: w].translate(_BUCKET_OF_LAST_BYTE[buckets])
    seen = [of_bucket.count(b) for b in range(buckets)]
    kept: list[bytes] = []
    for j in range(cut - w, -1, -w):  # descending: each bucket's next highest first
        b = out[j + w - 1] % buckets
        if seen[b] < floor:
            kept.append(out[j : j + w])
        seen[b] += 1
    if not kept:
        return top
    kept.reverse()
    return b"".join(kept) + top


def estimate_distinct(registers: Mapping[int, int], since_day: int, size: int) -> float:
    """Linear counting: distinct users seen since `since_day` from last-seen registers.

    Each user hashes to one of `size` registers holding the latest day any of its
    users was seen; n ~ -m ln(empty share). Exact in expectation for small n,
    within a few percent up to about 2m; saturates at m ln m.
    """
    occupied = sum(map(since_day.__le__, registers.values()))  # registers seen since since_day
    if occupied == 0:
        return 0.0
    empty = size - occupied
    if empty <= 0:
        return size * math.log(size)
    return size * math.log(size / empty)
