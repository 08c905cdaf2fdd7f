"""Read a stopped worker's embedded ClickHouse; time a direct batched insert.

Runs as its own process (`python -m bench.clickhouse_probe DATA_DIR`): chDB
lets one process open one data directory, and the bench opens several.
Prints one JSON object:

- `rows`: row counts of the worker's tables (with `--until`, only the rows of
  events up to that event time: the pre-loaded backlog, not what was paced
  after it);
- `insert`: up to `--insert-rows` rows of `score_history` read back and
  written again, `--batch-rows` at a time through `ClickHouse.insert` (what
  the worker's `ClickHouseWriter` thread calls), into a copy of the table:
  the writer's capacity on this machine, without Kafka or scoring.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import orjson

from streams.clickhouse import connect
from streams.clickhouse.rows import SCORE_COLUMNS
from streams.settings import load_settings

TABLES = ("score_history", "latest_score", "transitions", "dead_letters")
TIMED = {"score_history", "latest_score", "transitions"}  # by the event time `ts`


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.clickhouse_probe")
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--insert-rows", type=int, default=100_000)
    parser.add_argument("--batch-rows", type=int, default=5000)
    parser.add_argument(
        "--until",
        type=float,
        default=None,
        help="count only rows of events up to this event time (epoch seconds)",
    )
    args = parser.parse_args(argv)
    ch = connect(load_settings(data_dir=args.data_dir))
    db = ch.database

    def where(table: str) -> str:
        if args.until is None or table not in TIMED:
            return ""
        return f" WHERE ts <= toDateTime64({args.until:.3f}, 3, 'UTC')"

    result: dict[str, object] = {
        "rows": {t: int(ch.query(f"SELECT count() FROM {db}.{t}{where(t)}")[0][0]) for t in TABLES}
    }
    if args.insert_rows:
        columns = ", ".join(SCORE_COLUMNS)
        rows = ch.query(f"SELECT {columns} FROM {db}.score_history LIMIT {args.insert_rows}")
        ch.command(f"DROP TABLE IF EXISTS {db}.bench_insert_copy")
        ch.command(f"CREATE TABLE {db}.bench_insert_copy AS {db}.score_history")
        started = time.perf_counter()
        for i in range(0, len(rows), args.batch_rows):
            ch.insert("bench_insert_copy", rows[i : i + args.batch_rows], SCORE_COLUMNS)
        seconds = time.perf_counter() - started
        ch.command(f"DROP TABLE IF EXISTS {db}.bench_insert_copy")
        result["insert"] = {
            "rows": len(rows),
            "batch_rows": args.batch_rows,
            "seconds": round(seconds, 3),
            "rows_per_s": round(len(rows) / seconds) if seconds > 0 else None,
        }
    ch.close()
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
