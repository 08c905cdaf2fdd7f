"""The bench's results: machine facts, targets (pass/fail), the JSON file, the table."""

from __future__ import annotations

import os
import platform
import sys
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

TARGETS = (
    # (name, where in results, comparison, threshold, unit)
    ("worker end to end >= 20,000 events/s", ("worker", "events_per_s"), ">=", 20_000, "events/s"),
    ("worker >= 10% of the raw ceiling", ("worker", "ratio_to_ceiling"), ">=", 0.10, ""),
    (
        "p99 event-to-score latency < 1 s at half max rate",
        ("latency", "by_event_id", "p99_ms"),
        "<",
        1000,
        "ms",
    ),
    (
        "p99 event-to-alert latency < 1 s at half max rate",
        ("latency", "event_to_alert", "p99_ms"),
        "<",
        1000,
        "ms",
    ),
    (
        "p99 event-to-score latency < 1 s while a daily sweep runs",
        ("sweep", "latency_during_sweep", "p99_ms"),
        "<",
        1000,
        "ms",
    ),
    ("state < 2 KB per account (mean)", ("state", "bytes_mean"), "<", 2048, "bytes"),
)


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(mem_kb / 2**20, 1),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "packages": {
            p: version(p)
            for p in (
                "faust-streaming",
                "aiokafka",
                "orjson",
                "pydantic",
                "chdb",
                "clickhouse-connect",
            )
        },
        "load_average_at_start": list(os.getloadavg()),
    }


def dig(results: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = results.get("phases", {})
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, path, op, threshold, unit in TARGETS:
        value = dig(results, path)
        if value is None:
            verdict = "not measured"
        else:
            ok = value >= threshold if op == ">=" else value < threshold
            verdict = "PASS" if ok else "FAIL"
        out.append(
            {
                "target": name,
                "value": value,
                "threshold": threshold,
                "op": op,
                "unit": unit,
                "result": verdict,
            }
        )
    return out


def write(results: dict[str, Any], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    data = orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    path = directory / f"{stamp}.json"
    path.write_bytes(data)
    (directory / "latest.json").write_bytes(data)
    return path


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value < 10:
        text = f"{value:.2f}"
    elif isinstance(value, int | float):
        text = f"{value:,.0f}"
    else:
        text = str(value)
    return f"{text} {unit}".strip()


def _latency_rows(indent: str, lat: dict[str, Any], every: bool) -> list[tuple[str, str]]:
    def fmt(name: str, d: dict[str, Any]) -> tuple[str, str]:
        return (
            f"{indent}{name} p50 / p99 / max",
            f"{_fmt(d.get('p50_ms'))} / {_fmt(d.get('p99_ms'))} / {_fmt(d.get('max_ms'))} ms "
            f"(n={d.get('samples', 0):,})",
        )

    out = [fmt("event to score", lat.get("by_event_id", {}))]
    if every:
        out.append(fmt("every event to its next score", lat.get("every_event", {})))
    out.append(fmt("event to alert", lat.get("event_to_alert", {})))
    return out


def table(results: dict[str, Any]) -> str:
    p = results.get("phases", {})
    m = results["machine"]
    rows: list[tuple[str, str]] = []

    def row(label: str, value: Any, unit: str = "") -> None:
        rows.append((label, _fmt(value, unit)))

    params = results["params"]
    rows.append(("machine", f"{m['cores']} cores, {m['cpu']}, {m['memory_gb']} GB"))
    rows.append(
        (
            "versions",
            f"python {m['python']}, kafka {results.get('kafka_version')}, "
            f"faust {m['packages']['faust-streaming']}, aiokafka {m['packages']['aiokafka']}",
        )
    )
    rows.append(
        (
            "run",
            f"{params['events']:,} events, {params['accounts']:,} accounts, "
            f"{params['partitions']} partitions",
        )
    )
    if "preload" in p:
        row("produce (aiokafka batches)", p["preload"].get("events_per_s"), "events/s")
    if "ceiling" in p:
        row("ceiling: raw aiokafka consumer", p["ceiling"].get("events_per_s"), "events/s")
    if "naive" in p:
        row("naive: stock Faust, per record", p["naive"].get("events_per_s"), "events/s")
        row("  naive events per CPU-second", p["naive"].get("events_per_cpu_second"), "events/s")
    if "worker" in p:
        w = p["worker"]
        row("healthscore worker end to end", w.get("events_per_s"), "events/s")
        ratio = w.get("ratio_to_ceiling")
        rows.append(("  ratio to ceiling", f"{ratio:.2%}" if ratio is not None else "-"))
        row("  worker CPU used (cores)", w.get("cpu_cores_used"))
        row("  events per worker CPU-second", w.get("events_per_cpu_second"), "events/s")
        row("  worker startup", w.get("startup_seconds"), "s")
        row("  worker peak RSS (VmHWM)", w.get("rss_peak_mb"), "MB")
        row("  worker RSS before its first event", w.get("rss_before_first_event_mb"), "MB")
    if "clickhouse" in p:
        c = p["clickhouse"]
        row("ClickHouse rows written by the worker", c.get("worker_rows_per_s"), "rows/s")
        row(
            "ClickHouse direct insert (5000-row batches)",
            c.get("direct_insert_rows_per_s"),
            "rows/s",
        )
    if "latency" in p:
        lat = p["latency"]
        row("latency, same traffic: rate (0.5 x worker max)", lat.get("rate"), "events/s")
        rows.extend(_latency_rows("  ", lat, every=True))
    onboarding = p.get("latency_onboarding", {}).get("runs", [])
    for run in onboarding:
        rows.append(
            (
                "latency, new accounts: rate",
                f"{run.get('rate'):,} events/s ({run.get('fraction_of_worker_rate')} x worker max, "
                f"scores for {run.get('score_share', 0):.0%} of events)",
            )
        )
        rows.extend(_latency_rows("  ", run, every=False))
    if "sweep" in p:
        sw = p["sweep"]
        rows.append(
            (
                "clock sweep: accounts, cost per account",
                f"{sw.get('accounts_swept'):,} accounts in {sw.get('partitions_swept')} "
                f"partitions, {sw.get('sweep_us_per_account'):,} us/account busy "
                f"({sw.get('sweep_tick_cpu_us_per_account'):,} CPU re-scoring), "
                f"{sw.get('sweep_elapsed_ms'):,} ms elapsed",
            )
        )
        row("  rate", sw.get("rate"), "events/s")
        for name, key in (("during the sweep", "latency_during_sweep"),
                          ("outside the sweep", "latency_outside_sweep")):  # fmt: skip
            d = sw.get(key, {})
            rows.append((f"  event to score {name} p50 / p99 / max",
                         f"{_fmt(d.get('p50_ms'))} / {_fmt(d.get('p99_ms'))} / "
                         f"{_fmt(d.get('max_ms'))} ms (n={d.get('samples', 0):,})"))  # fmt: skip
    if "pipeline" in p:
        row("in-process BatchProcessor + encoding", p["pipeline"].get("events_per_s"), "events/s")
    if "state" in p:
        s = p["state"]
        rows.append(
            (
                "state bytes per account mean / p99 / max (stored)",
                f"{_fmt(s.get('bytes_mean'))} / {_fmt(s.get('bytes_p99'))} / "
                f"{_fmt(s.get('bytes_max'))}",
            )
        )
        rows.append(
            (
                "  uncompressed JSON mean / p99",
                f"{_fmt(s.get('json_bytes_mean'))} / {_fmt(s.get('json_bytes_p99'))}",
            )
        )
        for held in s.get("held", []):
            row(
                f"  memory for {held['accounts']:,} states (in-process dict)",
                held.get("rss_added_mb"),
                "MB",
            )
    width = max(len(label) for label, _ in rows)
    lines = [f"{label:<{width}}  {value}" for label, value in rows]
    lines.append("")
    lines.append("targets:")
    for t in results.get("targets", []):
        ratio = t["unit"] == "" and isinstance(t["value"], float)
        value = f"{t['value']:.2%}" if ratio else _fmt(t["value"], t["unit"])
        lines.append(f"  [{t['result']:>12}] {t['target']}: {value}")
    for phase, error in results.get("errors", {}).items():
        lines.append(f"  error in {phase}: {error.splitlines()[0]}")
    return "\n".join(lines)
