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


FINGERPRINT_BYTES = 2
"""Width of a content fingerprint: 16 bits, so a record costs 2 bytes more than the (ts, key)
it would need without one (~150 bytes of state for the ~74 records an account keeps). A
conflicting duplicate in the same ts second differing only in its payload goes unnoticed
with odds of 2**-16 (and is dropped as a duplicate); one with another ts second is always
caught."""

ID_RECORD = 10 + FINGERPRINT_BYTES
"""Bytes per exactly-once record in `recent_ids`: ts second (u32), id key (u48: the id hash
with the event family in its two low bits), content fingerprint, big-endian, so the bytes
of two records compare like their (ts, key, fingerprint) triples."""

_KEY_AT = 4
"""Offset of the id key in a record; its last byte (offset 9) holds the family bits."""
_BUCKET_AT = _KEY_AT + 5

UNKNOWN_CONTENT = 0
"""The fingerprint of a record carried over from a state that kept none (format 1):
its content is taken to be the same as any event's with the same id and ts second.
`content_fingerprint` never returns it."""


def id_record(ts: int, key: int, fingerprint: int = UNKNOWN_CONTENT) -> bytes:
    """The `recent_ids` record of (ts second < 2**32, id key < 2**48, fingerprint)."""
    return ((((ts << 48) | key) << 8 * FINGERPRINT_BYTES) | fingerprint).to_bytes(ID_RECORD, "big")


def id_records(ids: bytes) -> list[tuple[int, int, int]]:
    """The (ts second, id key, fingerprint) triples of packed records, in order."""
    return [
        (
            int.from_bytes(ids[i : i + _KEY_AT], "big"),
            int.from_bytes(ids[i + _KEY_AT : i + _KEY_AT + 6], "big"),
            int.from_bytes(ids[i + _KEY_AT + 6 : i + ID_RECORD], "big"),
        )
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


def find_id(ids: bytes, key: int) -> tuple[int, int] | None:
    """(ts second, fingerprint) of the record whose id key matches `key` in all but the two
    family bits (the same event id in any family), or None. Scans the records' bytes in C:
    the top five bytes of the key, on a key boundary, then the sixth without its low bits."""
    head = (key >> 8).to_bytes(5, "big")
    tail = (key & 0xFF) >> 2
    i = ids.find(head, _KEY_AT)
    while i >= 0:
        start = i - _KEY_AT
        if start % ID_RECORD == 0 and ids[i + 5] >> 2 == tail:
            ts = int.from_bytes(ids[start:i], "big")
            fingerprint = int.from_bytes(ids[i + 6 : start + ID_RECORD], "big")
            return ts, fingerprint
        i = ids.find(head, i + 1)
    return None


def content_fingerprint(content: bytes) -> int:
    """A stable fingerprint (`FINGERPRINT_BYTES`) of an event's content (its canonical bytes),
    never `UNKNOWN_CONTENT`: the low bits of crc32, which runs in C on the hot path (any
    16-bit fingerprint can be forged; it only has to tell honest resends apart)."""
    return (zlib.crc32(content) & ((1 << 8 * FINGERPRINT_BYTES) - 1)) or 1


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
    highest of their bucket (id key % `buckets`); ascending. `ids` and the result are
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
        raise ValueError(
            "buckets must be 1, 2, 4, 8 or 16 (a bucket is read off the key's last byte)"
        )
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
    of_bucket = top[_BUCKET_AT::w].translate(_BUCKET_OF_LAST_BYTE[buckets])
    seen = [of_bucket.count(b) for b in range(buckets)]
    kept: list[bytes] = []
    for j in range(cut - w, -1, -w):  # descending: each bucket's next highest first
        b = out[j + _BUCKET_AT] % buckets
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
