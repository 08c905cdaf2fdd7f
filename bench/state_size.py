"""State bytes per account, and the memory that holding many states takes.

`measure(sample, events_per_account, days)` runs the scoring core in-process
over a generated history of `events_per_account` events per account (same
mix as the Kafka bench, spread over `days` days of event time) for `sample`
accounts and reports the size of what the worker's table holds per account
(`streams.statepack.pack_value`: input positions + the state's JSON,
zstd-compressed with the trained dictionary): mean, p50, p99, max; and
`json_bytes_*`, the uncompressed `len(state.to_bytes())`. The seed differs
from those the dictionary was trained on (`bench.train_state_dict`). An
account's state depends only on its own history, so the distribution holds
for 10,000 or 100,000 accounts alike.

`held_memory(n, states)` then measures, in a fresh process, what a worker's
`memory://` table costs for `n` accounts: a dict of account id -> state
bytes (copies of the measured states, cycled), as the RSS it adds and the
bytes tracemalloc sees allocated.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import orjson

import scoring
from bench.events import EventStream
from schemas.decode import decode_event
from streams.statepack import NO_POSITIONS, pack_value


def percentiles(values: list[float], *ps: float) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    out = {}
    for p in ps:
        i = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
        out[f"p{p:g}"] = ordered[i]
    return out


def measure(
    sample: int, events_per_account: int, days: float, seed: int = 11
) -> tuple[dict[str, Any], list[bytes]]:
    config = scoring.load_config(None)
    model = scoring.default_churn_model(config)
    total = sample * events_per_account
    stream = EventStream(sample, seed, step_seconds=days * 86_400 / total, id_prefix="s")
    states: dict[str, scoring.AccountState] = {}
    started = time.perf_counter()
    for family, _, value in stream.iter(total):
        event = decode_event(value, family)
        state = states.get(event.account_id)
        states[event.account_id] = scoring.process(state, event, config, model).state
    seconds = time.perf_counter() - started
    json_blobs = [s.to_bytes() for s in states.values()]
    blobs = [pack_value(NO_POSITIONS, b) for b in json_blobs]
    sizes = [float(len(b)) for b in blobs]
    json_sizes = [float(len(b)) for b in json_blobs]
    events = [float(s.clock.events_applied) for s in states.values()]
    stats: dict[str, Any] = {
        "method": "scoring core in-process over a generated history per account; bytes = "
        "the table value (positions + zstd with the trained dictionary), json_bytes = "
        "AccountState.to_bytes()",
        "accounts": len(blobs),
        "events": total,
        "days": days,
        "events_per_account": {
            "mean": round(sum(events) / len(events), 1),
            **{k: int(v) for k, v in percentiles(events, 50, 99).items()},
            "max": int(max(events)),
        },
        "bytes_mean": round(sum(sizes) / len(sizes), 1),
        **{f"bytes_{k}": int(v) for k, v in percentiles(sizes, 50, 99).items()},
        "bytes_max": int(max(sizes)),
        "json_bytes_mean": round(sum(json_sizes) / len(json_sizes), 1),
        **{f"json_bytes_{k}": int(v) for k, v in percentiles(json_sizes, 50, 99).items()},
        "process_us_per_event": round(seconds / total * 1e6, 1),
    }
    return stats, blobs


def _rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _hold(n: int, sample_path: Path) -> dict[str, Any]:
    blobs = orjson.loads(sample_path.read_bytes())
    states = [bytes.fromhex(b) for b in blobs]
    gc.collect()
    before = _rss_kb()
    tracemalloc.start()
    table = {f"acct-{i:06d}".encode(): bytes(bytearray(states[i % len(states)])) for i in range(n)}
    traced, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    after = _rss_kb()
    assert len(table) == n
    return {
        "accounts": n,
        "rss_added_mb": round((after - before) / 1024, 1),
        "allocated_mb": round(traced / 2**20, 1),
        "bytes_per_account": round(traced / n),
        "state_bytes_mean": round(sum(len(v) for v in table.values()) / n, 1),
    }


def held_memory(n: int, blobs: list[bytes], timeout: float = 300) -> dict[str, Any]:
    """Memory of a dict of `n` states, measured in a fresh interpreter."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        f.write(orjson.dumps([b.hex() for b in blobs]))
        path = Path(f.name)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.state_size", "hold", str(n), str(path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
            cwd=Path(__file__).resolve().parents[1],
        )
    finally:
        path.unlink(missing_ok=True)
    result: dict[str, Any] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return result


if __name__ == "__main__":  # python -m bench.state_size hold N SAMPLE_JSON
    if len(sys.argv) == 4 and sys.argv[1] == "hold":
        print(orjson.dumps(_hold(int(sys.argv[2]), Path(sys.argv[3]))).decode())
    else:
        sys.exit("usage: python -m bench.state_size hold N SAMPLE_JSON")
