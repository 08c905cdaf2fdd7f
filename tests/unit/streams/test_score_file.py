"""`healthscore score-file`: offline scoring of JSONL and Parquet event files."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest

from schemas.outputs import ScoreRecord
from streams import score_file as sf
from streams.errors import StreamsError
from tests.unit.scoring.scripts import healthy

GOLDEN = Path(__file__).parents[2] / "fixtures" / "golden_events.jsonl"


def _records(path: Path) -> list[ScoreRecord]:
    return [ScoreRecord.model_validate_json(line) for line in path.read_bytes().splitlines()]


def test_scores_the_golden_events(tmp_path: Path) -> None:
    out = tmp_path / "scores.jsonl"
    summary = sf.score_file(GOLDEN, out)
    records = _records(out)
    assert summary.bad_lines == 0 and summary.events_applied == summary.records_read == 22
    assert summary.accounts == 1 and len(records) == summary.scores_written == 1
    assert records[0].account_id == "acct-golden" and records[0].events_applied == 22


def test_bad_lines_are_counted_with_line_numbers_and_never_stop_the_run(tmp_path: Path) -> None:
    lines = GOLDEN.read_bytes().splitlines()
    mixed = [
        lines[0],
        b"{not json",
        lines[1],
        b"",
        b'{"type": "nope", "event_id": "x"}',
        lines[2],
        b"[1, 2]",
    ]
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(mixed) + b"\n")
    summary = sf.score_file(events, tmp_path / "out.jsonl")
    assert summary.events_applied == 3
    assert summary.bad_lines == 3
    assert [(b.line, b.reason) for b in summary.bad_samples] == [
        (2, "invalid_json"),
        (5, "unknown_type"),
        (7, "not_an_object"),
    ]
    assert "line 2: invalid_json" in summary.describe()


def test_events_are_sorted_by_event_time_and_duplicates_counted(tmp_path: Path) -> None:
    lines = GOLDEN.read_bytes().splitlines()
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join([*reversed(lines), lines[3]]) + b"\n")  # reversed, one repeated
    summary = sf.score_file(events, tmp_path / "out.jsonl")
    assert summary.duplicates == 1 and summary.events_applied == 22
    in_order = tmp_path / "in_order.jsonl"
    sf.score_file(GOLDEN, in_order)
    assert _records(tmp_path / "out.jsonl") == _records(in_order)


def _write_jsonl(path: Path, events: list) -> None:  # type: ignore[type-arg]
    path.write_bytes(b"".join(e.model_dump_json().encode() + b"\n" for e in events))


def test_cadence_writes_a_score_per_account_per_period_plus_the_final_one(tmp_path: Path) -> None:
    events = healthy("acct-a", days=20).items + healthy("acct-b", days=20).items
    path = tmp_path / "events.jsonl"
    _write_jsonl(path, events)
    out = tmp_path / "out.jsonl"
    progress: list[tuple[int, int]] = []
    summary = sf.score_file(
        path, out, cadence=timedelta(days=7), progress=lambda d, t: progress.append((d, t))
    )
    records = _records(out)
    per_account = {a: [r for r in records if r.account_id == a] for a in ("acct-a", "acct-b")}
    # days 0, 7, 14 (+ the final score) for each account
    assert all(len(rs) == 4 for rs in per_account.values())
    assert summary.scores_written == len(records) == 8
    assert progress[-1] == (len(events), len(events))


def test_parquet_input_gives_the_same_scores_as_jsonl(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [orjson.loads(line) for line in GOLDEN.read_bytes().splitlines()]
    columns = sorted({k for r in rows for k in r})
    table = pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows])
    parquet = tmp_path / "events.parquet"
    pq.write_table(table, parquet)
    sf.score_file(parquet, tmp_path / "from_parquet.jsonl")
    sf.score_file(GOLDEN, tmp_path / "from_jsonl.jsonl")
    assert _records(tmp_path / "from_parquet.jsonl") == _records(tmp_path / "from_jsonl.jsonl")


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(StreamsError, match="no such file"):
        sf.score_file(tmp_path / "absent.jsonl", tmp_path / "out.jsonl")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("12h", timedelta(hours=12)),
        ("1d", timedelta(days=1)),
        ("2w", timedelta(weeks=2)),
        ("1.5d", timedelta(hours=36)),
    ],
)
def test_parse_cadence(text: str, expected: timedelta) -> None:
    assert sf.parse_cadence(text) == expected


@pytest.mark.parametrize("text", ["", "1", "d", "1y", "-1d", "0d"])
def test_parse_cadence_refuses_nonsense(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        sf.parse_cadence(text)


def test_cli_hook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    sf.build_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "scores.jsonl"
    args = parser.parse_args(["score-file", str(GOLDEN), "--out", str(out), "--cadence", "1d"])
    assert args.func(args) == 0
    assert "22 events applied" in capsys.readouterr().err
    assert len(_records(out)) > 1


def test_poison_lines_are_bad_lines_naming_the_field_and_the_cli_does_not_die(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 22 item 1: these used to end `score-file` with a traceback."""
    lines = GOLDEN.read_bytes().splitlines()
    base = orjson.loads(lines[0])
    poison = [
        {**base, "event_id": "p1", "schema_version": "\u00b2.0"},
        {**base, "event_id": "p2", "ts": "9999-12-31T23:00:00-12:00"},
        {**base, "event_id": "p3", "account_id": "acct-golden\u200b"},
    ]
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join([lines[0], *map(orjson.dumps, poison), lines[1]]) + b"\n")
    from healthscore.cli import main

    code = main(["score-file", str(events), "--out", str(tmp_path / "out.jsonl")])
    err = capsys.readouterr().err
    assert code == 1, err  # bad records fail the run unless --max-bad allows them
    assert "Traceback" not in err
    assert "2 events applied" in err and "3 bad" in err
    summary = sf.score_file(events, tmp_path / "out2.jsonl")
    assert [(b.line, b.reason) for b in summary.bad_samples] == [
        (2, "invalid_field"),
        (3, "invalid_field"),
        (4, "invalid_field"),
    ]
    assert [b.field for b in summary.bad_samples] == ["schema_version", "ts", "account_id"]
    assert "line 3: invalid_field (ts): " in summary.describe()


def test_events_ahead_of_the_files_clock_are_from_future(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    lines = GOLDEN.read_bytes().splitlines()
    base = orjson.loads(lines[0])
    ahead = {**base, "event_id": "f1", "ts": "2099-01-01T00:00:00Z"}
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join([*lines, orjson.dumps(ahead)]) + b"\n")
    summary = sf.score_file(events, tmp_path / "out.jsonl")  # the wall clock
    assert [(b.line, b.reason) for b in summary.bad_samples] == [(23, "from_future")]
    assert summary.events_applied == 22
    # the file's clock is --now: before the golden events, all of them are from the future
    early = sf.score_file(events, tmp_path / "o.jsonl", now=datetime(2026, 1, 1, tzinfo=UTC))
    assert early.events_applied == 0 and early.bad_lines == 23
    late = sf.score_file(events, tmp_path / "o.jsonl", now=datetime(2099, 1, 1, tzinfo=UTC))
    assert late.events_applied == 23 and late.bad_lines == 0


def test_a_failure_scoring_one_event_is_a_bad_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = sf.scoring.process

    def flaky(state, event, *args):  # type: ignore[no-untyped-def]
        if event.event_id == "golden-002":
            raise ZeroDivisionError("scoring bug")
        return real(state, event, *args)

    monkeypatch.setattr(sf.scoring, "process", flaky)
    summary = sf.score_file(GOLDEN, tmp_path / "out.jsonl")
    assert summary.events_applied == 21
    assert [(b.line, b.reason) for b in summary.bad_samples] == [(2, "processing_error")]
    assert "scoring bug" in summary.bad_samples[0].detail


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01T00:00:00Z", "2026-03-01T00:00:00+00:00"),
        ("2026-03-01", "2026-03-01T00:00:00+00:00"),
    ],
)
def test_parse_now(text: str, expected: str) -> None:
    assert sf.parse_now(text).isoformat() == expected


def test_parse_now_refuses_nonsense() -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        sf.parse_now("yesterday")


def test_a_resent_id_with_another_content_is_a_bad_line_not_a_crash(tmp_path: Path) -> None:
    lines = GOLDEN.read_bytes().splitlines()
    original = orjson.loads(lines[3])
    an_hour_later = datetime.fromisoformat(original["ts"]) + timedelta(hours=1)
    changed = {**original, "ts": an_hour_later.isoformat()}  # the id of line 4, another ts
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join([*lines, orjson.dumps(changed)]) + b"\n")
    summary = sf.score_file(events, tmp_path / "out.jsonl")
    assert summary.events_applied == len(lines) and summary.bad_lines == 1
    assert [(b.line, b.reason) for b in summary.bad_samples] == [
        (len(lines) + 1, "conflicting_duplicate")
    ]


def _with_bad_lines(tmp_path: Path) -> Path:
    """The golden events with 3 bad lines among them: 25 records, 22 good."""
    lines = GOLDEN.read_bytes().splitlines()
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join([*lines[:5], b"{not json", b"[1]", b"{}", *lines[5:]]) + b"\n")
    return events


@pytest.mark.parametrize(
    ("max_bad", "code"),
    [(None, 1), ("2", 1), ("3", 0), ("10%", 1), ("12%", 0), ("0.1", 1), ("0.2", 0)],
)
def test_exit_status_is_1_when_bad_records_exceed_max_bad(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], max_bad: str | None, code: int
) -> None:
    from healthscore.cli import main

    events = _with_bad_lines(tmp_path)
    argv = ["score-file", str(events), "--out", str(tmp_path / "out.jsonl")]
    assert main(argv + (["--max-bad", max_bad] if max_bad else [])) == code
    err = capsys.readouterr().err
    assert "22 events applied" in err and "3 bad" in err  # the outputs are written either way
    assert ("more than --max-bad allows" in err) == (code == 1)


@pytest.mark.parametrize("text", ["-1", "1.5", "abc", "100%", "", "nan"])
def test_parse_max_bad_refuses_nonsense(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        sf.parse_max_bad(text)


def test_output_paths_are_checked_before_the_input_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_reading(path: Path):  # type: ignore[no-untyped-def]
        raise AssertionError("the input was read before the output path was checked")

    monkeypatch.setattr(sf, "read_events", no_reading)
    (tmp_path / "a_dir").mkdir()
    (tmp_path / "a_file").write_text("")
    cases = {  # (a read-only directory is not tested: the tests run as root here)
        tmp_path / "missing" / "out.jsonl": "does not exist",
        tmp_path / "a_dir": "is a directory",
        tmp_path / "a_file" / "out.jsonl": "does not exist",
    }
    for out, message in cases.items():
        with pytest.raises(StreamsError, match=message):
            sf.score_file(GOLDEN, out)


def test_the_cli_refuses_a_bad_output_path_with_status_2_and_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from healthscore.cli import main

    code = main(["score-file", str(GOLDEN), "--out", str(tmp_path / "no" / "out.jsonl")])
    err = capsys.readouterr().err
    assert code == 2 and "does not exist" in err and "Traceback" not in err
