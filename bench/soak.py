"""`make soak`: a long hostile-input run of one real worker on a local broker (issues 9, 22).

Produces a synthetic portfolio (>= 200,000 events by default) with 1% hostile messages
mixed in, each built for one dead-letter reason (`BAD_KINDS`): malformed JSON,
non-objects, oversized, wrong-typed fields, unknown types, events on the wrong topic,
wrong keys, missing fields, and what a buggy producer or a bad clock sends: a
`schema_version` of non-ASCII digits ("\u00b2.0"), a `ts` that overflows in UTC
("9999-12-31T23:00:00-12:00"), an event in 2099 (`from_future`), a key that is not
UTF-8 (`invalid_key`), account ids that look like another's (a zero-width space, a NUL,
a trailing space), and an event id sent again with another content
(`conflicting_duplicate`). Exact duplicates are sent right after their
original, as a producer retry would. One account gets an honest backfill: one event a
month over `BACKFILL_MONTHS` months, sent back to back, more monthly partitions than
ClickHouse takes in one insert; it must be scored and written, not dead-lettered.

It runs `healthscore worker` as a child process, samples its RSS every second, and checks:

* every good event applied (the worker's `applied=` counter equals the number of good
  events, `duplicates=` the number of duplicates, `dead_letters=` the number of bad ones,
  and `received=` all messages);
* every bad message dead-lettered with the reason it was built for, per reason exactly,
  both on the dead-letters topic and in ClickHouse's `dead_letters` table;
* nothing lost: every account with a good event has a score in ClickHouse, the backfill
  account has one score per month in `score_history`, and no row went to
  `dead_letter_rows` (rows ClickHouse refused);
* no crash: the worker process was alive at every sample and started once;
* RSS flat over time (first / last / max samples and the quarters' medians reported; the
  check fails if the last quarter's median is more than `--rss-growth` above the second
  quarter's).

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
from datetime import UTC, datetime, timedelta
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
    # issue 22: a producer with a bug or a bad clock
    "superscript_version": "invalid_field",  # "\u00b2.0" passes str.isdigit()
    "overflowing_ts": "invalid_field",  # past year 9999 once converted to UTC
    "from_future": "from_future",  # a client clock in 2099
    "invalid_key": "invalid_key",  # a key that is not UTF-8
    "lookalike_zero_width": "invalid_field",  # account ids that look like another's
    "lookalike_nul": "invalid_field",
    "lookalike_trailing_space": "invalid_field",
    # the same event id again right after its original, with another content (its ts one
    # second later, which the content fingerprint always tells apart)
    "conflicting_duplicate": "conflicting_duplicate",
}
BACKFILL_ACCOUNT = "acct-backfill"
BACKFILL_MONTHS = 101
"""An honest backfill: one `feature_used` a month from 2010-01 on, 101 monthly partitions
of the score, transition and alert tables, where ClickHouse takes at most 100 in one
insert (issue 22 item 2)."""


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
    if kind == "superscript_version":
        return topic, key, orjson.dumps({**e, "schema_version": "\u00b2.0"})
    if kind == "overflowing_ts":
        return topic, key, orjson.dumps({**e, "ts": "9999-12-31T23:00:00-12:00"})
    if kind == "from_future":
        future = FUTURE + timedelta(seconds=rng.randrange(300 * 86400))
        return topic, key, orjson.dumps({**e, "ts": future.isoformat()})
    if kind == "invalid_key":
        return topic, rng.choice([b"\xff", b"\xfe", b"acct-\xc3("]), orjson.dumps(e)
    if kind.startswith("lookalike_"):
        i = rng.randrange(1, len(event["account_id"]))
        account = {
            "lookalike_zero_width": event["account_id"][:i] + "\u200b" + event["account_id"][i:],
            "lookalike_nul": event["account_id"] + "\x00",
            "lookalike_trailing_space": event["account_id"] + " ",
        }[kind]
        return topic, account.encode(), orjson.dumps({**e, "account_id": account})
    if kind == "conflicting_duplicate":  # the original's id, one second later
        later = datetime.fromisoformat(event["ts"]) + timedelta(seconds=1)
        return topic, key, orjson.dumps({**event, "ts": later.isoformat()})
    raise ValueError(kind)


FUTURE = datetime(2099, 1, 1, tzinfo=UTC)
SENT_AFTER_THE_ORIGINAL = frozenset({"conflicting_duplicate"})


def backfill_events(months: int = BACKFILL_MONTHS) -> list[dict[str, Any]]:
    """`BACKFILL_ACCOUNT`'s history: one event on the first of each month from 2010-01."""
    return [
        {
            "event_id": f"backfill-{m:03d}",
            "account_id": BACKFILL_ACCOUNT,
            "ts": datetime(2010 + m // 12, m % 12 + 1, 1, tzinfo=UTC).isoformat(),
            "type": "feature_used",
            "user_id": "u1",
            "feature": "reports",
        }
        for m in range(months)
    ]


def hostile_stream(
    events: Iterable[dict[str, Any]],
    topics: dict[Family, str],
    bad_fraction: float = 0.01,
    seed: int = 1,
    backfill_months: int = BACKFILL_MONTHS,
) -> HostileStream:
    """Mix hostile messages into `events` (kept in order): per good event, with probability
    `bad_fraction`, either an exact duplicate right after it or one bad message built from
    it (with a fresh id, before it; a conflicting duplicate keeps its id and comes after).
    The kinds are dealt from a shuffled deck, so every kind is sent once there are as many
    bad messages as kinds. `backfill_months` events of `BACKFILL_ACCOUNT` are sent back to
    back at a random place among the others (none with 0)."""
    rng = random.Random(seed)
    out = HostileStream()
    events = list(events)
    backfill_at = rng.randrange(len(events) + 1) if backfill_months else -1
    deck: list[str] = []

    def good(event: dict[str, Any]) -> tuple[str, bytes | None, bytes]:
        topic = topics[FAMILY_BY_TYPE[event["type"]]]
        return topic, event["account_id"].encode(), orjson.dumps(event)

    def backfill() -> None:
        block = [good(b) for b in backfill_events(backfill_months)]
        out.messages += block
        out.accepted += block
        out.good += len(block)

    for i, event in enumerate(events):
        if i == backfill_at:
            backfill()
        message = good(event)
        after: list[tuple[str, bytes | None, bytes]] = []
        if rng.random() < bad_fraction:
            if not deck:
                deck = ["duplicate", *sorted(BAD_KINDS)]
                rng.shuffle(deck)
            choice = deck.pop()
            if choice == "duplicate":
                out.messages += [message, message]
                out.accepted += [message, message]
                out.good += 1
                out.duplicates += 1
                continue
            bad = _bad_message(choice, event, topics, rng)
            if choice in SENT_AFTER_THE_ORIGINAL:
                after.append(bad)
            else:
                out.messages.append(bad)
            out.bad[BAD_KINDS[choice]] += 1
            out.bad_kinds[choice] += 1
        out.messages.append(message)
        out.accepted.append(message)
        out.good += 1
        out.messages += after
    if backfill_at == len(events):
        backfill()
    return out


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
    """RSS of `pid` every `interval` seconds, and whether `alive()` held at every sample."""

    def __init__(self, pid: int, interval: float = 1.0, alive: Any = None) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.pid, self.interval = pid, interval
        self.alive = alive
        self.samples: list[tuple[float, int]] = []
        self.died_at: float | None = None
        """seconds from the start when `alive()` was first seen false, before `stop`"""
        self._stop_event = threading.Event()
        self.started = self._t0 = time.monotonic()

    def run(self) -> None:
        while not self._stop_event.is_set():
            if self.alive is not None and self.died_at is None and not self.alive():
                self.died_at = round(time.monotonic() - self._t0, 1)
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
    """first / last / max RSS, the quarters' medians, and whether the last quarter grew
    past the second quarter (the first holds the state's growth as accounts arrive)."""
    kbs = [kb for _, kb in samples]
    if len(kbs) < 8:
        return {"samples": len(kbs), "flat": None, "first_mb": None, "last_mb": None}
    q = len(kbs) // 4
    first = statistics.median(kbs[:q])
    second, last = statistics.median(kbs[q : 2 * q]), statistics.median(kbs[3 * q :])
    growth = (last - second) / second
    return {
        "samples": len(kbs),
        "first_mb": round(kbs[0] / 1024, 1),
        "last_mb": round(kbs[-1] / 1024, 1),
        "max_mb": round(max(kbs) / 1024, 1),
        "median_q1_mb": round(first / 1024, 1),
        "median_q2_mb": round(second / 1024, 1),
        "median_q4_mb": round(last / 1024, 1),
        "growth_q1_to_q4": round((last - first) / first, 4),
        "growth_q2_to_q4": round(growth, 4),
        "flat": growth <= growth_limit,
    }


def clickhouse_view(settings: Any, accounts: set[str]) -> dict[str, Any]:
    """What the worker wrote to ClickHouse (open it only once the worker has stopped):
    dead letters by reason, rows refused for good, the good accounts without a score,
    and the backfill account's scores and their months."""
    from streams.clickhouse import connect

    with connect(settings) as ch:
        db = ch.database
        reasons = dict(
            ch.query(f"SELECT reason, count() FROM {db}.dead_letters FINAL GROUP BY reason")
        )
        refused = ch.query(f"SELECT count() FROM {db}.dead_letter_rows")[0][0]
        scored = {r[0] for r in ch.query(f"SELECT DISTINCT account_id FROM {db}.latest_score")}
        rows, months = ch.query(
            f"SELECT count(), uniqExact(toYYYYMM(ts)) FROM {db}.score_history FINAL "
            f"WHERE account_id = '{BACKFILL_ACCOUNT}'"
        )[0]
    return {
        "dead_letter_reasons": {str(k): int(v) for k, v in reasons.items()},
        "refused_rows": int(refused),
        "accounts_scored": len(scored & accounts),
        "accounts_without_score": sorted(accounts - scored)[:20],
        "unknown_accounts_scored": sorted(scored - accounts)[:20],
        "backfill_scores": int(rows),
        "backfill_months": int(months),
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
    from devtools.demo.portfolio import generate
    from devtools.kafka_io import create_topics, group_progress, read_topic, send_messages
    from devtools.runner import WorkerProcess
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
    sampler = RssSampler(worker.proc.pid, alive=lambda: worker.running)
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
        exit_code = worker.stop()
    starts = worker.log_path.read_text(errors="replace").count("Worker ready")
    accounts = {key.decode() for _t, key, _v in stream.accepted if key is not None}
    written = clickhouse_view(settings, accounts)
    reasons = Counter(orjson.loads(v)["reason"] for _, v in letters)
    received, applied, duplicates, dead = counts
    # from the moment the worker is ready: before, it is still importing and starting
    rss = rss_summary([x for x in sampler.samples if x[0] >= ready_at], rss_growth)
    checks = {
        "worker ready": ready,
        "worker alive until the end": running,
        "worker alive at every sample": sampler.died_at is None,
        "worker started once": starts == 1,
        "all messages received": received == stream.total,
        "all good events applied": applied == stream.good,
        "duplicates counted": duplicates == stream.duplicates,
        "all bad dead-lettered": dead == bad_total,
        "dead-letter reasons as built": reasons == stream.bad,
        "ClickHouse dead letters as built": Counter(written["dead_letter_reasons"]) == stream.bad,
        "every good account scored in ClickHouse": (
            written["accounts_scored"] == len(accounts) and not written["unknown_accounts_scored"]
        ),
        "backfill scored, one score a month": (
            written["backfill_scores"] == written["backfill_months"] == BACKFILL_MONTHS
        ),
        "no row refused by ClickHouse": written["refused_rows"] == 0,
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
        "clickhouse": written,
        "accounts_with_good_events": len(accounts),
        "worker_starts": starts,
        "worker_died_at": sampler.died_at,
        "worker_exit_code": exit_code,
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
    ch = result["clickhouse"]
    rows += [
        (
            "RSS median q1 / q2 / q4",
            f"{rss.get('median_q1_mb')} / {rss.get('median_q2_mb')} / {rss.get('median_q4_mb')} "
            f"MB (q1->q4 {rss.get('growth_q1_to_q4')})",
        ),
        (
            "worker",
            f"started {result['worker_starts']}x, died at {result['worker_died_at']} (None: "
            f"alive throughout), exit code {result['worker_exit_code']} after SIGTERM",
        ),
        (
            "accounts scored (ClickHouse)",
            f"{ch['accounts_scored']:,} of {result['accounts_with_good_events']:,} "
            f"(missing: {ch['accounts_without_score'] or 'none'})",
        ),
        (
            f"backfill {BACKFILL_ACCOUNT}",
            f"{ch['backfill_scores']} scores over {ch['backfill_months']} months "
            f"(sent {BACKFILL_MONTHS})",
        ),
        ("rows refused by ClickHouse", f"{ch['refused_rows']}"),
    ]
    rows += [(f"kind {k}", f"sent {v}") for k, v in sorted(result["bad_kinds_sent"].items())]
    rows += [
        (
            f"reason {k}",
            f"sent {v} / topic {result['dead_letter_reasons'].get(k, 0)} / ClickHouse "
            f"{ch['dead_letter_reasons'].get(k, 0)}",
        )
        for k, v in sorted(result["bad_sent"].items())
    ]
    rows += [
        (f"reason {k} (not sent)", f"topic {result['dead_letter_reasons'].get(k, 0)} / "
         f"ClickHouse {ch['dead_letter_reasons'].get(k, 0)}")
        for k in sorted({*result["dead_letter_reasons"], *ch["dead_letter_reasons"]})
        if k not in result["bad_sent"]
    ]  # fmt: skip
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

    from devtools.local_kafka import broker_from_env_or_local

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
