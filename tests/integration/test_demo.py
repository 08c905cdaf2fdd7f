"""The demo end to end at small size: its printed summary is what ClickHouse holds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter

import pytest

from streams.clickhouse import connect
from streams.settings import load_settings

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def number(text: str, pattern: str) -> int:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in the summary:\n{text}"
    return int(match.group(1).replace(",", ""))


def test_demo_prints_a_summary_that_matches_clickhouse_and_draws_the_portfolio(
    kafka_bootstrap, tmp_path
):
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    result = subprocess.run(
        [sys.executable, "-m", "healthscore", "demo", "--accounts", "40", "--days", "20",
         "--out", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    print(out)
    assert "scored 0/" not in result.stderr.splitlines()[-1]

    with connect(load_settings(data_dir=tmp_path)) as ch:
        db = ch.database
        latest = ch.query_dicts(
            f"SELECT success_quadrant, readiness_quadrant, tier, band FROM {db}.latest_score FINAL"
        )
        history = ch.query(f"SELECT count() FROM {db}.score_history")[0][0]
        transitions = ch.query(f"SELECT count() FROM {db}.transitions")[0][0]
        alerts = ch.query(f"SELECT count() FROM {db}.alerts")[0][0]
        dead = ch.query(f"SELECT count() FROM {db}.dead_letters")[0][0]

    assert len(latest) == 40
    assert number(out, r"healthscore demo: ([\d,]+) accounts") == 40
    assert number(out, r"score_history rows ([\d,]+)") == history
    assert number(out, r"transitions ([\d,]+)") == transitions
    assert number(out, r"alerts ([\d,]+)") == alerts
    assert number(out, r"dead letters ([\d,]+)") == dead == 0
    for column in ("success_quadrant", "readiness_quadrant", "tier", "band"):
        for value, count in Counter(r[column] for r in latest).items():
            if value is not None:
                assert number(out, rf"{re.escape(value)} ([\d,]+)") == count, (column, value)

    png = tmp_path / "portfolio.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000
    page = (tmp_path / "portfolio.html").read_text()
    assert "data:image/png;base64," in page and "customer_success" in page
