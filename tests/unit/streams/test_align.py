"""The alignment policy of the family topics of one partition (`streams.align`): which
buffered records the consumer delivers, in which order, and which it holds back."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.align import event_ts, plan

H = 3600.0


def test_a_family_read_weeks_ahead_waits_for_the_slowest_one() -> None:
    # usage fetched up to day 20, billing still at its first hours: each family goes up to
    # an hour past the other's next record, and usage's day 20 waits for billing's end
    usage = [0.0, 0.5 * H, 2 * H, 20 * 24 * H]
    billing = [0.25 * H, 3 * H]
    steps = plan({"usage": usage, "billing": billing}, more=set(), bound=H)
    assert steps == [("usage", 2), ("billing", 2), ("usage", 2)]


def test_a_family_with_unread_records_and_nothing_buffered_holds_everyone() -> None:
    # billing has records on the broker not fetched yet: their times are unknown
    assert plan({"usage": [0.0, 1.0], "billing": []}, more={"billing"}, bound=H) == []


def test_a_caught_up_family_holds_nobody_back() -> None:
    # billing read to its end and nothing buffered: usage goes on alone (live operation)
    assert plan({"usage": [0.0, 30 * 24 * H], "billing": []}, more=set(), bound=H) == [("usage", 2)]


def test_delivery_stops_where_a_family_runs_dry_with_more_to_read() -> None:
    # billing's buffer ends at 1 h with more on the broker: usage may not pass 2 h until
    # billing's next records are known
    steps = plan(
        {"usage": [0.0, 1.5 * H, 2.5 * H, 3 * H], "billing": [0.5 * H, H]},
        more={"billing"},
        bound=H,
    )
    assert steps == [("usage", 2), ("billing", 2)]


def test_a_record_without_a_readable_time_is_passed_through() -> None:
    # the pipeline dead-letters it; it holds nobody back and is never held itself
    steps = plan({"usage": [None, 10 * H], "billing": [0.0, None, 5 * H]}, more=set(), bound=H)
    assert steps[0] == ("usage", 1)
    assert steps == [("usage", 1), ("billing", 3), ("usage", 1)]


def test_bound_zero_is_a_merge_by_event_time() -> None:
    a, b = [1.0, 3.0, 5.0], [2.0, 4.0, 6.0]
    steps = plan({"a": a, "b": b}, more=set(), bound=0.0)
    assert steps == [("a", 1), ("b", 1), ("a", 1), ("b", 1), ("a", 1), ("b", 1)]


def test_event_ts_reads_the_payloads_ts() -> None:
    assert event_ts(b'{"ts": "1970-01-02T00:00:00Z", "type": "x"}') == 86400.0
    assert event_ts(b'{"ts": "1970-01-01T02:00:00+01:00"}') == 3600.0
    for bad in (b"not json", b'{"ts": 5}', b'{"ts": "yesterday"}', b"[]", None,
                b'{"ts": "2026-01-01T00:00:00"}'):  # fmt: skip
        assert event_ts(bad) is None
    # outside the schema's event times, or far ahead of the record's own timestamp (the
    # pipeline dead-letters those): not trusted to move a partition's time
    assert event_ts(b'{"ts": "9999-12-31T00:00:00Z"}') is None
    assert event_ts(b'{"ts": "1969-12-31T00:00:00Z"}') is None
    assert event_ts(b'{"ts": "1970-01-03T00:00:00Z"}', record_ms=86400_000) is None
    assert event_ts(b'{"ts": "1970-01-02T00:30:00Z"}', record_ms=86400_000) == 88200.0


times = st.lists(st.floats(0, 100 * H, allow_nan=False), max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from("abcd"), times, min_size=1),
    st.sets(st.sampled_from("abcd")),
    st.sampled_from([0.0, H, 24 * H]),
)
def test_no_record_runs_more_than_the_bound_ahead_of_a_family_still_to_be_read(
    buffers: dict[str, list[float]], more: set[str], bound: float
) -> None:
    steps = plan(buffers, more, bound)
    taken = dict.fromkeys(buffers, 0)
    for family, n in steps:
        assert n >= 1
        for ts in buffers[family][taken[family] : taken[family] + n]:
            # every other family with records left (buffered or not fetched) is known to
            # be within the bound: its next record is no older than ts - bound
            for other, left in buffers.items():
                if other == family:
                    continue
                if taken[other] < len(left):
                    assert left[taken[other]] >= ts - bound
                else:
                    assert other not in more
        taken[family] += n
    # records are delivered in offset order and never twice; what is held is a suffix
    assert all(taken[f] <= len(b) for f, b in buffers.items())
    # it stops only when a family with more to read has nothing buffered, or all is out
    if any(taken[f] < len(b) for f, b in buffers.items()):
        assert any(taken[f] == len(buffers[f]) and f in more for f in buffers)


def test_ts_values_are_read_lazily() -> None:
    # the consumer peeks only the records the decision needs
    read: list[int] = []

    class Lazy(list[float]):
        def __getitem__(self, i):  # type: ignore[no-untyped-def, override]
            read.append(i)
            return super().__getitem__(i)

    usage = Lazy(float(i) for i in range(1000))
    assert plan({"usage": usage, "billing": []}, more=set(), bound=H) == [("usage", 1000)]
    assert read == []
