"""`make soak`: a long hostile-input run of one real worker on a local broker (issue 9).

Produces a synthetic portfolio (>= 200,000 events by default) with 1% hostile messages
mixed in (malformed JSON, non-objects, oversized, wrong-typed fields, unknown types,
events on the wrong topic, wrong keys, and exact duplicates sent right after their
original, as a producer retry would), runs `healthscore worker` as a child process,
samples its RSS every second, and checks:

* every good event applied (the worker's `applied=` counter equals the number of good
  events, `duplicates=` the number of duplicates, `dead_letters=` the number of bad ones,
  and `received=` all messages);
* every bad message dead-lettered with the reason it was built for (read back from the
  dead-letters topic);
* RSS flat over time (first / last / max samples reported; the check fails if the last
  quarter's median is more than `--rss-growth` above the second quarter's).

Prints a result table and writes JSON to bench/results/soak-<time>.json. Exit status 1
if a check fails. `python -m bench.soak --help` for the knobs; `tests/integration/
test_faults.py` runs the same check on ~5,000 events in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from schemas.decode import MAX_MESSAGE_BYTES
from schemas.events import FAMILY_BY_TYPE, Family

RESULTS = Path(__file__).resolve().parent / "results"
# the worker's progress line (streams.agents)
PROGRESS = re.compile(r"received=(\d+) applied=(\d+) duplicates=(\d+) dead_letters=(\d+)")

# What each kind of hostile message is, and the dead-letter reason the worker must give it.
BAD_KINDS = {
    "malformed_json": "invalid_json",
    "not_an_object": "not_an_object",
    "oversized": "too_large",
    "wrong_typed_field": "invalid_field",
    "unknown_type": "unknown_type",
    "wrong_topic": "wrong_topic",
    "wrong_key": "key_mismatch",
    "missing_field": "missing_field",
}


@dataclass
class HostileStream:
    """(topic, key, value) messages, and what the worker must make of them."""

    messages: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)
    good: int = 0
    duplicates: int = 0
    bad: Counter[str] = field(default_factory=Counter)
    """expected dead letters by reason"""
    bad_kinds: Counter[str] = field(default_factory=Counter)
    accepted: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)
    """the good events and their duplicates, in the order sent"""

    @property
    def total(self) -> int:
        return len(self.messages)


def _bad_message(
    kind: str, event: dict[str, Any], topics: dict[Family, str], rng: random.Random
) -> tuple[str, bytes | None, bytes]:
    family = FAMILY_BY_TYPE[event["type"]]
    topic, key = topics[family], event["account_id"].encode()
    bad_id = f"bad-{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}"
    e = {**event, "event_id": bad_id}
    if kind == "malformed_json":
        return topic, key, orjson.dumps(e)[: rng.randint(1, 40)] + b"\x00{"
    if kind == "not_an_object":
        return topic, key, rng.choice([b"[1,2,3]", b'"just a string"', b"42", b"null"])
    if kind == "oversized":
        return topic, key, orjson.dumps({**e, "pad": "x" * (MAX_MESSAGE_BYTES + 100)})
    if kind == "wrong_typed_field":
        return topic, key, orjson.dumps({**e, "ts": rng.choice(["yesterday", [], {"a": 1}, True])})
    if kind == "unknown_type":
        return topic, key, orjson.dumps({**e, "type": "teleported"})
    if kind == "wrong_topic":
        other = next(f for f in Family if f != family)
        return topics[other], key, orjson.dumps(e)
    if kind == "wrong_key":
        return topic, b"not-" + key, orjson.dumps(e)
    if kind == "missing_field":
        return topic, key, orjson.dumps({k: v for k, v in e.items() if k != "account_id"})
    raise ValueError(kind)


def hostile_stream(
    events: Iterable[dict[str, Any]],
    topics: dict[Family, str],
    bad_fraction: float = 0.01,
    seed: int = 1,
) -> HostileStream:
    """Mix hostile messages into `events` (kept in order): per good event, with probability
    `bad_fraction`, either an exact duplicate right after it or one bad message of a
    random kind (built from that event, with a fresh id) before it."""
    rng = random.Random(seed)
    out = HostileStream()
    kinds = sorted(BAD_KINDS)
    for event in events:
        good = (topics[FAMILY_BY_TYPE[event["type"]]], event["account_id"].encode())
        value = orjson.dumps(event)
        if rng.random() < bad_fraction:
            choice = rng.choice(["duplicate", *kinds])
            if choice == "duplicate":
                out.messages += [(*good, value), (*good, value)]
                out.accepted += [(*good, value), (*good, value)]
                out.good += 1
                out.duplicates += 1
                continue
            out.messages.append(_bad_message(choice, event, topics, rng))
            out.bad[BAD_KINDS[choice]] += 1
            out.bad_kinds[choice] += 1
        out.messages.append((*good, value))
        out.accepted.append((*good, value))
        out.good += 1
    return out


async def send_messages(
    bootstrap: str, messages: list[tuple[str, bytes | None, bytes]], rate: float = 0
) -> None:
    """Send in order; with `rate` > 0, at most that many messages per second."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=5,
        max_batch_size=256 * 1024,
        max_request_size=1024 * 1024,
        acks="all",
    )
    await producer.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        for i, (topic, key, value) in enumerate(messages):
            await producer.send(topic, value, key=key)
            if rate > 0 and i % 500 == 499:
                ahead = (i + 1) / rate - (loop.time() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        await producer.flush()
    finally:
        await producer.stop()


def rss_kb(pid: int) -> int | None:
    """Resident set size of `pid` and its children (the worker runs as one process)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class RssSampler(threading.Thread):
    def __init__(self, pid: int, interval: float = 1.0) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, int]] = []
        self._stop_event = threading.Event()
        self.started = self._t0 = time.monotonic()

    def run(self) -> None:
        while not self._stop_event.is_set():
            kb = rss_kb(self.pid)
            if kb is not None:
                self.samples.append((round(time.monotonic() - self._t0, 1), kb))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(5)


def _wait_ready(worker: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and worker.running:
        if "Worker ready" in worker.log_path.read_text(errors="replace"):
            return True
        time.sleep(0.2)
    return False


def rss_summary(samples: list[tuple[float, int]], growth_limit: float) -> dict[str, Any]:
    """first / last / max RSS, and whether the last quarter grew past the second quarter."""
    kbs = [kb for _, kb in samples]
    if len(kbs) < 8:
        return {"samples": len(kbs), "flat": None, "first_mb": None, "last_mb": None}
    q = len(kbs) // 4
    second, last = statistics.median(kbs[q : 2 * q]), statistics.median(kbs[3 * q :])
    growth = (last - second) / second
    return {
        "samples": len(kbs),
        "first_mb": round(kbs[0] / 1024, 1),
        "last_mb": round(kbs[-1] / 1024, 1),
        "max_mb": round(max(kbs) / 1024, 1),
        "median_q2_mb": round(second / 1024, 1),
        "median_q4_mb": round(last / 1024, 1),
        "growth_q2_to_q4": round(growth, 4),
        "flat": growth <= growth_limit,
    }


def run_soak(
    bootstrap: str,
    work_dir: Path,
    accounts: int,
    days: int,
    seed: int,
    bad_fraction: float,
    timeout: float,
    rss_growth: float = 0.10,
    rate: float = 0,
    log: Any = print,
) -> dict[str, Any]:
    """One soak run on the broker at `bootstrap`; returns the result (see module doc)."""
    from streams.demo.portfolio import generate
    from streams.kafka_io import create_topics, group_progress, read_topic
    from streams.runner import WorkerProcess
    from streams.settings import load_settings

    run = uuid.uuid4().hex[:8]
    prefix, app_id = f"soak{run}", f"hs-soak-{run}"
    settings = load_settings(
        kafka_bootstrap_servers=bootstrap, data_dir=work_dir, topic_prefix=prefix, app_id=app_id
    )
    topics = settings.input_topics
    asyncio.run(create_topics(bootstrap, list(topics.values()), settings.topic_partitions))
    t0 = time.monotonic()
    stream = hostile_stream(generate(accounts, days, seed), topics, bad_fraction, seed)
    log(
        f"stream: {stream.total:,} messages = {stream.good:,} good events, "
        f"{stream.duplicates:,} duplicates, {sum(stream.bad.values()):,} bad "
        f"({dict(stream.bad_kinds)}) in {time.monotonic() - t0:.1f} s"
    )
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "HEALTHSCORE_DATA_DIR": str(work_dir),
        "HEALTHSCORE_TOPIC_PREFIX": prefix,
        "HEALTHSCORE_APP_ID": app_id,
        "HEALTHSCORE_PARTITIONS": str(settings.topic_partitions),
    }
    worker = WorkerProcess(env, work_dir / "worker.log").start()
    assert worker.proc is not None
    sampler = RssSampler(worker.proc.pid)
    sampler.start()
    try:
        ready = _wait_ready(worker, 90)
        ready_at = time.monotonic() - sampler.started
        t_produce = time.monotonic()
        asyncio.run(send_messages(bootstrap, stream.messages, rate))
        produced_s = time.monotonic() - t_produce
        log(f"produced {stream.total:,} messages in {produced_s:.1f} s")
        deadline = time.monotonic() + timeout
        names, done, processed_s, lag_at_processed = list(topics.values()), 0, None, None
        while time.monotonic() < deadline and worker.running:
            done, _ = asyncio.run(group_progress(bootstrap, app_id, names))
            if processed_s is None:  # the worker's own count (logged every 2 s)
                found = PROGRESS.findall(worker.log_path.read_text(errors="replace"))
                if found and int(found[-1][0]) >= stream.total:
                    processed_s = time.monotonic() - t_produce
                    lag_at_processed = stream.total - done
                    log(f"worker processed all {stream.total:,} in {processed_s:.1f} s; "
                        f"committed {done:,} then")  # fmt: skip
            if done >= stream.total:
                break
            time.sleep(1.0)
        drained_s = time.monotonic() - t_produce
        log(f"worker committed {done:,}/{stream.total:,} in {drained_s:.1f} s after produce start")
        counts = (0, 0, 0, 0)
        for _ in range(50):  # the progress line comes every 2 s
            found = PROGRESS.findall(worker.log_path.read_text(errors="replace"))
            counts = tuple(map(int, found[-1])) if found else counts
            if counts[0] >= stream.total:
                break
            time.sleep(0.2)
        running = worker.running
        bad_total = sum(stream.bad.values())
        letters = asyncio.run(
            read_topic(bootstrap, settings.topic("dead-letters"), lambda m: len(m) >= bad_total, 60)
        )
    finally:
        sampler.stop()
        worker.stop()
    reasons = Counter(orjson.loads(v)["reason"] for _, v in letters)
    received, applied, duplicates, dead = counts
    # from the moment the worker is ready: before, it is still importing and starting
    rss = rss_summary([x for x in sampler.samples if x[0] >= ready_at], rss_growth)
    checks = {
        "worker ready": ready,
        "worker alive until the end": running,
        "all messages received": received == stream.total,
        "all good events applied": applied == stream.good,
        "duplicates counted": duplicates == stream.duplicates,
        "all bad dead-lettered": dead == bad_total,
        "dead-letter reasons as built": reasons == stream.bad,
        "RSS flat": bool(rss["flat"]),
    }
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "accounts": accounts,
        "days": days,
        "seed": seed,
        "bad_fraction": bad_fraction,
        "messages": stream.total,
        "good_events": stream.good,
        "duplicates_sent": stream.duplicates,
        "bad_sent": dict(stream.bad),
        "bad_kinds_sent": dict(stream.bad_kinds),
        "worker": {
            "received": received,
            "applied": applied,
            "duplicates": duplicates,
            "dead_letters": dead,
        },
        "dead_letter_reasons": dict(reasons),
        "rate_limit": rate,
        "produce_seconds": round(produced_s, 1),
        "processed_seconds": round(processed_s, 1) if processed_s is not None else None,
        "uncommitted_when_processed": lag_at_processed,
        "drain_seconds": round(drained_s, 1),
        "events_per_second": round(stream.total / drained_s) if drained_s else None,
        "rss": rss,
        "rss_samples_kb": sampler.samples,
        "checks": checks,
        "ok": all(checks.values()),
        "worker_log": str(worker.log_path),
        "accepted_messages": stream.accepted,
        "app_id": app_id,
        "topic_prefix": prefix,
    }


def print_table(result: dict[str, Any]) -> None:
    w = result["worker"]
    rss = result["rss"]
    rows = [
        ("messages sent", f"{result['messages']:,}"),
        ("good events / applied", f"{result['good_events']:,} / {w['applied']:,}"),
        ("duplicates sent / counted", f"{result['duplicates_sent']:,} / {w['duplicates']:,}"),
        (
            "bad sent / dead-lettered",
            f"{sum(result['bad_sent'].values()):,} / {w['dead_letters']:,}",
        ),
        ("received", f"{w['received']:,}"),
        ("send rate limit", f"{result['rate_limit']:,.0f} msg/s (0 = none)"),
        ("produce time", f"{result['produce_seconds']} s"),
        (
            "all processed / committed",
            f"{result['processed_seconds']} s / {result['drain_seconds']} s after the first "
            f"send ({result['uncommitted_when_processed'] or 0:,} not yet committed when "
            "processed)",
        ),
        ("throughput", f"{result['events_per_second']:,} msg/s (sent to committed)"),
        (
            "RSS first / last / max",
            f"{rss.get('first_mb')} / {rss.get('last_mb')} / {rss.get('max_mb')} MB "
            f"({rss['samples']} samples, q2->q4 growth {rss.get('growth_q2_to_q4')})",
        ),
    ]
    rows += [(f"reason {k}", f"sent {v} / got {result['dead_letter_reasons'].get(k, 0)}")
             for k, v in sorted(result["bad_sent"].items())]  # fmt: skip
    rows += [(f"check: {k}", "ok" if v else "FAILED") for k, v in result["checks"].items()]
    width = max(len(k) for k, _ in rows)
    print()
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    print(f"\n  {'PASS' if result['ok'] else 'FAIL'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--accounts", type=int, default=2000, help="accounts (default 2000)")
    parser.add_argument("--days", type=int, default=40, help="days (default 40: ~210k events)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--bad-fraction", type=float, default=0.01, help="default 0.01 (1%%)")
    parser.add_argument(
        "--rate", type=float, default=3000, help="messages/s to send (3000; 0 = all at once)"
    )
    parser.add_argument("--timeout", type=float, default=900, help="drain timeout, s")
    parser.add_argument(
        "--rss-growth", type=float, default=0.10, help="allowed RSS growth q2->q4 (0.10)"
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON file (bench/results/...)")
    args = parser.parse_args(argv)

    from streams.infra.local_kafka import broker_from_env_or_local

    work_dir = Path(tempfile.mkdtemp(prefix="healthscore-soak-"))
    print(f"soak: work dir {work_dir}")
    with broker_from_env_or_local() as bootstrap:
        result = run_soak(
            bootstrap, work_dir, args.accounts, args.days, args.seed, args.bad_fraction,
            args.timeout, args.rss_growth, args.rate,
        )  # fmt: skip
    print_table(result)
    out = args.out or RESULTS / f"soak-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result.pop("accepted_messages", None)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"  wrote {out}")
    if result["ok"]:
        shutil.rmtree(work_dir, ignore_errors=True)
    else:
        print(f"  kept the worker log and data in {work_dir}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
