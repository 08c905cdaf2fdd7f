"""Migrations and batched writes on the real (embedded) ClickHouse engine."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import orjson
import pytest

from streams.clickhouse import ClickHouseWriter, connect, migrate
from streams.clickhouse.migrations import available
from streams.settings import load_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def ch(tmp_path):
    with connect(load_settings(data_dir=tmp_path, clickhouse_database="hs_test")) as client:
        yield client


def test_migrations_create_every_table_once_and_are_idempotent(ch):
    first = migrate(ch)
    assert [m.version for m in first] == [m.version for m in available()]
    assert migrate(ch) == []
    tables = {r[0] for r in ch.query("SHOW TABLES FROM hs_test")}
    assert {"score_history", "latest_score", "transitions", "alerts", "dead_letters",
            "churn_track_record", "schema_migrations"} <= tables  # fmt: skip


def test_score_history_is_partitioned_by_month_and_latest_score_is_replacing(ch):
    migrate(ch)
    engines = dict(
        ch.query("SELECT name, concat(engine_full) FROM system.tables WHERE database = 'hs_test'")
    )
    assert "PARTITION BY toYYYYMM(ts)" in engines["score_history"]
    assert engines["latest_score"].startswith("ReplacingMergeTree(events_applied)")
    assert "PARTITION BY" not in engines["latest_score"]


def test_latest_score_final_keeps_the_newest_row_per_account(ch):
    migrate(ch)
    cols = ["account_id", "ts", "event_id", "health", "band", "coverage", "tier", "engagement",
            "drivers", "churn_drivers", "segment", "mrr", "cancelled", "events_applied",
            "config_version", "model_version"]  # fmt: skip
    now = datetime(2026, 1, 1, tzinfo=UTC)
    row = ["a", now, "e", 50.0, "yellow", 1.0, "nice_to_have", "one_to_many", "[]", "[]", "d",
           0.0, 0, 1, "v1", "m1"]  # fmt: skip
    ch.insert("latest_score", [row, [*row[:3], 80.0, *row[4:13], 2, *row[14:]]], cols)
    ch.insert("latest_score", [[*row[:3], 10.0, *row[4:13], 1, *row[14:]]], cols)
    assert ch.query("SELECT health, events_applied FROM hs_test.latest_score FINAL") == [(80.0, 2)]


def test_the_writer_batches_rows_instead_of_writing_one_at_a_time(ch):
    ch.command("CREATE DATABASE IF NOT EXISTS hs_test")
    ch.command("CREATE TABLE hs_test.w (n UInt32) ENGINE = MergeTree ORDER BY n")
    writer = ClickHouseWriter(ch, batch_rows=500, flush_seconds=0.2).start()
    try:
        for n in range(2000):
            writer.add("w", ["n"], [[n]])
        assert writer.flush(timeout=20)
    finally:
        writer.stop()
    assert ch.query("SELECT count(), sum(n) FROM hs_test.w") == [(2000, sum(range(2000)))]
    assert writer.stats.rows_written == 2000
    assert writer.stats.batches_written <= 8, writer.stats


def test_the_writer_keeps_rows_through_failures_and_catches_up(ch):
    ch.command("CREATE DATABASE IF NOT EXISTS hs_test")
    writer = ClickHouseWriter(ch, batch_rows=100, flush_seconds=0.05, max_backoff_seconds=0.3)
    writer.start()
    try:
        writer.add("late", ["n"], [[n] for n in range(250)])
        deadline = time.monotonic() + 10
        while writer.stats.failures < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writer.stats.failures >= 2, "inserts into a missing table must fail"
        assert writer.pending_rows == 250
        ch.command("CREATE TABLE hs_test.late (n UInt32) ENGINE = MergeTree ORDER BY n")
        assert writer.flush(timeout=20)
    finally:
        writer.stop()
    assert ch.query("SELECT count(), uniqExact(n) FROM hs_test.late") == [(250, 250)]


# --- writes that cannot wedge (issue 22) ------------------------------------------


def _months(n: int) -> list[datetime]:
    return [datetime(2010 + i // 12, 1 + i % 12, 1, tzinfo=UTC) for i in range(n)]


def test_rows_spanning_more_than_a_hundred_months_are_all_written(ch):
    """score_history is PARTITION BY toYYYYMM(ts): ClickHouse refuses one insert over 100
    partitions (code 252), so the writer must split it by month."""
    migrate(ch)
    months = _months(101) + _months(130)[101:] + _months(30)  # 130 months, 30 twice
    cols = ["account_id", "ts", "event_id", "health", "band", "coverage", "tier", "engagement",
            "drivers", "churn_drivers", "segment", "mrr", "cancelled", "events_applied",
            "config_version", "model_version"]  # fmt: skip
    rows = [["acct-m", ts, f"e{i}", 50.0, "yellow", 1.0, "nice_to_have", "one_to_many", "[]",
             "[]", "d", 0.0, 0, i + 1, "v1", "m1"] for i, ts in enumerate(months)]  # fmt: skip
    writer = ClickHouseWriter(ch, batch_rows=5000, flush_seconds=0.05, max_backoff_seconds=0.2)
    writer.start()
    try:
        writer.add("score_history", cols, rows)
        drained = writer.flush(timeout=30)
    finally:
        writer.stop(timeout=1)
    got = ch.query(
        "SELECT count(), uniqExact(toYYYYMM(ts)), max(events_applied) FROM hs_test.score_history"
    )
    print(f"\n{len(rows)} rows over 130 months: {writer.stats}")
    assert drained and got == [(len(rows), 130, len(rows))]
    assert writer.stats.failures == 0 and writer.stats.rows_dead_lettered == 0
    assert writer.stats.inserts == 3  # 50 + 50 + 30 months
    assert ch.query("SELECT count() FROM hs_test.dead_letter_rows") == [(0,)]


def test_a_row_refused_for_good_goes_to_the_dead_letter_table_after_bounded_retries(ch):
    migrate(ch)
    ch.command(
        "CREATE TABLE hs_test.checked (n UInt32, s String, CONSTRAINT small CHECK n < 1000) "
        "ENGINE = MergeTree ORDER BY n"
    )
    attempts: list[int] = []
    insert = ch.insert

    def spy(table, rows, columns):  # type: ignore[no-untyped-def]
        if table == "checked":
            attempts.append(len(rows))
        insert(table, rows, columns)

    ch.insert = spy  # type: ignore[method-assign]
    rows = [[n, f"row {n}"] for n in range(200)]
    rows[77] = [5000, "too big"]  # refused by the server (code 469)
    rows[150] = [-1, "negative"]  # refused by the client: cannot encode into UInt32
    writer = ClickHouseWriter(ch, batch_rows=1000, flush_seconds=0.05, max_backoff_seconds=0.1)
    writer.start()
    try:
        writer.add("checked", ["n", "s"], rows)
        drained = writer.flush(timeout=30)
        writer.add("checked", ["n", "s"], [[900, "after"]])  # the writer goes on
        drained_after = writer.flush(timeout=30)
    finally:
        writer.stop(timeout=1)
    print(f"\ninserts tried (rows each): {attempts}; {writer.stats}")
    assert drained and drained_after
    assert ch.query("SELECT count(), sum(n) FROM hs_test.checked") == [
        (199, sum(range(200)) - 77 - 150 + 900)
    ]
    assert attempts[:3] == [200, 200, 200]  # max_attempts (3) of the whole batch, then bisect
    assert len(attempts) <= 3 + 4 * 8 + 1  # a bisection finds each bad row in ~2 log2(n)
    letters = ch.query_dicts(
        "SELECT table_name, row, error, error_code, attempts FROM hs_test.dead_letter_rows "
        "ORDER BY row"
    )
    assert [(d["table_name"], orjson.loads(d["row"])) for d in letters] == [
        ("checked", {"n": -1, "s": "negative"}),
        ("checked", {"n": 5000, "s": "too big"}),
    ]
    assert letters[1]["error_code"] == 469 and "Constraint" in letters[1]["error"]
    assert letters[0]["error_code"] is None and "native array" in letters[0]["error"]
    assert {d["attempts"] for d in letters} == {3}
    assert writer.stats.rows_dead_lettered == 2 and writer.pending_rows == 0


def test_give_up_at_ends_the_writing_within_its_deadline_with_rows_unwritten(ch):
    """The worker's shutdown budget: a table that never comes (a transient error) no
    longer holds flush() or a waiting state flush past the deadline."""
    ch.command("CREATE DATABASE IF NOT EXISTS hs_test")
    writer = ClickHouseWriter(ch, batch_rows=100, flush_seconds=0.05, max_backoff_seconds=0.2)
    writer.start()
    try:
        writer.add("missing", ["n"], [[n] for n in range(50)])
        snapshot = writer.snapshot()
        started = time.monotonic()
        writer.give_up_at(time.monotonic() + 1.0)
        drained = writer.flush(timeout=30)
        took = time.monotonic() - started
        thread = writer._thread
        assert thread is not None
        thread.join(2)
        assert not thread.is_alive()
    finally:
        writer.stop(timeout=1)
    assert not drained and writer.abandoned and not writer.covers(snapshot)
    assert 0.9 <= took < 2.0, took
    assert writer.pending_rows == 50 and writer.stats.rows_written == 0
