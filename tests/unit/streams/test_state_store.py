"""`StateStore`: what it reads, holds and saves of the account states (the ordering of
the saves is `test_state_flusher.py`'s)."""

from __future__ import annotations

import asyncio
from typing import Any

import scoring
from streams.state_store import Pending, StateStore
from streams.statepack import NO_POSITIONS, pack_value, unpack_value


def _positions(partition: int) -> tuple[int, ...]:
    return (partition, 7, *NO_POSITIONS[2:])


def _pending(account_id: str, partition: int) -> Pending:
    return Pending(scoring.new_state(account_id), _positions(partition), partition)


def test_accounts_of_a_partition_are_those_its_table_values_name_and_its_unsaved_ones() -> None:
    state = scoring.new_state("x").to_bytes()
    table = {
        b"a": pack_value(_positions(0), state),
        b"b": pack_value(_positions(1), state),
        b"c": pack_value(NO_POSITIONS, state),  # names no partition
    }
    states = StateStore(table)
    states.hold("d", _pending("d", 0))
    states.hold("e", _pending("e", 1))
    states.begin_flush()
    states.hold("f", _pending("f", 0))
    assert states.accounts_of(0) == ["a", "d", "f"]
    assert states.accounts_of(1) == ["b", "e"]
    assert states.unsaved == 3


def test_a_write_goes_to_the_table_and_the_cache_and_its_changelog_record_to_its_partition():
    sent: list[tuple[str, bytes, bytes, int]] = []

    async def send(topic: str, key: bytes, value: bytes, partition: int) -> asyncio.Future[Any]:
        sent.append((topic, key, value, partition))
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    table: dict[bytes, bytes] = {}
    states = StateStore(table, "changelog", send)
    entry = _pending("acct-1", 3)
    states.hold("acct-1", entry)
    (account_id, held), *_ = states.begin_flush().items()
    key, value = states.write(account_id, held)
    asyncio.run(states.send_changelog(key, value, held.partition))
    states.end_flush()
    assert table == {b"acct-1": value} and sent == [("changelog", b"acct-1", value, 3)]
    assert unpack_value(value)[0] == entry.positions
    got, positions = states.get("acct-1", states.load)
    assert got is entry.state and positions == entry.positions  # from the cache
    assert states.cache.hits == 1 and states.unsaved == 0


def test_a_value_written_by_anyone_else_is_decoded_not_taken_from_the_cache() -> None:
    table: dict[bytes, bytes] = {}
    states = StateStore(table)
    states.hold("a", _pending("a", 0))
    states.save_pending(lambda account_id, value: table.__setitem__(account_id.encode(), value))
    other = pack_value(_positions(2), scoring.new_state("a").to_bytes())
    table[b"a"] = other
    state, positions = states.get("a", states.load)
    assert positions == _positions(2) and states.cache.hits == 0
    assert state.account_id == "a"
