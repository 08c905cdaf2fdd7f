"""`score-file` runs the clock (docs/scoring.md, "The clock"): silent accounts are re-scored
at every day boundary of the file's event time, and `--cadence 1d` writes one row per live
account per day."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import scoring
from schemas.outputs import Alert, ScoreRecord
from scoring.decay import DAY
from streams import score_file as sf
from streams.clock import FileClock, day_boundaries
from tests.unit.scoring.factory import at
from tests.unit.scoring.scripts import healthy

DEFAULT_CONFIG = Path(scoring.__file__).resolve().parent / "default_config.yaml"
ACTIVE_DAYS = 40
SILENT_DAYS = 30


def _write(path: Path, *scripts: object) -> None:
    events = sorted((e for s in scripts for e in s.items), key=lambda e: e.ts)  # type: ignore[attr-defined]
    path.write_bytes(b"".join(e.model_dump_json().encode() + b"\n" for e in events))


def _scenario(tmp_path: Path) -> tuple[list[ScoreRecord], list[Alert]]:
    """acct-quiet is active daily for 40 days, then silent for 30 while acct-busy keeps the
    file's event time moving (its last events are on day 70)."""
    events = tmp_path / "events.jsonl"
    _write(events, healthy("acct-quiet", days=ACTIVE_DAYS), healthy("acct-busy", days=71))
    out, alerts = tmp_path / "scores.jsonl", tmp_path / "alerts.jsonl"
    sf.score_file(events, out, cadence=timedelta(days=1), now=at(100), alerts_path=alerts)
    scores = [ScoreRecord.model_validate_json(x) for x in out.read_bytes().splitlines()]
    raised = [Alert.model_validate_json(x) for x in alerts.read_bytes().splitlines()]
    return scores, raised


def _rows(scores: list[ScoreRecord], account: str) -> list[ScoreRecord]:
    """The account's cadence rows (those at a midnight), in order; the final score left out."""
    rows = [s for s in scores if s.account_id == account]
    return [s for s in rows[:-1] if s.ts.timestamp() % DAY == 0]


def test_a_silent_account_falls_daily_and_raises_one_gone_quiet_and_one_health_drop(
    tmp_path: Path,
) -> None:
    scores, alerts = _scenario(tmp_path)
    silent = [s for s in _rows(scores, "acct-quiet") if s.ts >= at(ACTIVE_DAYS)]
    assert [s.ts for s in silent] == [at(d) for d in range(ACTIVE_DAYS, ACTIVE_DAYS + 31)]
    healths = [s.health for s in silent]
    assert all(b < a for a, b in itertools.pairwise(healths)), healths
    assert silent[0].band == "green" and silent[-1].band == "yellow"

    quiet = [a for a in alerts if a.account_id == "acct-quiet" and a.ts >= at(ACTIVE_DAYS)]
    assert sorted(a.kind for a in quiet) == ["gone_quiet", "health_drop"], quiet
    gone = next(a for a in quiet if a.kind == "gone_quiet")
    assert gone.ts == at(ACTIVE_DAYS + 7)  # days 40-46 silent: the tick ending day 46
    assert gone.event_id.startswith("tick:")
    busy = [a for a in alerts if a.account_id == "acct-busy" and a.kind == "gone_quiet"]
    assert busy == []


def test_cadence_1d_writes_one_row_per_live_account_per_day(tmp_path: Path) -> None:
    scores, _ = _scenario(tmp_path)
    for account in ("acct-quiet", "acct-busy"):
        rows = _rows(scores, account)
        days = [s.ts for s in rows]
        assert days == [at(d) for d in range(1, 71)], account  # every midnight after day 0
        # every row is the score at that day end: trends exist once history allows
        assert all(r.trend_7d is not None for r in rows[7:])
        assert all(r.trend_30d is not None for r in rows[30:])


def test_a_cancelled_account_is_not_ticked_and_gets_no_rows(tmp_path: Path) -> None:
    gone = healthy("acct-gone", days=10)
    gone.items = [e for e in gone.items if e.ts < at(10)]  # its script goes on to day 21
    gone.add("subscription_cancelled", 10.5, reason="budget")
    events = tmp_path / "events.jsonl"
    _write(events, gone, healthy("acct-busy", days=30))
    out = tmp_path / "scores.jsonl"
    sf.score_file(events, out, cadence=timedelta(days=1), now=at(100))
    scores = [ScoreRecord.model_validate_json(x) for x in out.read_bytes().splitlines()]
    gone_rows = [s for s in scores if s.account_id == "acct-gone"]
    assert max(s.ts for s in gone_rows) <= at(11)
    assert gone_rows[-1].cancelled


def test_day_boundaries_and_the_file_clock() -> None:
    t0 = datetime(2026, 1, 5, 12, tzinfo=UTC).timestamp()
    assert list(day_boundaries(None, t0)) == []
    assert list(day_boundaries(t0, t0 + DAY / 4)) == []
    assert list(day_boundaries(t0, t0 + 2 * DAY)) == [t0 + DAY / 2, t0 + 1.5 * DAY]
    clock = FileClock(timedelta(hours=12))
    assert clock.advance(t0) == []
    assert clock.advance(t0 - 5) == []  # never backwards
    assert clock.advance(t0 + DAY) == [(t0 + DAY / 2, True, True), (t0 + DAY, False, True)]


def test_every_example_labelled_on_a_tick_reaches_the_learner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Survivals are labelled as event time passes their horizon, mostly on ticks: they
    must go to the one learner (`scoring.ChurnLearner`), as the events' examples do, or the
    model learns from cancellations alone and never refits."""
    taken: list[int] = []

    class Spy(scoring.ChurnLearner):
        def add(self, examples):  # type: ignore[no-untyped-def]
            taken.append(len(examples))
            return super().add(examples)

    monkeypatch.setattr(sf.scoring, "ChurnLearner", Spy)
    text = DEFAULT_CONFIG.read_text()
    for key, value in (("horizon_days", "7"), ("snapshot_interval_days", "2")):
        text, n = re.subn(rf"(?m)^(\s+{key}:\s*)[0-9.]+", rf"\g<1>{value}", text, count=1)
        assert n == 1, key
    config = tmp_path / "config.yaml"
    config.write_text(text)
    events = tmp_path / "events.jsonl"
    _write(events, healthy("acct-quiet", days=ACTIVE_DAYS), healthy("acct-busy", days=71))
    summary = sf.score_file(events, tmp_path / "out.jsonl", config_path=config, now=at(100))
    assert summary.examples_learned > 0
    assert sum(taken) == summary.examples_learned


def test_backtest_ticks_silent_accounts_daily_like_score_file(tmp_path: Path) -> None:
    """`healthscore backtest` ticks every live account at every day boundary of the file's
    event time, as `score-file` does: the same alerts, ticks' included, and a daily close
    for the silent account, whatever the number of processes."""
    from streams import backtest as bt

    _, file_alerts = _scenario(tmp_path)
    results = {}
    for workers in (1, 2):
        out = tmp_path / f"backtest-{workers}"
        options = bt.BacktestOptions(
            events=tmp_path / "events.jsonl", out=out, workers=workers, now=at(100), draw=False
        )
        bt.backtest(options)
        results[workers] = {
            name: (out / "base" / f"{name}.jsonl").read_bytes() for name in ("scores", "alerts")
        }
    assert results[1] == results[2]
    alerts = [Alert.model_validate_json(x) for x in results[1]["alerts"].splitlines()]
    assert sorted(a.model_dump_json() for a in alerts) == sorted(
        a.model_dump_json() for a in file_alerts
    )
    closes = [ScoreRecord.model_validate_json(x) for x in results[1]["scores"].splitlines()]
    silent = [s for s in closes if s.account_id == "acct-quiet" and s.ts > at(ACTIVE_DAYS)]
    assert [s.ts for s in silent] == [at(d) for d in range(ACTIVE_DAYS + 1, ACTIVE_DAYS + 31)]
    assert all(s.event_id.startswith("tick:") for s in silent)
    assert all(b.health < a.health for a, b in itertools.pairwise(silent))
