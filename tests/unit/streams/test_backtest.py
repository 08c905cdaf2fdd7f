"""`healthscore backtest`: determinism across processes, the external sort, the comparison
checked against the scores it wrote, bad records and output paths."""

from __future__ import annotations

import random
import zlib
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

import orjson
import pytest

import scoring
from devtools.demo.export import write_events
from devtools.demo.portfolio import generate
from scoring.track import roc_auc
from streams import backtest as bt
from streams.errors import StreamsError

NOW = datetime(2100, 1, 1, tzinfo=UTC)
DEFAULT_CONFIG = Path(scoring.__file__).parent / "default_config.yaml"
OUTPUTS = ("scores", "transitions", "alerts", "track_record")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("backtest")
    events = root / "events.jsonl"
    write_events(events, generate(60, 150, 11))
    compare = root / "compare.yaml"
    text = DEFAULT_CONFIG.read_text()
    text = text.replace('version: "2026.1"', 'version: "2026.1-breadth"', 1)
    text = text.replace("    feature_breadth: 0.10", "    feature_breadth: 0.40", 1)
    assert text.count("2026.1-breadth") == 1 and "feature_breadth: 0.40" in text
    compare.write_text(text)
    return {"root": root, "events": events, "compare": compare}


def _run(data: dict[str, Path], name: str, workers: int, **kw) -> bt.BacktestResult:  # type: ignore[no-untyped-def]
    options = bt.BacktestOptions(
        events=kw.pop("events", data["events"]),
        out=data["root"] / name,
        compare=kw.pop("compare", data["compare"]),
        workers=workers,
        now=NOW,
        chunk_bytes=kw.pop("chunk_bytes", 256 * 1024),  # several sorted runs per process
        draw=kw.pop("draw", False),
        **kw,
    )
    return bt.backtest(options)


@pytest.fixture(scope="module")
def two(data: dict[str, Path]) -> bt.BacktestResult:
    return _run(data, "two", 2, draw=True)


def _files(out: Path) -> dict[str, bytes]:
    names = [f"{side}/{t}.jsonl" for side in bt.SIDES for t in OUTPUTS] + ["comparison.json"]
    return {name: (out / name).read_bytes() for name in names}


def _jsonl(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_one_process_and_two_processes_write_identical_outputs(
    data: dict[str, Path], two: bt.BacktestResult
) -> None:
    _run(data, "one", 1)
    one, both = _files(data["root"] / "one"), _files(data["root"] / "two")
    assert one.keys() == both.keys()
    for name in one:
        if name == "comparison.json":  # the run section names the number of processes
            a, b = orjson.loads(one[name]), orjson.loads(both[name])
            assert a.pop("run")["workers"] == 1 and b.pop("run")["workers"] == 2
            assert a == b
        else:
            assert one[name] == both[name], name
    assert len(_jsonl(data["root"] / "two" / "base" / "scores.jsonl")) > 1000
    assert two.applied == [two.records_read, two.records_read] and two.bad == 0


def test_the_external_sort_gives_the_outputs_of_the_time_ordered_file(
    data: dict[str, Path],
) -> None:
    lines = data["events"].read_bytes().splitlines()
    random.Random(5).shuffle(lines)
    shuffled = data["root"] / "shuffled.jsonl"
    shuffled.write_bytes(b"\n".join(lines) + b"\n")
    ordered = data["root"] / "ordered.jsonl"  # stable: equal times keep the shuffled order
    ordered.write_bytes(
        b"\n".join(sorted(lines, key=lambda x: datetime.fromisoformat(orjson.loads(x)["ts"])))
        + b"\n"
    )
    _run(data, "shuffled", 2, events=shuffled, compare=None, chunk_bytes=64 * 1024)
    _run(data, "ordered", 1, events=ordered, compare=None, chunk_bytes=1 << 30)
    for t in OUTPUTS:
        name = f"base/{t}.jsonl"
        a = (data["root"] / "shuffled" / name).read_bytes()
        assert a == (data["root"] / "ordered" / name).read_bytes(), name


def _closes(out: Path, side: str) -> dict[str, list[dict]]:  # type: ignore[type-arg]
    by_account: dict[str, list[dict]] = defaultdict(list)  # type: ignore[type-arg]
    for s in _jsonl(out / side / "scores.jsonl"):
        s["day"] = datetime.fromisoformat(s["ts"]).date()
        by_account[s["account_id"]].append(s)
    return by_account


def test_the_comparison_numbers_are_those_of_the_scores_it_wrote(
    data: dict[str, Path], two: bt.BacktestResult
) -> None:
    out = data["root"] / "two"
    doc = orjson.loads((out / "comparison.json").read_bytes())
    base, compare = _closes(out, "base"), _closes(out, "compare")
    days = sorted({s["day"] for v in base.values() for s in v})
    first, last = days[0], days[-1]
    assert (doc["first_day"], doc["last_day"]) == (first.isoformat(), last.isoformat())
    for closes in base.values():  # one close per account per day it had events
        assert len({s["day"] for s in closes}) == len(closes)

    # cancellations: a close that is cancelled after one that is not (or the first)
    cancels: dict[str, list[date]] = defaultdict(list)
    for account, closes in base.items():
        before = False
        for s in closes:
            if s["cancelled"] and not before:
                cancels[account].append(s["day"])
            before = s["cancelled"]
    assert cancels, "the data should hold cancellations"

    def latest(closes: list[dict], day: date) -> dict | None:  # type: ignore[type-arg]
        found = [s for s in closes if s["day"] <= day]
        return found[-1] if found else None

    horizon = scoring.load_config().churn.horizon_days
    every = doc["observations"]["every_days"]
    obs = []
    k = 1
    while (point := date.fromordinal(first.toordinal() + k * every)) <= last:
        for account in base:
            b = latest(base[account], point)
            if b is None or b["cancelled"]:
                continue
            c = latest(compare[account], point)
            window = [(d - point).days for d in cancels[account]]
            if any(0 < w <= horizon for w in window):
                label = True
            elif (last - point).days >= horizon:
                label = False
            else:
                continue
            obs.append((b, c, label))
        k += 1
    labels = [y for _, _, y in obs]
    assert doc["observations"]["labelled"] == len(obs) and doc["observations"]["positive"] == sum(
        labels
    )
    assert 0 < sum(labels) < len(labels)
    for i, side in enumerate(("base", "compare")):
        health = roc_auc([100 - o[i]["health"] for o in obs], labels)
        churn = roc_auc([o[i]["churn_risk"] for o in obs], labels)
        assert doc["auc"][side]["health"] == pytest.approx(health, abs=1e-12)
        assert doc["auc"][side]["churn"] == pytest.approx(churn, abs=1e-12)
    # a changed weight changes the health ranking, not the churn model's
    assert doc["auc"]["base"]["health"] != doc["auc"]["compare"]["health"]

    # band and quadrant migrations over the portfolio (latest close of every account)
    for field in ("band", "success_quadrant", "readiness_quadrant"):
        pairs = Counter((str(base[a][-1][field]), str(compare[a][-1][field])) for a in base)
        table = doc["migrations"][field]
        assert {(a, b): n for a, row in table.items() for b, n in row.items()} == dict(pairs)
    moved = sum(1 for a in base if base[a][-1]["band"] != compare[a][-1]["band"])
    assert moved > 0, "the changed weight should move some account across a band"

    # alerts per kind per account per month
    account_months = len({(a, s["day"].isoformat()[:7]) for a, v in base.items() for s in v})
    assert doc["account_months"] == account_months
    for side in ("base", "compare"):
        kinds = Counter(a["kind"] for a in _jsonl(out / side / "alerts.jsonl"))
        expected = {k: n / account_months for k, n in kinds.items()}
        assert doc["alerts_per_account_month"][side] == pytest.approx(expected)
        assert doc["alerts_total"][side] == sum(kinds.values())

    # the accounts that change most
    ranked = sorted(base, key=lambda a: (-abs(compare[a][-1]["health"] - base[a][-1]["health"]), a))
    assert [c["account_id"] for c in doc["changes_most"]] == ranked[:10]
    top = doc["changes_most"][0]
    assert top["health"] == [base[ranked[0]][-1]["health"], compare[ranked[0]][-1]["health"]]
    text = "\n".join(two.text)
    assert "band migrations" in text and ranked[0] in text
    assert all(p.exists() for p in two.files)
    assert {p.name for p in two.files} >= {"portfolio_base.png", "report.html"}


def test_as_of_gives_the_latest_close_of_each_account_at_or_before_the_date(
    data: dict[str, Path], two: bt.BacktestResult
) -> None:
    as_of = date(2026, 3, 1)
    result = _run(data, "as_of", 2, compare=None, as_of=as_of)
    base = _closes(data["root"] / "two", "base")
    latest = {
        a: found[-1] for a, v in base.items() if (found := [s for s in v if s["day"] <= as_of])
    }
    expected = Counter(close["band"] for close in latest.values())
    doc = result.comparison
    assert doc["as_of"] == "2026-03-01"
    assert doc["portfolio"]["base"]["band"] == dict(sorted(expected.items()))
    assert doc["portfolio_accounts"] == sum(expected.values())
    mean_health = sum(close["health"] for close in latest.values()) / len(latest)
    assert doc["portfolio"]["base"]["mean_health"] == pytest.approx(mean_health)
    at_end = {a: v[-1] for a, v in base.items()}
    # the date matters: the portfolio at the end has other closes (and mean health)
    assert latest != {a: at_end[a] for a in latest}
    assert sum(c["health"] for c in at_end.values()) / len(at_end) != pytest.approx(mean_health)


def test_bad_records_are_counted_with_their_line_across_processes_and_fail_the_cli(
    data: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    lines = data["events"].read_bytes().splitlines()[:2000]
    far = orjson.loads(lines[1500])
    far["event_id"] = "far-1"
    far["ts"] = "2150-01-01T00:00:00Z"  # outside the times the decoder accepts
    mixed = [*lines[:10], b"{not json", *lines[10:1900], b"[]", *lines[1900:], orjson.dumps(far)]
    events = data["root"] / "bad.jsonl"
    events.write_bytes(b"\n".join(mixed) + b"\n")
    result = _run(data, "bad", 2, events=events, compare=None)
    assert result.bad == 3
    assert [(b.line, b.reason) for b in result.bad_samples] == [
        (11, "invalid_json"),
        (1902, "not_an_object"),
        (2003, "invalid_field"),
    ]
    assert result.bad_samples[2].field == "ts"
    from healthscore.cli import main

    out = str(data["root"] / "bad_cli")
    argv = ["backtest", str(events), "--out", out, "--now", "2100-01-01", "--no-charts"]
    assert main([*argv, "--workers", "2"]) == 1
    assert "more than --max-bad allows" in capsys.readouterr().err
    assert main([*argv, "--workers", "1", "--max-bad", "3"]) == 0
    assert main([*argv, "--workers", "1", "--max-bad", "0.1%"]) == 1  # 3 of 2003 > 0.1%


def test_output_paths_are_checked_before_any_work(
    data: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_work(*args: object) -> None:
        raise AssertionError("work started before the output paths were checked")

    monkeypatch.setattr(bt, "_Pool", no_work)
    a_file = data["root"] / "a_file"
    a_file.write_text("")
    for out, message in [
        (a_file, "is a file"),
        (data["root"] / "missing" / "out", "does not exist"),
    ]:
        with pytest.raises(StreamsError, match=message):
            bt.backtest(bt.BacktestOptions(events=data["events"], out=out))
    with pytest.raises(StreamsError, match="no such file"):
        bt.backtest(
            bt.BacktestOptions(
                events=data["events"], out=data["root"], compare=a_file.with_suffix(".yaml")
            )
        )
    with pytest.raises(StreamsError, match="needs --run"):
        bt.backtest(
            bt.BacktestOptions(events=data["events"], out=data["root"], clickhouse=object())
        )


def test_parquet_input_gives_the_outputs_of_jsonl(data: dict[str, Path]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    lines = data["events"].read_bytes().splitlines()[:3000]
    jsonl = data["root"] / "part.jsonl"
    jsonl.write_bytes(b"\n".join(lines) + b"\n")
    rows = [orjson.loads(x) for x in lines]
    columns = sorted({k for r in rows for k in r})
    table = pa.table({c: [r.get(c) for r in rows] for c in columns})
    for c in ("ts", "term_end"):
        if c in columns:
            i = table.schema.get_field_index(c)
            table = table.set_column(i, c, pa.array(
                [None if v is None else datetime.fromisoformat(v) for v in table[c].to_pylist()],
                pa.timestamp("us", tz="UTC"),
            ))  # fmt: skip
    parquet = data["root"] / "part.parquet"
    pq.write_table(table, parquet, row_group_size=700)
    _run(data, "from_jsonl", 1, events=jsonl, compare=None)
    result = _run(data, "from_parquet", 2, events=parquet, compare=None)
    assert result.bad == 0 and result.records_read == 3000
    for t in OUTPUTS:
        name = f"base/{t}.jsonl"
        a = (data["root"] / "from_parquet" / name).read_bytes()
        assert a == (data["root"] / "from_jsonl" / name).read_bytes(), name


def test_shards_are_a_stable_hash_of_the_account() -> None:
    assert [bt.shard_of(f"acct-{i}", 2) for i in range(6)] == [
        bt.shard_of(f"acct-{i}", 2) for i in range(6)
    ]
    assert {bt.shard_of(f"acct-{i}", 2) for i in range(50)} == {0, 1}
    # a sample of accounts taken by a CRC (as /work/data/A4.jsonl is) still splits evenly
    sampled = [a for a in (f"acct-{i}" for i in range(4000)) if zlib.crc32(a.encode()) % 4 == 0]
    shards = Counter(bt.shard_of(a, 2) for a in sampled)
    assert min(shards[0], shards[1]) > 0.4 * len(sampled)


class _Conn:
    def send(self, message: object) -> None:
        pass


def test_an_event_refused_while_scoring_is_a_bad_record_of_its_line(
    data: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lines = data["events"].read_bytes().splitlines()[:300]
    events = tmp_path / "few.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    victim = orjson.loads(lines[120])["event_id"]
    split = bt._split(_Conn(), events, "jsonl", 0, (0, 1 << 40), 1, 1 << 20, tmp_path, 1 << 62, 24)  # type: ignore[arg-type]
    assert split["good"] == 300 and split["lines"] == 300
    real = bt.scoring.process

    def flaky(state, event, *args):  # type: ignore[no-untyped-def]
        if event.event_id == victim:
            raise ZeroDivisionError("scoring bug")
        return real(state, event, *args)

    monkeypatch.setattr(bt.scoring, "process", flaky)
    shard = bt._Shard(split["runs"][0], [None], False)
    day = shard.next_day()
    while day is not None:
        shard.day(day, [None])
        day = shard.next_day()
    totals = shard.totals()
    assert totals["bad"] == 1 and totals["applied"] == [299]
    (rng, line, reason, detail, _field) = totals["samples"][0]
    assert (rng, line, reason) == (0, 121, "processing_error") and "scoring bug" in detail


GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "golden_events.jsonl"


def _same_event(a: object, b: object) -> None:
    assert type(a) is type(b)
    assert a == b
    da, db = a.__dict__, b.__dict__
    assert list(da) == list(db)
    for name in da:
        assert type(da[name]) is type(db[name]), name
        assert repr(da[name]) == repr(db[name]), name
    assert a.__pydantic_fields_set__ == b.__pydantic_fields_set__  # type: ignore[attr-defined]
    assert a.model_dump_json() == b.model_dump_json()  # type: ignore[attr-defined]


def test_a_packed_event_unpacks_to_the_decoded_event_of_every_type() -> None:
    """The run files carry decoded events, not their text: scoring does not validate them
    again, so unpacking must give back exactly what the decoder made."""
    from schemas.decode import decode_event
    from schemas.events import MODEL_BY_TYPE

    lines = GOLDEN.read_bytes().splitlines()
    events = [decode_event(line) for line in lines if line.strip()]
    # the same events with µs and an offset, and without the defaulted schema_version
    for line in lines:
        doc = orjson.loads(line)
        doc.pop("schema_version", None)
        doc["ts"] = doc["ts"].replace("Z", ".250001+02:00")
        events.append(decode_event(orjson.dumps(doc)))
    assert {e.type for e in events} == set(MODEL_BY_TYPE)
    for event in events:
        packed = bt.pack_event(event)
        assert packed[:1] == b"C", event.type  # the compact form, not a pickle of the model
        _same_event(bt.unpack_event(packed), event)


def test_an_event_the_compact_form_cannot_carry_round_trips_whole() -> None:
    from datetime import timedelta, timezone

    from schemas.decode import decode_event

    event = decode_event(GOLDEN.read_bytes().splitlines()[0])
    paris = event.model_copy(update={"ts": event.ts.astimezone(timezone(timedelta(hours=1)))})
    packed = bt.pack_event(paris)
    assert packed[:1] == b"O"
    _same_event(bt.unpack_event(packed), paris)


_COLUMNS_SCRIPT = """
import json, sys
import clickhouse_connect
from streams.clickhouse.client import ClickHouse
from streams.clickhouse.migrations import migrate
ch = ClickHouse(clickhouse_connect.get_client(dsn="chdb://" + sys.argv[1]), "hs", "chdb")
migrate(ch)
rows = ch.query(
    "SELECT table, name, type, default_kind, default_expression FROM system.columns "
    "WHERE database = 'hs' ORDER BY table, position"
)
tables = {}
for table, *column in rows:
    tables.setdefault(table, []).append(column)
print(json.dumps(tables))
"""


def test_the_backtest_tables_have_the_columns_of_the_live_tables_after_run_and_config(
    tmp_path: Path,
) -> None:
    """Migration 0004's tables are the live tables (0001 and every later migration) with
    the run's name and the config in front: a column added to a live table must be added
    to its backtest table too, or `--clickhouse` would write rows the table refuses."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), *sys.path])}
    # chDB allows one engine per process: the migrations run in a process of their own
    done = subprocess.run(
        [sys.executable, "-c", _COLUMNS_SCRIPT, str(tmp_path / "chdb")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    tables = orjson.loads(done.stdout.strip().splitlines()[-1])
    keys = [["run", "LowCardinality(String)", "", ""], ["config", "LowCardinality(String)", "", ""]]
    live = {
        "backtest_scores": "score_history",
        "backtest_transitions": "transitions",
        "backtest_alerts": "alerts",
        "backtest_track_record": "churn_track_record",
    }
    for backtest_table, live_table in live.items():
        assert tables[backtest_table] == keys + tables[live_table], backtest_table
    # the columns the sink writes are columns of both
    from streams.clickhouse import rows

    written = {
        "backtest_scores": rows.SCORE_COLUMNS,
        "backtest_transitions": rows.TRANSITION_COLUMNS,
        "backtest_alerts": rows.ALERT_COLUMNS,
        "backtest_track_record": rows.TRACK_RECORD_COLUMNS,
    }
    for table, columns in written.items():
        assert set(columns) <= {c[0] for c in tables[table]}, table


def test_scoring_a_day_ahead_of_the_learner_writes_what_waiting_for_it_writes(
    data: dict[str, Path],
) -> None:
    """Each process scores the next day while the parent learns, and scores it again when
    the day's examples brought a refit: with many refits the outputs are those of the
    processes waiting for the parent at every day."""
    text = DEFAULT_CONFIG.read_text()
    for key, value in {
        "refit_every": "5",
        "min_per_class": "2",
        "snapshot_interval_days": "7",
        "horizon_days": "30",
    }.items():
        lines = [line for line in text.splitlines() if line.strip().startswith(f"{key}:")]
        assert len(lines) == 1, key
        indent = lines[0][: len(lines[0]) - len(lines[0].lstrip())]
        text = text.replace(lines[0], f"{indent}{key}: {value}", 1)
    refits = data["root"] / "refits.yaml"
    refits.write_text(text)
    ahead = _run(data, "ahead", 2, config=refits, compare=None, ahead=True)
    waiting = _run(data, "waiting", 2, config=refits, compare=None, ahead=False)
    assert ahead.model_versions == waiting.model_versions
    assert int(ahead.model_versions[0].rsplit("+m", 1)[1]) >= 5  # the days redone
    track = _jsonl(data["root"] / "ahead" / "base" / "track_record.jsonl")
    assert len(track) >= 2
    for name in [f"base/{t}.jsonl" for t in OUTPUTS] + ["comparison.json"]:
        a = (data["root"] / "ahead" / name).read_bytes()
        assert a == (data["root"] / "waiting" / name).read_bytes(), name
    assert ahead.applied == waiting.applied and ahead.bad == waiting.bad == 0
