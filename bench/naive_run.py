"""The naive phase: run `bench.naive` (a stock Faust app) as its own process and time it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid

from bench.context import REPO, Context
from bench.worker_run import BenchError, read_cpu_seconds

# Faust routes the naive app's prints through its logging: match anywhere in a line
NAIVE_PROGRESS = re.compile(r"naive received=(\d+) at=([\d.]+)")
NAIVE_DONE = re.compile(r"naive done received=(\d+) first=([\d.]+) last=([\d.]+)")


def naive(ctx: Context) -> None:
    n = len(ctx.events)
    data = ctx.work / "naive"
    data.mkdir(parents=True, exist_ok=True)
    log_path = data / "naive.log"
    env = {
        **os.environ,
        "BENCH_NAIVE_APP_ID": f"bench-naive-{uuid.uuid4().hex[:6]}",
        "BENCH_NAIVE_BOOTSTRAP": ctx.bootstrap,
        "BENCH_NAIVE_TOPICS": ",".join(ctx.topics.values()),
        "BENCH_NAIVE_PARTITIONS": str(ctx.args.partitions),
        "BENCH_NAIVE_DATA_DIR": str(data),
        "BENCH_NAIVE_EXPECTED": str(n),
    }
    started = time.monotonic()
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.naive"],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ctx.say(f"naive Faust app pid {proc.pid} started; log {log_path}")
    deadline = started + ctx.timeout_for(n)
    progress: list[tuple[float, int]] = []
    done: tuple[float, float, int] | None = None
    cpu: list[tuple[float, float]] = []
    last_say = 0.0
    try:
        while done is None:
            if proc.poll() is not None:
                raise BenchError(f"the naive app exited with {proc.returncode}; see {log_path}")
            used = read_cpu_seconds(proc.pid)
            if used is not None:
                cpu.append((time.monotonic(), used))
            text = log_path.read_text(errors="replace")
            progress = [(float(t), int(r)) for r, t in NAIVE_PROGRESS.findall(text)]
            finished = NAIVE_DONE.search(text)
            if finished:
                done = (float(finished[2]), float(finished[3]), int(finished[1]))
            if progress and progress[-1][0] - last_say >= 10:
                last_say = progress[-1][0]
                ctx.say(f"naive: received {progress[-1][1]:,}/{n:,}")
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    busy = [(t, r) for t, r in progress if r > 0]
    if done is not None:
        first, last, received = done
        rate = (received - 1) / (last - first) if last > first else 0.0
        complete = True
    elif len(busy) >= 2:
        (t0, r0), (t1, r1) = busy[0], busy[-1]
        first, received, rate, complete = t0, r1, (r1 - r0) / (t1 - t0), False
    else:
        raise BenchError(f"the naive app consumed nothing in time; see {log_path}")
    window = [(at, c) for at, c in cpu if first <= at <= (done[1] if done else cpu[-1][0])]
    cores = (
        (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])
        if len(window) >= 2 and window[-1][0] > window[0][0]
        else None
    )
    ctx.phases["naive"] = {
        "method": "stock faust.App (one record per message), orjson.loads + one Table update "
        "per event (memory store, changelog); rate = events / (last - first event) counted in "
        "the agent",
        "events": received,
        "complete": complete,
        "events_per_s": round(rate),
        "startup_seconds": round(first - started, 2),
        "cpu_cores_used": round(cores, 2) if cores else None,
        "events_per_cpu_second": round(rate / cores) if cores else None,
        "log": str(log_path),
    }
    if not complete:
        ctx.say(f"naive: timed out after {received:,} events; rate so far {rate:,.0f}/s")
    ctx.say(f"naive: {rate:,.0f} events/s")
