"""`healthscore demo` / `make demo`: the whole product on the embedded defaults.

Starts (or uses) Kafka, streams a synthetic portfolio through a real worker
process, follows the scores topic live, then stops the worker and reads the
summary back from ClickHouse.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import orjson

from streams.demo.portfolio import generate
from streams.infra.local_kafka import broker_from_env_or_local
from streams.kafka_io import create_topics, produce_events, read_topic
from streams.runner import WorkerProcess
from streams.settings import load_settings


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_demo(accounts: int, days: int, seed: int, out_dir: str) -> int:
    out = Path(out_dir).resolve()
    for stale in ("chdb", "worker"):
        shutil.rmtree(out / stale, ignore_errors=True)
    run_id = uuid.uuid4().hex[:8]
    prefix = f"demo-{run_id}"
    settings = load_settings(data_dir=out, topic_prefix=prefix, app_id=f"healthscore-demo-{run_id}")
    started = time.monotonic()
    events = list(generate(accounts=accounts, days=days, seed=seed))
    expected = Counter(e["account_id"] for e in events)
    _say(f"generated {len(events):,} events for {accounts:,} accounts over {days} days")

    with broker_from_env_or_local() as bootstrap:
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "HEALTHSCORE_DATA_DIR": str(out),
            "HEALTHSCORE_TOPIC_PREFIX": prefix,
            "HEALTHSCORE_APP_ID": settings.app_id,
            "HEALTHSCORE_PARTITIONS": str(settings.topic_partitions),
        }
        topics = settings.input_topics
        asyncio.run(create_topics(bootstrap, list(topics.values()), settings.topic_partitions))
        worker = WorkerProcess(env, out / "worker.log").start()
        try:
            t0 = time.monotonic()
            asyncio.run(produce_events(bootstrap, topics, events, _produce_progress(len(events))))
            _say(f"\nproduced {len(events):,} events in {time.monotonic() - t0:.1f}s; scoring…")
            latest = _follow_scores(bootstrap, settings.topic("scores"), expected, worker)
        finally:
            code = worker.stop()
        if code not in (0, -15):
            _say(f"worker exited with {code}; log tail:\n{worker.log_tail()}")
    if latest is None:
        _say(f"the worker did not score every event in time; see {out / 'worker.log'}")
        return 1
    _print_summary(settings, time.monotonic() - started)
    return 0


def _produce_progress(total: int):  # type: ignore[no-untyped-def]
    def progress(sent: int) -> None:
        _say_inline(f"producing {sent:,}/{total:,} events {_bar(sent / max(1, total))}")

    return progress


def _bar(fraction: float, width: int = 30) -> str:
    filled = round(fraction * width)
    return "[" + "#" * filled + "." * (width - filled) + f"] {fraction:4.0%}"


def _say_inline(text: str) -> None:
    print("\r" + text, end="", file=sys.stderr, flush=True)


def _follow_scores(
    bootstrap: str, topic: str, expected: Counter[str], worker: WorkerProcess
) -> dict[str, int] | None:
    applied: dict[str, int] = {}
    total = sum(expected.values())
    last_print = [0.0]

    def on_message(key: bytes | None, value: bytes) -> None:
        record = orjson.loads(value)
        applied[record["account_id"]] = max(
            applied.get(record["account_id"], 0), record["events_applied"]
        )
        now = time.monotonic()
        if now - last_print[0] > 0.25:
            last_print[0] = now
            done = sum(applied.values())
            _say_inline(
                f"scored {done:,}/{total:,} events, {len(applied):,} accounts {_bar(done / total)}"
            )

    def finished(_: object) -> bool:
        if not worker.running:
            return True
        return len(applied) == len(expected) and all(applied[a] >= n for a, n in expected.items())

    asyncio.run(read_topic(bootstrap, topic, finished, timeout=600, on_message=on_message))
    _say("")
    complete = len(applied) == len(expected) and all(applied[a] >= n for a, n in expected.items())
    return applied if complete else None


def _print_summary(settings, elapsed: float) -> None:  # type: ignore[no-untyped-def]
    from streams.clickhouse import connect

    ch = connect(settings)
    db = ch.database
    rows = ch.query(
        f"SELECT count(), round(avg(health), 1), countIf(band = 'green'), "
        f"countIf(band = 'yellow'), countIf(band = 'red') FROM {db}.latest_score FINAL"
    )
    accounts, avg_health, green, yellow, red = rows[0]
    print(f"\nhealthscore demo: {accounts} accounts scored in {elapsed:.0f}s "
          f"(read back from ClickHouse {db}.latest_score)")  # fmt: skip
    print(f"  average health {avg_health}   green {green}   yellow {yellow}   red {red}")
    for column in ("success_quadrant", "readiness_quadrant"):
        counts = ch.query(
            f"SELECT ifNull({column}, 'unknown') AS q, count() FROM {db}.latest_score FINAL "
            f"GROUP BY q ORDER BY q"
        )
        print(f"  {column}: " + ", ".join(f"{q} {n}" for q, n in counts))
    print("  lowest health:")
    for account, health, band, quadrant in ch.query(
        f"SELECT account_id, round(health, 1), band, ifNull(success_quadrant, 'unknown') "
        f"FROM {db}.latest_score FINAL ORDER BY health ASC, account_id LIMIT 5"
    ):
        print(f"    {account}  health {health:5.1f}  {band:6}  {quadrant}")
    with contextlib.suppress(Exception):
        ch.close()
