"""Migrations and batched writes on the real (embedded) ClickHouse engine."""

from __future__ import annotations

import time
from datetime import UTC, datetime

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
