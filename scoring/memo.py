"""Per-object memoisation of derived values.

Facts objects are immutable and shared between consecutive states while
their part of the account does not change, so a value derived from one of
them (plus a few other inputs, the `key`) can be cached on the object
itself: a usage event does not recompute happiness. Each memo holds one
entry per name (the latest key), so it stays tiny. Keys compare by
identity first (configs, Series objects), then by equality.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def memoized(
    memo: dict[str, Any], name: str, key: tuple[Any, ...], compute: Callable[..., T], *args: Any
) -> T:
    """`compute(*args)`, or its cached result when `key` is the key it was last computed for.

    `key` must hold every input of `compute` besides the object owning `memo`.
    """
    hit = memo.get(name)
    if hit is not None and hit[0] == key:  # tuple == tries identity before __eq__, per item
        result: T = hit[1]
        return result
    value = compute(*args)
    memo[name] = (key, value)
    return value
