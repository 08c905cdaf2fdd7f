"""Event-time alignment of co-partitioned input topics (docs/scoring.md, "Order
independence"): the policy of `streams.transport.BatchingConsumer`.

The four family topics of one partition number hold the same accounts. Read each at
its own pace, a backlog (a backfill, a catch-up, the demo's 60 days produced at once)
lets one family's topic run weeks of event time ahead of another's, and the scoring
memory, which is a path, depends on that order. As Kafka Streams does for the
co-partitioned inputs of a task, the consumer buffers what it fetched per topic
partition and delivers it so that no family runs more than `bound` seconds of event
time (the payload's `ts`, never the record's timestamp, which producers set to wall
time) ahead of the slowest family that still has records to read:

* a family with records buffered is *behind* as far as its next record (its head);
* a family with nothing buffered but records on the broker past its position
  (`more`) holds every other family of the partition: its next time is unknown until
  it is fetched (the consumer fetches it next: it is never paused);
* a family read to its end with nothing buffered is idle and holds nobody back, so live
  traffic is delivered as soon as it is fetched.

`plan` decides, as a pure function of the buffered times, which records go out and in
which order; the consumer peeks the times lazily (`event_ts`), only of the records a
decision needs. A record whose time cannot be read holds nobody back and is delivered as
soon as it reaches the head of its buffer (the pipeline dead-letters it).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import orjson

from schemas.events import MAX_EVENT_TIME, MIN_EVENT_TIME

K = TypeVar("K", bound=Hashable)


def plan(
    buffers: Mapping[K, Sequence[float | None]], more: Collection[K], bound: float
) -> list[tuple[K, int]]:
    """The deliveries, in order, of the buffered records of one partition's families:
    (family, how many of its next records), consecutive steps of one family merged.

    `buffers[f]`: the event times of family f's buffered records in offset order (None:
    unreadable); `more`: the families with records past their buffer not fetched yet;
    `bound`: seconds of event time a family may run ahead of the slowest family still to
    be read. At each step the family with the oldest head delivers its records up to
    `bound` past the next oldest head of another family with records left; it stops when
    a family of `more` has delivered its whole buffer (its next times are unknown) or
    everything is out. Records past the last step stay buffered."""
    taken = dict.fromkeys(buffers, 0)
    steps: list[tuple[K, int]] = []
    while True:
        left = [f for f, times in buffers.items() if taken[f] < len(times)]
        if not left or any(f in more and taken[f] == len(buffers[f]) for f in buffers):
            return steps
        if len(left) == 1:  # nobody else to wait for: no time needs reading
            family = left[0]
            n = len(buffers[family]) - taken[family]
        else:
            heads = {f: _key(buffers[f][taken[f]]) for f in left}
            family = min(left, key=heads.__getitem__)
            limit = min(h for f, h in heads.items() if f != family) + bound
            times, start = buffers[family], taken[family]
            end = start + 1  # its head is the oldest: within the limit
            while end < len(times) and _key(times[end]) <= limit:
                end += 1
            n = end - start
        taken[family] += n
        if steps and steps[-1][0] == family:
            steps[-1] = (family, steps[-1][1] + n)
        else:
            steps.append((family, n))


def _key(ts: float | None) -> float:
    return -math.inf if ts is None else ts


FUTURE_SLACK_SECONDS = 3600.0
"""An event time more than this ahead of its record's timestamp is not trusted for the
alignment (the pipeline dead-letters what is more than `ingest.max_future_skew_hours`
ahead): a hostile or broken `ts` must not move a partition's time days ahead."""

_MIN_TS, _MAX_TS = MIN_EVENT_TIME.timestamp(), MAX_EVENT_TIME.timestamp()


def event_ts(value: bytes | None, record_ms: int | None = None) -> float | None:
    """The `ts` of an event's JSON payload in epoch seconds, or None when it cannot be
    read (not JSON, no `ts`, not an ISO time with an offset, outside the event times the
    schema accepts, or more than `FUTURE_SLACK_SECONDS` ahead of `record_ms`, the Kafka
    record's timestamp, when given): such a record is delivered without waiting and holds
    nobody back; the pipeline dead-letters it or scores it as usual."""
    if value is None:
        return None
    try:
        ts = orjson.loads(value)["ts"]
        if not isinstance(ts, str):
            return None
        parsed = datetime.fromisoformat(ts)
    except (orjson.JSONDecodeError, TypeError, KeyError, IndexError, ValueError):
        return None
    if parsed.tzinfo is None:
        return None
    ts = parsed.timestamp()
    if not _MIN_TS <= ts < _MAX_TS:
        return None
    if record_ms and ts > record_ms / 1000 + FUTURE_SLACK_SECONDS:
        return None
    return ts


class Held(Sequence[float | None]):
    """The records of one topic partition fetched and not delivered yet, in offset order,
    as the sequence of their event times (`plan`'s buffer): each time is read
    (`event_ts`) the first time it is asked for."""

    __slots__ = ("_times", "records", "start")

    def __init__(self, records: list[Any]) -> None:
        self.records = records
        self.start = 0
        self._times: dict[int, float | None] = {}

    def __len__(self) -> int:
        return len(self.records) - self.start

    def __getitem__(self, i: int) -> float | None:  # type: ignore[override]
        if not 0 <= i < len(self):
            raise IndexError(i)
        j = self.start + i
        if j not in self._times:
            record = self.records[j]
            self._times[j] = event_ts(
                getattr(record, "value", None), getattr(record, "timestamp", None)
            )
        return self._times[j]

    def extend(self, records: list[Any]) -> None:
        self.records.extend(records)

    def take(self, n: int) -> tuple[list[Any], list[float | None]]:
        """The next `n` records, now delivered, and their event times."""
        times = [self[i] for i in range(min(n, len(self)))]
        taken = self.records[self.start : self.start + len(times)]
        self.start += len(taken)
        return taken, times
