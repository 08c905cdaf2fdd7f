"""`healthscore backtest` against `healthscore score-file` on the same events, side by side.

    python -m bench.backtest_speed EVENTS --work DIR [--score-file-tree /work/main]

Both commands start together, each under `/usr/bin/time -v`, so both run on the same
machine state; the load average is sampled every 10 s while they run. Prints one
Markdown row per command: wall time, events/s, CPU time of all its processes, peak RSS
(the largest of its processes, as `time -v` reports it for the process tree's largest
member), and the load average seen. `--score-file-tree` is the checkout whose code
`score-file` runs (the baseline); the backtest runs this checkout's code.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
TIME = "/usr/bin/time"


def _time_v(path: Path) -> dict[str, float]:
    text = path.read_text(errors="replace")

    def grab(label: str) -> str:
        match = re.search(rf"^\s*{re.escape(label)}: (.+)$", text, re.M)
        if match is None:
            raise SystemExit(f"{path}: no {label!r} in the output of time -v")
        return match.group(1).strip()

    wall = 0.0
    for part in grab("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":"):
        wall = wall * 60 + float(part)
    return {
        "wall": wall,
        "user": float(grab("User time (seconds)")),
        "system": float(grab("System time (seconds)")),
        "rss_mb": int(grab("Maximum resident set size (kbytes)")) / 1024,
        "status": int(grab("Exit status")),
    }


def _tree_rss_mb(root: int) -> float:
    """Resident MB summed over `root` and its descendants now (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        rss[int(entry.name)] = int(match.group(1)) if match else 0
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total / 1024


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("events", type=Path)
    p.add_argument("--work", type=Path, required=True, help="outputs and logs go here")
    p.add_argument("--score-file-tree", type=Path, default=Path("/work/main"))
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--events-count", type=int, help="records in EVENTS (default: count lines)")
    args = p.parse_args(argv)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    events = args.events.resolve()
    count = args.events_count
    if count is None:
        with events.open("rb") as f:
            count = sum(1 for line in f if line.strip())
    python_bin = Path(sys.executable).parent
    healthscore = str(python_bin / "healthscore")
    runs = {
        "backtest": (
            HERE,
            [
                *(healthscore, "backtest", str(events)),
                *("--out", str(work / "backtest"), "--workers", str(args.workers)),
            ],
        ),
        "score-file": (
            args.score_file_tree.resolve(),
            [
                *(healthscore, "score-file", str(events)),
                *("--out", str(work / "scores.jsonl"), "--cadence", "1d"),
            ],
        ),
    }
    procs = {}
    for name, (tree, cmd) in runs.items():
        env = {**os.environ, "PYTHONPATH": str(tree)}
        with (work / f"{name}.log").open("wb") as log:
            procs[name] = subprocess.Popen(
                [TIME, "-v", "-o", str(work / f"{name}.time"), *cmd],
                cwd=tree,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
    started = time.time()
    loads: dict[str, list[float]] = {name: [] for name in procs}
    summed = dict.fromkeys(procs, 0.0)
    while any(proc.poll() is None for proc in procs.values()):
        load = float(Path("/proc/loadavg").read_text().split()[0])
        for name, proc in procs.items():
            if proc.poll() is None:
                loads[name].append(load)
                summed[name] = max(summed[name], _tree_rss_mb(proc.pid))
        time.sleep(10)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started))
    print(f"{events} ({count:,} records), started together at {stamp}")
    print(
        "| run | load average (1 min, min-max, mean) | wall time | events/s "
        "| CPU time, all processes | peak RSS, largest process (summed, 10 s samples) | exit |"
    )
    print("|---|---|---|---|---|---|---|")
    walls = {}
    for name in procs:
        t = _time_v(work / f"{name}.time")
        walls[name] = t["wall"]
        seen = loads[name] or [0.0]
        cpu = t["user"] + t["system"]
        print(
            f"| `{name}` | {min(seen):.1f}-{max(seen):.1f}, {sum(seen) / len(seen):.1f} "
            f"| {int(t['wall']) // 60} min {t['wall'] % 60:.0f} s | {count / t['wall']:,.0f} "
            f"| {cpu:,.0f} s ({cpu / count * 1e6:.0f} µs/event) "
            f"| {t['rss_mb']:,.0f} MB ({summed[name]:,.0f} MB) "
            f"| exit {t['status']} |"
        )
    print(f"wall-clock speed-up of backtest: {walls['score-file'] / walls['backtest']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
