"""`healthscore backtest --clickhouse --run NAME` on the real (embedded chDB) engine."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

import scoring
from devtools.demo.export import write_events
from devtools.demo.portfolio import generate
from streams import backtest as bt
from streams.clickhouse import connect
from streams.errors import StreamsError
from streams.settings import load_settings

pytestmark = pytest.mark.integration

NOW = datetime(2100, 1, 1, tzinfo=UTC)


def test_a_named_run_writes_the_rows_of_the_jsonl_run_to_the_backtest_tables(
    tmp_path: Path,
) -> None:
    events = tmp_path / "events.jsonl"
    write_events(events, generate(20, 60, 3))
    compare = tmp_path / "compare.yaml"
    default = Path(scoring.__file__).parent / "default_config.yaml"
    compare.write_text(
        default.read_text()
        .replace('version: "2026.1"', 'version: "2026.1-b"', 1)
        .replace("    feature_breadth: 0.10", "    feature_breadth: 0.40", 1)
    )
    settings = load_settings(data_dir=tmp_path / "ch", clickhouse_database="hs_backtest")

    def options(out: str, **kw: object) -> bt.BacktestOptions:
        return bt.BacktestOptions(
            events=events, out=tmp_path / out, compare=compare, workers=2, now=NOW,
            draw=False, **kw,  # type: ignore[arg-type]
        )  # fmt: skip

    files = bt.backtest(options("files"))
    in_ch = bt.backtest(options("ch_out", clickhouse=settings, run="trial"))
    assert in_ch.comparison["auc"] == files.comparison["auc"]
    with pytest.raises(StreamsError, match="already has rows"):
        bt.backtest(options("again", clickhouse=settings, run="trial"))
    bt.backtest(options("again", clickhouse=settings, run="trial", replace=True))

    def lines(side: str, table: str) -> list[dict]:  # type: ignore[type-arg]
        path = tmp_path / "files" / side / f"{table}.jsonl"
        return [orjson.loads(x) for x in path.read_bytes().splitlines()]

    with connect(settings) as ch:
        db = ch.database
        for table in ("scores", "transitions", "alerts", "track_record"):
            for side in ("base", "compare"):
                rows = ch.query(
                    f"SELECT count() FROM {db}.backtest_{table} "
                    "WHERE run = 'trial' AND config = %(side)s",
                    {"side": side},
                )
                assert rows[0][0] == len(lines(side, table)) > 0, (table, side)
        got = ch.query(
            f"SELECT account_id, toString(ts), health, band FROM {db}.backtest_scores "
            "WHERE run = 'trial' AND config = 'compare' ORDER BY account_id, ts"
        )
        want = sorted(
            (s["account_id"], s["ts"], s["health"], s["band"]) for s in lines("compare", "scores")
        )
        assert [(a, b) for a, _, _, b in got] == [(a, b) for a, _, _, b in want]
        assert [h for _, _, h, _ in got] == pytest.approx([h for _, _, h, _ in want], rel=1e-6)
        stored = ch.query(f"SELECT comparison FROM {db}.backtest_runs FINAL WHERE run = 'trial'")
        assert orjson.loads(stored[0][0])["auc"] == files.comparison["auc"]
