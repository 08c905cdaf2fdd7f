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

import bisect
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


def insert_recent_id(
    ids: tuple[tuple[int, int], ...],
    item: tuple[int, int],
    cap: int,
    buckets: int = 1,
    floor: int = 0,
) -> tuple[tuple[int, int], ...]:
    """Keep the (ts second, id hash) pairs that are among the `cap` highest overall, or
    among the `floor` highest of their bucket (`hash % buckets`); ascending.

    With one bucket per event family, a family read far behind the others (its
    events older than everything else applied) still has its newest ids
    remembered: with the global top-k alone such an event is forgotten the moment
    it is applied, and its duplicate counts again. The kept set is the union of
    top-k sets, each of which only ever loses members as higher ones arrive, so
    an evicted pair could never be kept later: the contents depend only on the
    set of pairs offered, not on their order (property-tested).
    """
    if (floor <= 0 or buckets <= 1) and len(ids) >= cap and item <= ids[0]:
        return ids
    i = bisect.bisect_left(ids, item)
    out = (*ids[:i], item, *ids[i:])
    n = len(out)
    if n <= cap:
        return out
    if floor <= 0 or buckets <= 1:
        return out[n - cap :]
    top = out[n - cap :]
    seen = [0] * buckets
    for _, h in top:
        seen[h % buckets] += 1
    kept: list[tuple[int, int]] = []
    for x in reversed(out[: n - cap]):  # descending: each bucket's next highest first
        b = x[1] % buckets
        if seen[b] < floor:
            kept.append(x)
        seen[b] += 1
    if not kept:
        return top
    kept.reverse()
    return (*kept, *top)


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
