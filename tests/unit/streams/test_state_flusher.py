"""States are saved once per commit, and only after the outputs they caused are durable
(`streams.state_flush.StateFlusher`, saving through `streams.state_store.StateStore`):
the ordering that makes a crash lose nothing.

Kafka deliveries are asyncio futures the test completes; ClickHouse is a stand-in
with the writer's three methods the flusher uses, whose rows land when the test
says so (the real writer and broker are in tests/integration/test_faults.py).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest

import scoring
from devtools.demo.portfolio import generate
from schemas.events import FAMILY_BY_TYPE, Family
from streams.clickhouse.writer import RowsAbandoned
from streams.pipeline import BatchProcessor, RawRecord
from streams.state_flush import StateFlusher
from streams.state_store import StateStore
from streams.statepack import unpack_value

TOPICS = {family: f"t.{family.value}" for family in Family}
CONFIG = scoring.load_config()
MODEL = scoring.default_churn_model(CONFIG)


class Rows:
    """The ClickHouse writer's bookkeeping: rows queued (`add`) and written (`land`)."""

    def __init__(self) -> None:
        self.added = self.written = 0
        self.nudged = 0
        self.abandoned = False  # the writer gave up (the worker's shutdown budget)

    def snapshot(self) -> dict[str, int]:
        return {"score_history": self.added}

    def covers(self, snapshot: dict[str, int]) -> bool:
        return self.written >= snapshot["score_history"]

    def nudge(self) -> None:
        self.nudged += 1


class Harness:
    def __init__(self) -> None:
        self.store: dict[bytes, bytes] = {}
        self.changelog: list[tuple[bytes, bytes, int]] = []
        self.states = StateStore(self.store, "account-state-changelog", self.send)
        self.processor = BatchProcessor(
            CONFIG, {t: f for f, t in TOPICS.items()}, lambda: MODEL, states=self.states
        )
        self.rows = Rows()
        self.flusher = StateFlusher(self.states, self.rows)  # type: ignore[arg-type]
        self.load = self.states.load

    async def send(
        self, topic: str, key: bytes, value: bytes, partition: int
    ) -> asyncio.Future[Any]:
        assert topic == "account-state-changelog"
        self.changelog.append((key, value, partition))
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def chunk(self, records: list[RawRecord]) -> list[asyncio.Future[Any]]:
        """Score a chunk as the agent does; its outputs' deliveries stay pending."""
        async with self.flusher.chunk():
            out = self.processor.score(records, self.load)
            loop = asyncio.get_running_loop()
            futures = [loop.create_future() for _ in out.scores]
            self.rows.added += len(out.scores)
            self.flusher.track(futures)
        return futures


def _records(accounts: int, partition_of: dict[str, int]) -> list[RawRecord]:
    events = list(generate(accounts=accounts, days=40, seed=11))
    offsets: dict[tuple[str, int], int] = {}
    out = []
    for e in events:
        topic = TOPICS[FAMILY_BY_TYPE[e["type"]]]
        p = partition_of.setdefault(e["account_id"], len(partition_of) % 2)
        offsets[topic, p] = offsets.get((topic, p), -1) + 1
        out.append(
            RawRecord(topic, p, offsets[topic, p], e["account_id"].encode(), orjson.dumps(e))
        )
    return out


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_states_are_saved_only_after_their_outputs_are_durable() -> None:
    partitions: dict[str, int] = {}
    records = _records(4, partitions)

    async def scenario() -> None:
        h = Harness()
        futures = await h.chunk(records[:300])
        assert futures and h.states.pending and not h.store
        flush = asyncio.create_task(h.flusher.flush(poll=0.001))
        await _settle()
        assert not h.store and not h.changelog  # Kafka has not acknowledged the outputs
        for f in futures:
            f.set_result(None)
        await _settle()
        assert not h.store and h.rows.nudged  # ClickHouse has not written the rows
        h.rows.written = h.rows.added
        saved = await flush
        assert saved == len(h.store) == len(h.changelog) == len(partitions)
        for key, value, partition in h.changelog:
            assert h.store[key] is value and partition == partitions[key.decode()]
        assert not h.states.pending and not h.states.flushing

    asyncio.run(scenario())


def test_changes_made_during_a_flush_wait_for_the_next_one_and_are_what_loads() -> None:
    partitions: dict[str, int] = {}
    records = _records(3, partitions)
    first, second = records[:200], records[200:400]

    async def scenario() -> None:
        h = Harness()
        early = await h.chunk(first)
        flush = asyncio.create_task(h.flusher.flush(poll=0.001))
        await _settle()
        assert h.states.flushing and not h.states.pending
        late = await h.chunk(second)  # scoring goes on while the flush waits
        touched = {r.key.decode() for r in second if r.key}
        assert set(h.states.pending) == touched
        for f in early:
            f.set_result(None)
        h.rows.written = h.rows.added  # the second chunk's rows too: they are not waited on
        await flush
        saved = dict(h.store)
        for account_id in touched:  # the table holds the older state; loads see the newer
            positions, _ = unpack_value(saved[account_id.encode()])
            entry = h.states.pending[account_id]
            assert entry.positions != positions
            assert h.states.get(account_id, h.load)[0] is entry.state
        for f in late:
            f.set_result(None)
        assert await h.flusher.flush(poll=0.001) == len(touched)
        # the table now ends where scoring every record in one go ends
        reference: dict[str, bytes] = {}
        BatchProcessor(CONFIG, {t: f for f, t in TOPICS.items()}, lambda: MODEL).run(
            first + second, reference.get, reference.__setitem__
        )
        assert {k.decode(): v for k, v in h.store.items()} == reference

    asyncio.run(scenario())


def test_an_undelivered_output_saves_nothing() -> None:
    records = _records(2, {})

    async def scenario() -> None:
        h = Harness()
        futures = await h.chunk(records[:100])
        futures[0].set_exception(RuntimeError("broker said no"))
        for f in futures[1:]:
            f.set_result(None)
        h.rows.written = h.rows.added
        with pytest.raises(RuntimeError, match="not delivered"):
            await h.flusher.flush(poll=0.001)
        assert not h.store and not h.changelog

    asyncio.run(scenario())


def test_rows_the_writer_gave_up_on_save_nothing_and_end_the_wait() -> None:
    """At shutdown in a ClickHouse outage the writer gives up: the flush before the last
    commit stops waiting and raises, so the consumer commits nothing (streams.transport)."""
    records = _records(2, {})

    async def scenario() -> None:
        h = Harness()
        futures = await h.chunk(records[:100])
        for f in futures:
            f.set_result(None)
        flush = asyncio.create_task(h.flusher.flush(poll=0.001))
        await _settle()
        assert not flush.done()  # waiting for the rows, as long as the writer tries
        h.rows.abandoned = True
        with pytest.raises(RowsAbandoned, match="not committing"):
            await asyncio.wait_for(flush, timeout=1)
        assert not h.store and not h.changelog

    asyncio.run(scenario())


def test_revoked_partitions_lose_their_unsaved_states_only() -> None:
    partitions: dict[str, int] = {}
    records = _records(4, partitions)
    h = Harness()
    h.processor.score(records[:300], h.load)
    on = {p: {a for a in h.states.pending if partitions[a] == p} for p in (0, 1)}
    assert on[0] and on[1]
    assert h.states.discard({1}) == len(on[1])
    assert set(h.states.pending) == on[0]


def test_outputs_of_a_chunk_that_changed_no_state_are_waited_for_too() -> None:
    bad = [RawRecord(TOPICS[Family.USAGE], 0, i, b"acct-x", b"not json") for i in range(3)]

    async def scenario() -> None:
        h = Harness()
        async with h.flusher.chunk():
            out = h.processor.score(bad, h.load)
            assert len(out.dead_letters) == 3 and not h.states.pending
            delivery: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            h.flusher.track([delivery])
        flush = asyncio.create_task(h.flusher.flush(poll=0.001))
        await _settle()
        assert not flush.done()  # the dead letter is not acknowledged: no commit yet
        delivery.set_result(None)
        assert await flush == 0

    asyncio.run(scenario())


def _slow_flusher(states: int, seconds_per_state: float) -> Harness:
    """A harness with `states` unsaved states, each taking `seconds_per_state` to save."""
    h = Harness()
    h.processor.score(_records(1, {}), h.load)
    (entry,) = h.states.pending.values()
    h.states.pending = {f"acct-{i:05d}": entry for i in range(states)}
    send = h.send

    async def slow_send(
        topic: str, key: bytes, value: bytes, partition: int
    ) -> asyncio.Future[Any]:
        time.sleep(seconds_per_state)  # the CPU work of encoding and sending, held
        return await send(topic, key, value, partition)

    h.states.send = slow_send
    return h


async def _flush_beside(h: Harness, turn_seconds: float) -> tuple[int, float]:
    """Flush while another task takes turns of `turn_seconds` (0: as Faust's fetcher, which
    needs many short turns per fetch; 20 ms: as the agent scoring a backlog). Returns the
    other task's turns during the flush and the longest wait between two of them."""
    turns, longest = 0, 0.0
    flush = asyncio.create_task(h.flusher.flush(poll=0.001))
    await asyncio.sleep(0)
    last = time.perf_counter()
    while not flush.done():
        await asyncio.sleep(0)
        now = time.perf_counter()
        turns, longest, last = turns + 1, max(longest, now - last), now
        time.sleep(turn_seconds)
        last = time.perf_counter()
    assert await flush == len(h.store)
    return turns, longest


def test_a_long_flush_leaves_the_event_loop_short_turns() -> None:
    # 400 states at 0.2 ms: 80 ms of saving; 250-state slices held the loop for 50 ms at a
    # time, and the fetcher, needing a dozen turns per fetch, stalled behind them
    h = _slow_flusher(400, 0.0002)
    turns, longest = asyncio.run(_flush_beside(h, 0.0))
    assert len(h.store) == 400
    assert longest < 0.015, f"the loop was held {longest * 1000:.0f} ms by one slice"
    assert turns >= 20


def test_a_flush_beside_long_turns_takes_longer_slices_and_still_ends() -> None:
    # beside 20 ms turns (the agent on a backlog) the flush takes ~10 ms slices, a third of
    # the time: 2 ms slices would need ~40 of the other task's turns to end
    h = _slow_flusher(400, 0.0002)
    turns, _ = asyncio.run(_flush_beside(h, 0.02))
    assert len(h.store) == 400
    assert turns <= 20, f"the flush took {turns} turns of 20 ms to save 80 ms of states"
