"""`healthscore demo` / `make demo`: the whole product on the embedded defaults.

Starts (or uses) Kafka, streams a synthetic portfolio through a real worker
process while showing live progress read from the output topics, then stops
the worker, reads the summary back from ClickHouse and draws the portfolio.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer

from devtools.demo.portfolio import generate
from devtools.demo.report import print_summary, read_portfolio, write_picture
from devtools.kafka_io import create_topics, group_progress, produce_events
from devtools.local_kafka import broker_from_env_or_local
from devtools.runner import WorkerProcess
from streams.settings import Settings, load_settings

SHORT = {
    "customer_success": "success",
    "work_to_keep:flight_risk": "flight risk",
    "work_to_keep:unprofitable": "unprofitable",
    "reassess": "reassess",
}


def say(message: str = "") -> None:
    print(message, file=sys.stderr, flush=True)


def say_inline(text: str) -> None:
    print("\r\033[K" + text, end="", file=sys.stderr, flush=True)


def bar(fraction: float, width: int = 24) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "[" + "#" * filled + "." * (width - filled) + f"] {fraction:4.0%}"


@dataclass
class Live:
    """What the output topics have shown so far."""

    quadrant: dict[str, str] = field(default_factory=dict)
    alerts: int = 0
    transitions: int = 0
    dead_letters: int = 0

    def on(self, topic_kind: str, value: bytes) -> None:
        if topic_kind == "scores":
            record = orjson.loads(value)
            self.quadrant[record["account_id"]] = record.get("success_quadrant") or "unknown"
        elif topic_kind == "alerts":
            self.alerts += 1
        elif topic_kind == "transitions":
            self.transitions += 1
        else:
            self.dead_letters += 1

    def counts(self) -> str:
        c = Counter(self.quadrant.values())
        return " ".join(f"{SHORT[q]} {c[q]}" for q in SHORT)


def run_demo(accounts: int, days: int, seed: int, out_dir: str) -> int:
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    out = Path(out_dir).resolve()
    for stale in ("chdb", "worker"):
        shutil.rmtree(out / stale, ignore_errors=True)
    run_id = uuid.uuid4().hex[:8]
    settings = load_settings(
        data_dir=out, topic_prefix=f"demo-{run_id}", app_id=f"healthscore-demo-{run_id}"
    )
    started = time.monotonic()
    personas: dict[str, str] = {}
    events = list(generate(accounts=accounts, days=days, seed=seed, personas=personas))
    say(
        f"generated {len(events):,} events for {accounts:,} accounts over {days} days (seed {seed})"
    )

    worker: WorkerProcess | None = None
    try:
        with broker_from_env_or_local() as bootstrap:
            settings = settings.model_copy(update={"kafka_bootstrap_servers": bootstrap})
            asyncio.run(
                create_topics(bootstrap, settings.input_topics.values(), settings.topic_partitions)
            )
            worker = WorkerProcess(_worker_env(settings), out / "worker.log").start()
            say(f"worker started (log: {out / 'worker.log'})")
            finished = asyncio.run(_stream(settings, events, worker))
            code = worker.stop()
            worker = None
            if not finished:
                say(f"the worker did not finish (exit code {code}); see {out / 'worker.log'}")
                return 1
    except KeyboardInterrupt:
        say("\ninterrupted: stopping the worker and the broker")
        return 130
    finally:
        if worker is not None:
            worker.stop()
    elapsed = time.monotonic() - started
    portfolio = read_portfolio(settings)
    picture = write_picture(portfolio, out)
    print_summary(settings, portfolio, elapsed, len(events), personas, picture)
    return 0


def _worker_env(settings: Settings) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "HEALTHSCORE_DATA_DIR": str(settings.data_dir),
        "HEALTHSCORE_TOPIC_PREFIX": settings.topic_prefix,
        "HEALTHSCORE_APP_ID": settings.app_id,
        "HEALTHSCORE_PARTITIONS": str(settings.topic_partitions),
    }


async def _stream(settings: Settings, events: list[dict], worker: WorkerProcess) -> bool:
    """Produce the events while showing progress; True once the worker processed all."""
    live = Live()
    kinds = {settings.topic(k): k for k in ("scores", "alerts", "transitions", "dead-letters")}
    await create_topics(settings.kafka_bootstrap_servers, kinds, settings.topic_partitions)
    consumer = AIOKafkaConsumer(
        *kinds, bootstrap_servers=settings.kafka_bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    follow = asyncio.create_task(_follow(consumer, kinds, live))
    try:
        total = len(events)
        t0 = time.monotonic()

        def produced(n: int) -> None:
            rate = n / max(1e-9, time.monotonic() - t0)
            say_inline(f"producing {n:,}/{total:,} events {bar(n / total)} {rate:,.0f}/s")

        await produce_events(
            settings.kafka_bootstrap_servers, settings.input_topics, events, produced
        )
        say()
        return await _wait_for_worker(settings, total, worker, live)
    finally:
        follow.cancel()
        await consumer.stop()


async def _follow(consumer: AIOKafkaConsumer, kinds: dict[str, str], live: Live) -> None:
    while True:
        batch = await consumer.getmany(timeout_ms=200, max_records=20_000)
        for tp, records in batch.items():
            for record in records:
                live.on(kinds[tp.topic], record.value)


async def _wait_for_worker(
    settings: Settings, total: int, worker: WorkerProcess, live: Live, timeout: float = 900
) -> bool:
    t0 = time.monotonic()
    topics = list(settings.input_topics.values())
    done = last_done = 0
    last_t = t0
    rate = 0.0
    while time.monotonic() - t0 < timeout:
        if not worker.running:
            say()
            return False
        done, _ = await group_progress(settings.kafka_bootstrap_servers, settings.app_id, topics)
        now = time.monotonic()
        if now - last_t >= 1.0:
            rate = (
                0.7 * rate + 0.3 * (done - last_done) / (now - last_t)
                if rate
                else ((done - last_done) / (now - last_t))
            )
            last_done, last_t = done, now
        say_inline(
            f"scored {done:,}/{total:,} {bar(done / total)} {rate:,.0f} ev/s | "
            f"{len(live.quadrant):,} accounts: {live.counts()} | alerts {live.alerts:,}"
        )
        if done >= total:
            say()
            return True
        await asyncio.sleep(0.5)
    say()
    return False
