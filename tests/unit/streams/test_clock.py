"""The worker's clock (`streams.clock`, docs/scoring.md "The clock"): when tick records are
written per input partition, and the processor applying them."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable

import pytest
from aiokafka import TopicPartition

import scoring
from schemas.decode import decode_event
from schemas.events import FAMILY_BY_TYPE, Event, Family
from schemas.outputs import Alert
from scoring.decay import DAY
from streams.clock import (
    ClockRecovery,
    PartitionClock,
    Recovered,
    Tick,
    partition_of,
    topics_unread,
)
from streams.pipeline import BatchOutput, BatchProcessor, RawRecord
from tests.unit.scoring.factory import Events, at
from tests.unit.scoring.scripts import healthy

TOPICS = {family: f"t.{family.value}" for family in Family}
T0 = at(0).timestamp()


def test_idle_topics_still_tick_daily() -> None:
    clock = PartitionClock(live_lag=3600)
    assert clock.observe(0, T0 + 3600, wall=T0 + 3700) == []
    assert clock.idle(wall=T0 + 3700 + 10) == []
    # three days of wall time later, no event since: a tick at each midnight passed
    assert clock.idle(wall=T0 + 3 * DAY + 3700) == [Tick(0, int(T0 + d * DAY)) for d in (1, 2, 3)]
    assert clock.idle(wall=T0 + 3 * DAY + 7200) == []  # never twice
    # an event at the wall clock later goes on from there
    assert clock.observe(0, T0 + 4 * DAY + 60, wall=T0 + 4 * DAY + 70) == [
        Tick(0, int(T0 + 4 * DAY))
    ]


def test_a_backfill_ticks_on_its_own_event_time_only() -> None:
    clock = PartitionClock(live_lag=3600)
    wall = T0 + 400 * DAY  # the wall clock is far ahead of the events
    assert clock.observe(0, T0 + 10, wall) == []
    assert clock.idle(wall + 30 * DAY) == []  # idle, but behind the wall clock: no tick
    assert clock.observe(0, T0 + 2 * DAY + 5, wall + 30 * DAY) == [
        Tick(0, int(T0 + DAY)),
        Tick(0, int(T0 + 2 * DAY)),
    ]
    assert clock.idle(wall + 60 * DAY) == []


def test_a_lagging_partition_ticks_on_its_own_time() -> None:
    clock = PartitionClock(live_lag=3600)
    clock.observe(0, T0, wall=T0)
    clock.observe(1, T0, wall=T0)
    ahead = clock.observe(0, T0 + 10 * DAY, wall=T0 + 10 * DAY)
    behind = clock.observe(1, T0 + 3 * DAY + 1, wall=T0 + 10 * DAY)
    assert [t.partition for t in ahead] == [0] * 10
    assert behind == [Tick(1, int(T0 + d * DAY)) for d in (1, 2, 3)]
    assert clock.idle(wall=T0 + 10 * DAY + 60) == []  # partition 1 is behind: no idle tick


def test_ticks_read_back_are_not_written_again_and_revoked_partitions_are_forgotten() -> None:
    clock = PartitionClock()
    clock.ticked(0, T0 + DAY)
    assert clock.observe(0, T0 + DAY + 5, wall=T0 + DAY + 5) == []
    assert clock.observe(0, T0 + 2 * DAY, wall=T0 + 2 * DAY) == [Tick(0, int(T0 + 2 * DAY))]
    clock.forget({0})
    assert clock.partitions == {}


def test_a_partition_resumed_from_the_log_ticks_while_idle_as_if_never_restarted() -> None:
    # the events were written up to T0 + 3 days - 60 s, at about that wall time (live); the
    # last tick record is at T0 + 2 days. A worker starting 10 minutes after the last
    # event resumes the partition and ticks the next midnight with no new event
    last, written = T0 + 3 * DAY - 60, T0 + 3 * DAY - 50
    found = Recovered(last, written, T0 + 2 * DAY, {"t.usage": last})
    clock = PartitionClock(live_lag=3600)
    clock.resume(0, found)
    assert clock.idle(wall=written + 5) == []
    assert clock.idle(wall=written + 600) == [Tick(0, int(T0 + 3 * DAY))]
    # the same as a worker that had read those events itself and never stopped
    never = PartitionClock(live_lag=3600)
    never.ticked(0, T0 + 2 * DAY)
    never.observe(0, last, wall=written, topic="t.usage")
    assert never.idle(wall=written + 600) == [Tick(0, int(T0 + 3 * DAY))]


def test_a_resumed_backfill_still_ticks_on_its_own_events_only() -> None:
    found = Recovered(T0 + 3 * DAY - 60, T0 + 400 * DAY, T0 + 2 * DAY, {"t.usage": T0})
    clock = PartitionClock(live_lag=3600)
    clock.resume(0, found)
    assert clock.idle(wall=T0 + 410 * DAY) == []
    assert clock.observe(0, T0 + 3 * DAY + 5, wall=T0 + 410 * DAY, topic="t.usage") == [
        Tick(0, int(T0 + 3 * DAY))
    ]


def test_resuming_only_moves_a_partition_time_forward() -> None:
    clock = PartitionClock(live_lag=3600)
    # a tick read back before the recovery ends: known by its ticks only, no event time yet
    clock.ticked(0, T0 + 3 * DAY)
    clock.resume(0, Recovered(T0 + 3 * DAY - 60, T0 + 3 * DAY - 50, T0 + 2 * DAY, {}))
    p = clock.partitions[0]
    assert (p.event_time, p.seen_at, p.ticked) == (
        T0 + 3 * DAY - 60,
        T0 + 3 * DAY - 50,
        T0 + 3 * DAY,
    )
    assert clock.idle(wall=T0 + 3 * DAY + 600) == []  # that midnight's tick exists
    # events read meanwhile are newer than the log the recovery read: they stay
    clock.observe(1, T0 + 5 * DAY, wall=T0 + 5 * DAY, topic="t.usage")
    clock.resume(1, Recovered(T0 + 4 * DAY, T0 + 4 * DAY, None, {"t.usage": T0 + 4 * DAY}))
    p = clock.partitions[1]
    assert (p.event_time, p.seen_at, p.topics["t.usage"][0]) == (T0 + 5 * DAY,) * 3


def _raw(topic: str, offset: int, value: bytes, stamp: float, partition: int = 0) -> RawRecord:
    return RawRecord(topic, partition, offset, b"k", value, int(stamp * 1000))


def test_recovery_takes_the_newest_accepted_event_and_the_last_tick() -> None:
    def event_time(record: RawRecord) -> float:
        assert record.value is not None
        if record.value == b"junk":
            raise ValueError("dead-lettered")
        return float(record.value)

    recovery = ClockRecovery(
        PartitionClock(), {}, "g", ["t.usage", "t.billing"], "t.clock", event_time
    )
    records = {
        TopicPartition("t.usage", 0): [
            _raw("t.usage", 7, str(T0 + 50).encode(), T0 + 60),
            _raw("t.usage", 8, str(T0 + 40).encode(), T0 + 70),  # out of order
            _raw("t.usage", 9, b"junk", T0 + 80),
        ],
        TopicPartition("t.billing", 0): [_raw("t.billing", 3, str(T0 + 20).encode(), T0 + 30)],
        TopicPartition("t.clock", 0): [_raw("t.clock", 4, Tick(0, int(T0)).to_bytes(), T0 + 1)],
        TopicPartition("t.usage", 1): [_raw("t.usage", 1, b"junk", T0, partition=1)],
    }
    found = recovery._recovered({0, 1, 2}, records)
    assert found == {0: Recovered(T0 + 50, T0 + 60, T0, {"t.usage": T0 + 50, "t.billing": T0 + 20})}


def test_a_recovery_resumes_the_clock_unless_partitions_were_revoked_meanwhile() -> None:
    found = {0: Recovered(T0 + 50, T0 + 60, T0, {"t.usage": T0 + 50})}
    resumed: list[int] = []

    def recovery(revoke: bool, fail: bool = False) -> ClockRecovery:
        r = ClockRecovery(clock, {}, "g", ["t.usage"], "t.clock", float,
                          lambda p, _: resumed.append(p))  # fmt: skip

        async def read(partitions: set[int]) -> dict[int, Recovered]:
            if revoke:
                clock.forget({1})
            if fail:
                raise OSError("no broker")
            return found

        r.read = read  # type: ignore[method-assign]
        return r

    clock = PartitionClock()
    assert asyncio.run(recovery(revoke=True)({0})) == {}
    assert clock.partitions == {} and resumed == []
    assert asyncio.run(recovery(revoke=False, fail=True)({0})) == {}
    assert clock.partitions == {}
    assert asyncio.run(recovery(revoke=False)({0})) == found
    assert clock.partitions[0].event_time == T0 + 50 and resumed == [0]


def test_tick_records_round_trip_and_refuse_nonsense() -> None:
    tick = Tick(3, int(T0))
    assert Tick.from_bytes(tick.to_bytes()) == tick
    for bad in (b'{"partition": 1, "ts": 5}', b'{"partition": "1", "ts": 0}', b"[]"):
        with pytest.raises((ValueError, KeyError, TypeError)):
            Tick.from_bytes(bad)


# --- the processor applying ticks ----------------------------------------------------------


def _records(events: Iterable[Event], wall_ahead: float = 0.0) -> list[RawRecord]:
    """The events as records of partition 0, Kafka timestamps `wall_ahead` seconds after
    their event time."""
    offsets: dict[str, int] = {}
    out = []
    for e in sorted(events, key=lambda e: e.ts):
        topic = TOPICS[FAMILY_BY_TYPE[e.type]]
        offset = offsets[topic] = offsets.get(topic, -1) + 1
        ms = int((e.ts.timestamp() + wall_ahead) * 1000)
        out.append(
            RawRecord(topic, 0, offset, e.account_id.encode(), e.model_dump_json().encode(), ms)
        )
    return out


def _sparse() -> Events:
    """An account using the product every third day: ticks fall between its events."""
    ev = Events("acct-sparse").add("subscription_started", 0.2, plan="growth", mrr=900.0, seats=5)
    for day in range(0, 70, 3):
        ev.add("feature_used", day + 0.7, user_id="u1", feature="f1", quantity=4)
    return ev


def _scenario() -> list[RawRecord]:
    """acct-quiet active for 40 days then silent; acct-busy active for 71 days; acct-sparse
    active every third day."""
    return _records([*healthy("acct-quiet", days=40), *healthy("acct-busy", days=71), *_sparse()])


def _replay(
    records: list[RawRecord],
    delay: int = 0,
    wall_ahead: float = 0.0,
    idle_every: int = 0,
    observe_after: bool = False,
) -> tuple[BatchOutput, list[Tick]]:
    """What the agent does: score the records in batches, feed each record's event time to
    the partition clock, and apply each tick to every account of the partition (in account
    order) after the batch it was written after, or `delay` batches later (the clock
    topic read behind the inputs). With `observe_after`, as the scoring agent does: a
    batch's event times reach the partition clock after the batch is scored, so the ticks
    inside a batch's span are written after its events."""
    config = scoring.load_config()
    model = scoring.default_churn_model(config)
    processor = BatchProcessor(
        config, {t: f for f, t in TOPICS.items()}, lambda: model, catch_up_ticks=True
    )
    table: dict[str, bytes] = {}
    clock = PartitionClock(live_lag=3600)
    total = BatchOutput()
    written: list[Tick] = []

    def add(out: BatchOutput) -> None:
        total.scores += out.scores
        total.transitions += out.transitions
        total.alerts += out.alerts
        total.dead_letters += out.dead_letters

    def apply(ticks: list[Tick]) -> None:
        for tick in ticks:
            accounts = sorted(a for a, v in table.items() if partition_of(v) == tick.partition)
            add(processor.tick(tick, accounts, table.get))
            processor.save_pending(table.__setitem__)

    batches = [records[i : i + 97] for i in range(0, len(records), 97)]
    waiting: list[list[Tick]] = []
    for n, batch in enumerate(batches):
        due: list[Tick] = []
        if observe_after:
            add(processor.run(batch, table.get, table.__setitem__))
        for record in batch:
            ts = scoring_ts(record)
            due += clock.observe(record.partition, ts, ts + wall_ahead)
        if idle_every and n % idle_every == 0:
            due += clock.idle(scoring_ts(batch[-1]) + wall_ahead + 5 * DAY)
        written += due
        for tick in due:  # what the agent does as it writes them
            processor.clock_at(tick.partition, tick.ts)
        if not observe_after:
            add(processor.run(batch, table.get, table.__setitem__))
        waiting.append(due)
        if len(waiting) > delay:
            apply(waiting.pop(0))
    for due in waiting:
        apply(due)
    return total, written


def scoring_ts(record: RawRecord) -> float:
    return decode_event(record.value or b"").ts.timestamp()


def _alerts(out: BatchOutput, account: str) -> list[Alert]:
    return [a for a in out.alerts if a.account_id == account]


def test_a_silent_account_in_the_worker_falls_and_raises_one_episode() -> None:
    out, ticks = _replay(_scenario())
    assert not out.dead_letters
    assert [t.ts for t in ticks] == [int(at(d).timestamp()) for d in range(1, 71)]
    quiet = [a for a in _alerts(out, "acct-quiet") if a.ts >= at(40)]
    assert sorted(a.kind for a in quiet) == ["gone_quiet", "health_drop"], quiet
    assert next(a for a in quiet if a.kind == "gone_quiet").ts == at(47)
    scores = [s for s in out.scores if s.account_id == "acct-quiet" and s.ts >= at(40)]
    healths = [s.health for s in scores]
    assert len(scores) == 31 and all(b < a for a, b in itertools.pairwise(healths)), healths
    assert not [a for a in _alerts(out, "acct-busy") if a.kind == "gone_quiet"]


def test_two_replays_give_identical_outputs_whatever_the_tick_interleaving() -> None:
    def dump(out: BatchOutput) -> list[str]:
        return sorted(m.model_dump_json() for m in (*out.scores, *out.transitions, *out.alerts))

    records = _scenario()
    first, ticks_a = _replay(records)
    again, ticks_b = _replay(records)
    late, ticks_c = _replay(records, delay=1)
    later, ticks_d = _replay(records, delay=3)
    assert ticks_a == ticks_b == ticks_c == ticks_d
    assert dump(first) == dump(again) == dump(late) == dump(later)


def test_ticks_written_after_the_events_of_their_batch_change_nothing() -> None:
    """The scoring agent writes the ticks a batch's event times make due after scoring it,
    while a replay of the log may read those tick records before the batch: an account
    is evaluated at every midnight between two of its uses either way. (Its events of
    other families catch it up to the tick records only, which keeps their order
    dependence: the accounts here have usage only.)"""

    def dump(out: BatchOutput) -> list[str]:
        return sorted(m.model_dump_json() for m in (*out.scores, *out.transitions, *out.alerts))

    records = [r for r in _scenario() if r.topic == TOPICS[Family.USAGE]]  # offsets 0...
    first, ticks_a = _replay(records)
    after, ticks_b = _replay(records, observe_after=True)
    after_late, ticks_c = _replay(records, observe_after=True, delay=2)
    assert ticks_a == ticks_b == ticks_c
    assert dump(after) == dump(first)
    assert dump(after_late) == dump(first)


def test_a_backfill_far_behind_the_wall_clock_has_no_too_late_and_no_burst() -> None:
    year = 365 * DAY
    out, ticks = _replay(_scenario(), wall_ahead=year, idle_every=3)
    assert not [d for d in out.dead_letters if d.reason == "too_late"]
    assert max(t.ts for t in ticks) <= at(71).timestamp()  # never ahead of its events
    quiet = [a for a in out.alerts if a.kind == "gone_quiet"]
    assert [(a.account_id, a.ts) for a in quiet] == [("acct-quiet", at(47))]
    live, _ = _replay(_scenario())
    assert sorted(a.model_dump_json() for a in out.alerts) == sorted(
        a.model_dump_json() for a in live.alerts
    )


def test_the_first_chunk_of_a_partition_ticks_from_its_oldest_event() -> None:
    clock = PartitionClock()
    due = clock.observe(0, T0 + 3 * DAY + 5, wall=T0 + 400 * DAY, since=T0 + 60)
    assert due == [Tick(0, int(T0 + d * DAY)) for d in (1, 2, 3)]


def test_a_small_topic_read_ahead_of_a_large_one_does_not_move_the_partition_time() -> None:
    clock = PartitionClock()
    wall = T0 + 400 * DAY  # catching up on a backlog
    assert clock.observe(0, T0 + 5 * DAY + 9, wall, T0, "usage", behind=True)[-1].ts == int(
        T0 + 5 * DAY
    )
    # the billing topic (small) is read to its end, 55 days ahead: no tick past usage
    assert clock.observe(0, T0 + 60 * DAY, wall, T0, "billing", behind=False) == []
    due = clock.observe(0, T0 + 7 * DAY + 9, wall, None, "usage", behind=True)
    assert due == [Tick(0, int(T0 + 6 * DAY)), Tick(0, int(T0 + 7 * DAY))]
    # usage read to its end too: the partition's time is the newest of all
    due = clock.observe(0, T0 + 8 * DAY, wall, None, "usage", behind=False)
    assert due[-1] == Tick(0, int(T0 + 60 * DAY)) and len(due) == 53


def test_an_input_topic_not_fetched_yet_holds_the_partition_time() -> None:
    clock = PartitionClock()
    wall = T0 + 400 * DAY
    assert clock.observe(0, T0 + 9 * DAY, wall, T0, "billing", unfetched=1) == []
    assert clock.observe(0, T0 + 2 * DAY + 1, wall, None, "usage", behind=True) == [
        Tick(0, int(T0 + DAY)),
        Tick(0, int(T0 + 2 * DAY)),
    ]


def test_a_topic_fetched_later_with_older_events_moves_the_first_tick_back() -> None:
    """The first topic fetched may start weeks after the partition's first event (support
    events came later than usage): until the first tick, the ticks start from the
    earliest event of any topic, so no day boundary of the partition is left unticked."""
    clock = PartitionClock()
    wall = T0 + 400 * DAY
    assert clock.observe(0, T0 + 30 * DAY, wall, T0 + 25 * DAY, "support", unfetched=1) == []
    due = clock.observe(0, T0 + 30 * DAY + 1, wall, T0 + 60, "usage", behind=False)
    assert due == [Tick(0, int(T0 + d * DAY)) for d in range(1, 31)]


def test_a_topic_fetched_but_not_scored_yet_holds_the_partition_time() -> None:
    """A backfill fetched at once: every topic has a highwater, and the agent scores the
    billing batch (days 20-60) while the usage, support and success batches still wait in
    its queue. Their events are older: a tick past them would be applied before them
    (the worker's outputs would depend on which batch the agent takes first)."""
    clock = PartitionClock()
    wall = T0 + 400 * DAY
    fetched = {"usage": 900, "support": 80, "billing": 3, "success": 9}
    highwaters: dict[str, int | None] = dict(fetched)
    scored = {"billing": 3}
    held = topics_unread(highwaters, fetched, scored)
    assert held == 3
    assert clock.observe(0, T0 + 60 * DAY, wall, T0 + 20 * DAY, "billing", False, held) == []
    scored.update(usage=900, support=80)
    assert topics_unread(highwaters, fetched, scored) == 1
    scored.update(success=9)
    assert topics_unread(highwaters, fetched, scored) == 0
    due = clock.observe(0, T0 + 70 * DAY, wall, T0, "usage", False, 0)
    assert due == [Tick(0, int(T0 + d * DAY)) for d in range(1, 71)]
    # a topic not fetched yet holds it too; one with nothing fetched this run does not
    assert topics_unread({"usage": None, "billing": 5}, {}, {}) == 1


def test_an_event_of_another_family_read_ahead_of_the_usage_does_not_make_it_quiet() -> None:
    """A worker reads the family topics at its own pace: a meeting on day 42 may be scored
    before the usage of days 31-41. Catching the account up to the meeting would tick it at
    midnights where its usage only looks silent (those events are not read yet): an event
    of a family other than usage catches its account up to the tick records only."""
    config = scoring.load_config()
    model = scoring.default_churn_model(config)
    processor = BatchProcessor(
        config, {t: f for f, t in TOPICS.items()}, lambda: model, catch_up_ticks=True
    )
    table: dict[str, bytes] = {}
    events = list(healthy("acct-1", days=60))
    records = _records(events)
    early = [r for r in records if scoring_ts(r) < at(31).timestamp()]
    late = [r for r in records if scoring_ts(r) >= at(31).timestamp()]
    for day in range(1, 31):  # the partition's ticks so far: its time is day 30
        processor.clock_at(0, at(day).timestamp())
    out = processor.run(early, table.get, table.__setitem__)
    usage = TOPICS[Family.USAGE]
    others = [r for r in late if r.topic != usage]  # read first
    out = processor.run(others, table.get, table.__setitem__)
    out2 = processor.run([r for r in late if r.topic == usage], table.get, table.__setitem__)
    quiet = [a for a in (*out.alerts, *out2.alerts) if a.kind == "gone_quiet"]
    assert quiet == []
