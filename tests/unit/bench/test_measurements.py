"""How the bench turns logs, stacks and score records into figures."""

from __future__ import annotations

from pathlib import Path

from bench.latency import LatencyLog, latencies
from bench.profile import STAGES, parse, stage_of, summarise
from bench.report import TARGETS, evaluate_targets
from bench.state_size import percentiles
from bench.worker_run import WorkerRun, parse_progress, throughput

LINE = (
    "[2026-11-22 22:48:07,861] [3041] [INFO] received={r} applied={r} duplicates=0 "
    "dead_letters=0 scores=5 rate=681/s clickhouse_pending={p} "
)


def test_a_progress_line_is_parsed_and_other_lines_are_not():
    p = parse_progress(LINE.format(r=2159, p=49), at=1.0)
    assert p is not None and (p.received, p.pending, p.scores) == (2159, 49, 5)
    assert parse_progress("[INFO] [^Worker]: Ready", at=1.0) is None


def test_throughput_runs_from_the_ready_line_to_the_line_with_every_event(tmp_path):
    run = WorkerRun({}, tmp_path / "w.log")
    run.started, run.ready_at = 100.0, 105.0
    for at, received in [(104, 0), (106, 1000), (108, 3000), (110, 5000), (115, 6000)]:
        run.lines.append(parse_progress(LINE.format(r=received, p=0), at=at))
    t = throughput(run, expected=6000)
    assert t.complete
    assert t.rate == 6000 / 10  # Ready at 105 -> received == N at 115
    assert t.steady_rate == 1000.0  # 1000 -> 5000 over 106 -> 110
    assert t.startup_seconds == 5.0
    assert t.longest_gap_seconds == 5.0  # 110 -> 115: the progress timer came late


def test_latency_by_event_id_and_for_every_event():
    log = LatencyLog(seq0=10, send_times=[100.0, 100.1, 100.2])
    log.ranks[b"a"] = [(1, 10), (2, 11)]
    log.ranks[b"b"] = [(5, 12)]
    log.scores = [(100.5, "a", "e11", 2), (100.7, "b", "e12", 5), (101.0, "c", "e3", 1)]
    stats = latencies(log)
    assert stats["by_event_id"]["samples"] == 2  # e3 was sent before the measured window
    assert stats["by_event_id"]["max_ms"] == 500.0  # b: 100.7 - 100.2
    assert stats["every_event"]["samples"] == 3  # a's first event is covered by e11's score
    assert stats["every_event"]["max_ms"] == 500.0
    assert stats["events_never_scored"] == 0
    assert stats["event_to_alert"] == {"samples": 0}


def test_event_to_alert_latency_uses_the_event_the_alert_names():
    log = LatencyLog(seq0=10, send_times=[100.0, 100.1, 100.2])
    log.alerts = [(100.4, "e10"), (100.9, "e12"), (101.0, "e3")]  # e3: before the window
    stats = latencies(log)["event_to_alert"]
    assert stats["samples"] == 2
    assert stats["max_ms"] == 700.0 and stats["p50_ms"] in (400.0, 550.0, 700.0)


def test_profile_stacks_are_grouped_by_the_innermost_stage(tmp_path: Path):
    raw = tmp_path / "p.txt"
    raw.write_text(
        "thread (1): MainThread;main (x.py:1);BatchProcessor.run (streams/pipeline.py:75);"
        "process (scoring/engine.py:159);evaluate (scoring/evaluate.py:3) 30\n"
        "thread (1): MainThread;main (x.py:1);BatchProcessor.run (streams/pipeline.py:75) 10\n"
        "thread (2): clickhouse-writer;run (w.py:1) 5\n"
    )
    samples = parse(raw)
    assert samples[0].frames[-1] == "evaluate (scoring/evaluate.py)"
    assert stage_of(samples[0].frames).startswith("scoring core")
    summary = summarise(raw)
    assert summary["main_thread_samples"] == 40
    assert summary["stages"][0] == {
        "name": next(s for s, _ in STAGES if s.startswith("scoring core")),
        "samples": 30,
        "pct": 75.0,
    }


def test_targets_report_pass_fail_and_not_measured():
    results = {"phases": {"worker": {"events_per_s": 25_000, "ratio_to_ceiling": 0.05}}}
    verdicts = {t["target"]: t["result"] for t in evaluate_targets(results)}
    assert list(verdicts.values()) == ["PASS", "FAIL"] + ["not measured"] * (len(TARGETS) - 2)


def test_percentiles_pick_nearest_ranks():
    assert percentiles([float(i) for i in range(101)], 50, 99) == {"p50": 50.0, "p99": 99.0}


def test_a_progress_line_with_more_counters_in_between_still_parses():
    line = (
        "[INFO] received=5392 applied=5392 duplicates=0 dead_letters=0 scores=4433 "
        "transitions=5735 alerts=115 rate=941/s clickhouse_pending=7"
    )
    p = parse_progress(line, at=2.0)
    assert p is not None and (p.received, p.scores, p.pending) == (5392, 4433, 7)
