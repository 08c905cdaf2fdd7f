"""Where the worker's time goes: py-spy on the live process, summarised.

`record(pid, seconds, out)` runs `py-spy record --format raw` (collapsed
stacks, one line per distinct stack with its sample count) in non-blocking
mode with idle samples and thread names, so the event loop's waiting shows
as waiting; `record(..., gil=True)` keeps only samples holding the GIL (the
Python CPU work). `summarise(path)` turns the stacks into:

- samples per thread (the main thread runs the event loop and the agent;
  `clickhouse-writer` runs the inserts);
- for the main thread: the share of samples in each *stage* of the hot path
  (first matching rule in `STAGES`, by the innermost matching frame), and
  the top functions by inclusive and by self time.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

# (stage, predicate on "func (file)") in order of precedence: the innermost frame
# of a sample that matches a rule decides its stage.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("decode+validate (schemas.decode_event, pydantic)", ("decode_event (schemas/decode.py",)),
    ("state decode (AccountState.from_bytes)", ("from_bytes (scoring/",)),
    ("state encode (AccountState.to_bytes)", ("to_bytes (scoring/",)),
    ("score record build (ScoreRecord)", ("StepResult.score (", "score_record (scoring/")),
    ("scoring core (scoring.process)", ("process (scoring/engine.py",)),
    ("state save + changelog send (streams.state_flush flush)", ("flush (streams/state_flush.py",)),
    ("table read (faust Table.get)", ("load (streams/state_store.py",)),
    ("outputs: JSON encode (pydantic model_dump_json)", ("encode (streams/sinks.py",)),
    ("outputs: ClickHouse rows (streams.clickhouse.rows)", ("streams/clickhouse/rows.py",)),
    (
        "outputs: Kafka send (faust Topic.send)",
        ("OutputSink._send (streams/sinks.py", "faust/channels.py", "faust/topics.py"),
    ),
    ("pipeline other (BatchProcessor.score)", ("BatchProcessor.score (streams/pipeline.py",)),
    ("agent other (score_events)", ("score_events (streams/agents.py",)),
    ("kafka producer (aiokafka sender)", ("aiokafka/producer/",)),
    ("kafka consumer (fetch, parse records)", ("aiokafka/consumer/", "faust/transport/")),
    (
        "event loop idle (select/epoll)",
        ("select (selectors.py", "_run_once (asyncio/base_events.py:1"),
    ),
)


def record(pid: int, seconds: int, out: Path, rate: int = 100, gil: bool = False) -> Path:
    """Sample `pid` for `seconds`; raises FileNotFoundError without py-spy.

    Default (wall clock): every thread at every sample, waiting included, without
    pausing the process. `gil=True`: only samples where a thread holds the GIL, i.e.
    where Python code runs (py-spy pauses the process briefly per sample).
    """
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(exe).exists():
        raise FileNotFoundError("py-spy is not installed (pip install py-spy)")
    out.parent.mkdir(parents=True, exist_ok=True)
    mode = ["--gil"] if gil else ["--nonblocking", "--idle"]
    command = [exe, "record", "--pid", str(pid), "--duration", str(seconds)]
    command += ["--rate", str(rate), *mode, "--threads", "--format", "raw", "-o", str(out)]
    subprocess.run(
        command,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=seconds + 60,
    )
    return out


@dataclass(frozen=True)
class Sample:
    thread: str
    frames: tuple[str, ...]  # outermost first, "func (file:line)" without the line
    count: int


def _strip_line(frame: str) -> str:
    m = FRAME.match(frame)
    return f"{m['func']} ({m['file']})" if m else frame


def parse(path: Path) -> list[Sample]:
    samples = []
    for raw in path.read_text(errors="replace").splitlines():
        stack, _, count = raw.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        thread, *frames = stack.split(";")
        name = thread.split(": ", 1)[-1]
        samples.append(Sample(name, tuple(_strip_line(f) for f in frames), int(count)))
    return samples


# Matched only when no frame of the sample matches a rule of STAGES.
FALLBACK_STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("event loop scheduling (asyncio, mode, faust timers)", ("asyncio/", "mode/", "faust/")),
)


def stage_of(frames: tuple[str, ...]) -> str:
    for rules in (STAGES, FALLBACK_STAGES):
        for frame in reversed(frames):
            for stage, needles in rules:
                if any(n in frame for n in needles):
                    return stage
    return "other"


def summarise(path: Path, top: int = 25) -> dict[str, Any]:
    samples = parse(path)
    threads: Counter[str] = Counter()
    for s in samples:
        threads[s.thread] += s.count
    main = [s for s in samples if s.thread == "MainThread"]
    total = sum(s.count for s in main) or 1
    stages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    for s in main:
        stages[stage_of(s.frames)] += s.count
        for f in set(s.frames):
            inclusive[f] += s.count
        if s.frames:
            self_time[s.frames[-1]] += s.count

    def pct(counter: Counter[str], n: int) -> list[dict[str, Any]]:
        return [
            {"name": k, "samples": v, "pct": round(100 * v / total, 1)}
            for k, v in counter.most_common(n)
        ]

    return {
        "file": str(path),
        "samples_by_thread": dict(threads.most_common()),
        "main_thread_samples": total,
        "stages": pct(stages, len(stages)),
        "top_inclusive": pct(inclusive, top),
        "top_self": pct(self_time, top),
    }


def format_summary(summary: dict[str, Any], top: int = 12) -> str:
    lines = [f"py-spy samples by thread: {summary['samples_by_thread']}", "main thread, by stage:"]
    lines += [f"  {s['pct']:5.1f}%  {s['name']}" for s in summary["stages"]]
    lines.append("main thread, top self time:")
    lines += [f"  {s['pct']:5.1f}%  {s['name']}" for s in summary["top_self"][:top]]
    return "\n".join(lines)


if __name__ == "__main__":  # python -m bench.profile RAW_FILE: print the summary
    import json

    result = summarise(Path(sys.argv[1]))
    if "--json" in sys.argv:
        print(json.dumps(result, indent=2))
    else:
        print(format_summary(result, top=25))
