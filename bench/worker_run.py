"""The real worker as a child process: follow its progress lines, sample its memory.

The worker logs every 2 s (other counters may sit between these):
`received=N applied=N duplicates=N dead_letters=N scores=N rate=R/s clickhouse_pending=N`.
`WorkerRun` records each such line with the time the bench saw it (polled
every 0.1 s, so a line's time is within ~0.1 s of when it was written) and
the worker's resident memory (VmRSS, and the kernel's peak VmHWM) from
/proc/<pid>/status.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devtools.runner import WorkerProcess

FIELD = re.compile(r"\b([a-z_]+)=(\d+)\b")
READY = "[^Worker]: Ready"
REQUIRED = ("received", "applied", "duplicates", "dead_letters", "scores", "clickhouse_pending")


class BenchError(Exception):
    """A phase could not complete; the message says why and where the log is."""


@dataclass(frozen=True)
class Progress:
    at: float  # time.monotonic() when the bench read the line
    received: int
    applied: int
    duplicates: int
    dead_letters: int
    scores: int
    pending: int
    unsaved: int = 0  # changed states not saved yet (`unsaved_states`, if logged)


def parse_progress(line: str, at: float) -> Progress | None:
    """A progress line's counters (any order, extra counters ignored), or None."""
    if "received=" not in line:
        return None
    g = {k: int(v) for k, v in FIELD.findall(line)}
    if not all(k in g for k in REQUIRED):
        return None
    return Progress(
        at,
        g["received"],
        g["applied"],
        g["duplicates"],
        g["dead_letters"],
        g["scores"],
        g["clickhouse_pending"],
        g.get("unsaved_states", 0),
    )


def read_memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in kB; empty once it has exited."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    name, value = line.split(":", 1)
                    out[name] = int(value.split()[0])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


def read_cpu_times(pid: int) -> tuple[float, float] | None:
    """(user, system) CPU seconds of a process (all its threads), None once it has exited."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def read_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process, or None once it has exited."""
    times = read_cpu_times(pid)
    return sum(times) if times else None


@dataclass
class WorkerRun:
    """One worker process and what the bench saw of it."""

    env: dict[str, str]
    log_path: Path
    process: WorkerProcess = field(init=False)
    started: float = 0.0
    lines: list[Progress] = field(default_factory=list)
    rss_kb: list[tuple[float, int]] = field(default_factory=list)
    cpu: list[tuple[float, float]] = field(default_factory=list)  # (at, CPU seconds used)
    system_cpu: list[tuple[float, float]] = field(default_factory=list)  # (at, kernel part)
    hwm_kb: int = 0
    ready_at: float | None = None  # when the bench saw Faust's "[^Worker]: Ready" line
    _offset: int = 0
    _partial: str = ""

    def __post_init__(self) -> None:
        self.process = WorkerProcess(self.env, self.log_path)

    @property
    def pid(self) -> int:
        assert self.process.proc is not None
        return self.process.proc.pid

    def start(self) -> WorkerRun:
        self.started = time.monotonic()
        self.process.start()
        return self

    def poll(self) -> None:
        """Read new progress lines and sample memory."""
        now = time.monotonic()
        try:
            with self.log_path.open("r", errors="replace") as log:
                log.seek(self._offset)
                chunk = log.read()
                self._offset = log.tell()
        except FileNotFoundError:
            chunk = ""
        text = self._partial + chunk
        *complete, self._partial = text.split("\n")
        for line in complete:
            p = parse_progress(line, now)
            if p is not None:
                self.lines.append(p)
            elif self.ready_at is None and READY in line:
                self.ready_at = now
        mem = read_memory_kb(self.pid) if self.process.running else {}
        if "VmRSS" in mem:
            self.rss_kb.append((now, mem["VmRSS"]))
        self.hwm_kb = max(self.hwm_kb, mem.get("VmHWM", 0))
        times = read_cpu_times(self.pid) if self.process.running else None
        if times is not None:
            self.cpu.append((now, times[0] + times[1]))
            self.system_cpu.append((now, times[1]))

    def cpu_between(self, start: float, end: float, system: bool = False) -> float | None:
        """CPU seconds (or only kernel seconds) the worker used between two monotonic times."""
        samples = self.system_cpu if system else self.cpu
        before = [c for at, c in samples if at <= start]
        after = [c for at, c in samples if at >= end]
        if not before or not after:
            return None
        return after[0] - before[-1]

    @property
    def last(self) -> Progress | None:
        return self.lines[-1] if self.lines else None

    def wait_for(
        self,
        done: Callable[[Progress], bool],
        timeout: float,
        what: str,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> Progress:
        """Poll until a progress line satisfies `done`; BenchError on timeout or crash."""
        deadline = time.monotonic() + timeout
        seen = len(self.lines)
        while True:
            self.poll()
            for p in self.lines[seen:]:
                if on_progress:
                    on_progress(p)
                if done(p):
                    return p
            seen = len(self.lines)
            if not self.process.running:
                raise BenchError(
                    f"the worker exited (code {self.process.proc.returncode if self.process.proc else '?'}) "  # noqa: E501
                    f"while waiting for {what}; see {self.log_path}\n{self.process.log_tail(30)}"
                )
            if time.monotonic() > deadline:
                last = self.last
                raise BenchError(
                    f"timed out after {timeout:.0f}s waiting for {what} "
                    f"(last progress: {last.received if last else 'none'} received); "
                    f"see {self.log_path}"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = 60.0) -> int:
        self.poll()
        return self.process.stop(timeout)


@dataclass(frozen=True)
class Throughput:
    """Events/s of a worker that consumes a pre-loaded backlog.

    `rate` runs from the worker's "Ready" log line (partitions assigned,
    fetching starts) to the first progress line with received == N: it
    includes the first fetch and up to one 2 s progress interval at the end,
    so it errs low by (2 s / run time) at most. `steady_rate` runs between
    the first progress line with received > 0 and the last one below N.
    When the agent starves the event loop the progress timer fires late
    (see `longest_gap_seconds`) and `steady_rate` may be missing.
    """

    events: int
    seconds: float  # Ready to received == N (or the last line)
    rate: float
    steady_rate: float | None
    startup_seconds: float  # process start to Ready
    longest_gap_seconds: float  # longest time between two progress lines while consuming
    complete: bool


def throughput(run: WorkerRun, expected: int) -> Throughput:
    busy = [p for p in run.lines if p.received > 0]
    if not busy:
        raise BenchError(f"the worker never received an event; see {run.log_path}")
    done = next((p for p in busy if p.received >= expected), None)
    end = done or busy[-1]
    ready = run.ready_at
    if ready is None:  # no Ready line: fall back to the last line before any event
        ready = max((p.at for p in run.lines if p.received == 0), default=run.started)
    seconds = end.at - ready
    first = busy[0]
    below = [p for p in busy if p.received < expected and p.at > first.at]
    steady = (below[-1].received - first.received) / (below[-1].at - first.at) if below else None
    consuming = [p.at for p in run.lines if p.at >= ready and p.at <= end.at]
    gaps = [b - a for a, b in zip([ready, *consuming], consuming, strict=False)]
    return Throughput(
        events=end.received,
        seconds=seconds,
        rate=end.received / seconds if seconds > 0 else 0.0,
        steady_rate=steady,
        startup_seconds=ready - run.started,
        longest_gap_seconds=max(gaps, default=0.0),
        complete=done is not None,
    )
