"""How the sweep phase (`bench.sweep_run`) measures: the worker's sweep lines, the latency
of the events sent while a sweep ran, and the paced window it shares with the latency
phases (`bench.latency_run.pace`)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench import latency, latency_run
from bench.context import Context
from bench.events import EventStream
from bench.latency import LatencyLog
from bench.sweep_run import during, sweeps
from bench.worker_run import Progress
from schemas.events import Family

SWEPT = (
    "[2026-12-05 05:31:07,922] [25054] [INFO] clock: swept partition {p} at 2026-12-05: "
    "accounts={n} busy_ms=15.9 elapsed_ms=161.6 began=1796448667.761 tick_cpu_ms=5.7 "
)


def test_each_sweep_line_of_the_worker_log_is_one_sweep():
    text = "\n".join(
        [SWEPT.format(p=0, n=2), "[INFO] clock: partition 0 ticks", SWEPT.format(p=3, n=2500)]
    )
    got = sweeps(text)
    assert [(s["partition"], s["accounts"]) for s in got] == [(0, 2), (3, 2500)]
    assert got[1] == {"partition": 3, "accounts": 2500, "busy_ms": 15.9, "elapsed_ms": 161.6,
                      "began": 1796448667.761, "tick_cpu_ms": 5.7}  # fmt: skip


def test_latency_during_a_sweep_counts_the_events_sent_while_it_ran():
    log = LatencyLog(seq0=100, send_times=[10.0, 20.0, 30.0])
    # (consumed at, account, event id, events_applied); an event id outside the window is
    # not this run's
    log.scores = [(10.5, "a", "e100", 1), (21.0, "a", "e101", 2),
                  (30.2, "b", "e102", 1), (9.0, "c", "e7", 1)]  # fmt: skip
    assert [round(x, 3) for x in during(log, 15.0, 25.0)] == [1.0]
    assert [round(x, 3) for x in during(log, 15.0, 25.0, inside=False)] == [0.5, 0.2]


class _Run:
    def __init__(self) -> None:
        self.goals: list[int] = []

    def poll(self) -> None:
        pass

    def wait_for(self, predicate: Any, timeout: float, what: str) -> Progress:
        last = Progress(at=0.0, received=1006, applied=0, duplicates=0, dead_letters=0,
                        scores=0, pending=0)  # fmt: skip
        assert predicate(last)
        self.goals.append(1006)
        return last


def test_pace_sends_rate_times_seconds_and_waits_for_the_worker_to_take_them(monkeypatch):
    calls: list[dict[str, Any]] = []

    async def paced_run(bootstrap, topics, scores_topic, events, seq0, applied, rate, **kw):
        calls.append({"scores": scores_topic, "events": len(events), "seq0": seq0, **kw})
        return LatencyLog(seq0), {"events": len(events)}

    monkeypatch.setattr(latency, "paced_run", paced_run)
    ctx = Context(SimpleNamespace(latency_seconds=3), Path("."), lambda _: None)
    stream = EventStream(5, 1, step_seconds=0.01)
    warm = stream.take(1000)
    applied = Counter(k for _, k, _ in warm)
    topics = {f: f"p.{f.value}" for f in Family}
    run = _Run()
    _, sent, last = latency_run.pace(
        ctx,
        run,
        stream,
        topics,
        "p",
        applied,
        1000,
        2.0,
        alerts=False,  # type: ignore[arg-type]
    )
    assert sent == {"events": 6} and last.received == 1006
    assert (calls[0]["events"], calls[0]["seq0"]) == (6, 1000)
    assert calls[0]["scores"] == "p.scores" and calls[0]["alerts_topic"] is None
    assert sum(applied.values()) == 1006
    latency_run.pace(ctx, run, stream, topics, "p", applied, 1000, 2.0)  # type: ignore[arg-type]
    assert calls[1]["alerts_topic"] == "p.alerts" and calls[1]["seq0"] == 1006
