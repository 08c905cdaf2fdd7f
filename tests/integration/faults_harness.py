"""Helpers for the fault tests (issue 9): references, changelog and output readers.

Everything here talks to the real broker or runs the pure scoring core; nothing is mocked.

The reference for "every event reflected exactly once" is computed in this process by the
scoring core over the same events (`reference`). It is compared with three views of what
the workers produced:

* the state table's changelog topic (`<app_id>-account-state-changelog`): the last state
  per account, whose *facts* (`AccountState.facts_bytes()`) are byte-identical for any
  arrival order, so they must equal the reference byte for byte;
* the `scores` topic: the last message per account;
* ClickHouse `latest_score`, read with FINAL (and cross-checked with argMax).

The workers run with a scoring config that emits a score on every applied event
(`emit.health_change: 0`), so the last score of an account is the score of its final
state: with the default config an account's last *emitted* score may be older than its
state, and the comparison would not be defined.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

import scoring
from devtools.kafka_io import group_progress
from devtools.runner import WorkerProcess
from schemas.decode import decode_event
from schemas.errors import DecodeError

PROGRESS = re.compile(r"received=(\d+) applied=(\d+) duplicates=(\d+) dead_letters=(\d+)")
DEFAULT_CONFIG = Path(scoring.__file__).resolve().parent / "default_config.yaml"


def emit_every_step_config(directory: Path) -> Path:
    """The default scoring config with `emit.health_change: 0`: every applied event emits."""
    text = DEFAULT_CONFIG.read_text()
    changed = re.sub(r"(?m)^(\s+health_change:\s*)[0-9.]+", r"\g<1>0.0", text, count=1)
    assert changed != text, "default_config.yaml has no emit.health_change line"
    path = directory / "emit_every_step.yaml"
    path.write_text(changed)
    return path


@dataclass(frozen=True)
class Expected:
    """One account after every event was applied once, by the scoring core in-process."""

    applied: int
    facts: bytes
    health: float
    band: str
    state: scoring.AccountState | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Reference:
    accounts: dict[str, Expected]
    applied: int
    duplicates: int
    rejected: Counter[str]

    @property
    def total_applied(self) -> int:
        return sum(a.applied for a in self.accounts.values())


def reference(messages: Iterable[bytes], config_path: Path) -> Reference:
    """Apply every message once, in the order given, with the pure scoring core.

    Undecodable messages and too-late events are counted by reason (the worker dead-letters
    them); duplicates are counted. The churn model does not learn here (the worker's does),
    so churn risk is not part of the comparison; health and the facts do not depend on it.
    """
    config = scoring.load_config(config_path)
    model = scoring.default_churn_model(config)
    states: dict[str, scoring.AccountState] = {}
    applied: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    duplicates = 0
    for raw in messages:
        try:
            event = decode_event(raw)
        except DecodeError as exc:
            rejected[str(exc.reason.value)] += 1
            continue
        try:
            step = scoring.process(states.get(event.account_id), event, config, model)
        except scoring.TooLateError:
            rejected["too_late"] += 1
            continue
        if step.duplicate:
            duplicates += 1
            continue
        states[event.account_id] = step.state
        applied[event.account_id] += 1
    accounts = {}
    for account_id, state in states.items():
        record = scoring.score_state(state, config, model)
        accounts[account_id] = Expected(
            applied[account_id], state.facts_bytes(), record.health, str(record.band), state
        )
    return Reference(accounts, sum(applied.values()), duplicates, rejected)


def at_evaluation_times(
    ref: Reference, states: dict[str, scoring.AccountState], config_path: Path
) -> Reference:
    """The reference with each account re-evaluated at the time the worker's clock brought
    it to (docs/scoring.md, "The clock"): a tick moves an account's evaluation time
    (`Clock.max_ts`, part of its facts) and so its health, and nothing else of its facts.
    Only for a worker state evaluated later than the reference's last event, at a UTC
    midnight (a tick's time) no later than the newest event of the stream; any other
    state is compared with the reference as it is."""
    config = scoring.load_config(config_path)
    model = scoring.default_churn_model(config)
    newest = max(
        (e.state.clock.max_ts for e in ref.accounts.values() if e.state is not None),
        default=None,
    )
    accounts = dict(ref.accounts)
    for account_id, expected in ref.accounts.items():
        got, state = states.get(account_id), expected.state
        if got is None or state is None or newest is None:
            continue
        ts, before = got.clock.max_ts, state.clock.max_ts
        if ts is None or before is None or not before < ts <= newest or ts % 86400:
            continue
        ticked = scoring.tick(state, ts, config, model).state
        record = scoring.score_state(ticked, config, model)
        accounts[account_id] = replace(
            expected, facts=ticked.facts_bytes(), health=record.health,
            band=str(record.band), state=ticked,
        )  # fmt: skip
    return replace(ref, accounts=accounts)


async def _partitions(bootstrap: str, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if topic not in await admin.list_topics():
            return []
        described = await admin.describe_topics([topic])
        return sorted(p["partition"] for t in described for p in t.get("partitions", []))
    finally:
        await admin.close()


async def _read_all(bootstrap: str, topic: str, timeout: float) -> list[Any]:
    """Every record of `topic` from the beginning to its current end (all partitions)."""
    partitions = await _partitions(bootstrap, topic)
    if not partitions:
        return []
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        records: list[Any] = []
        while loop.time() < deadline:
            positions = [await consumer.position(tp) for tp in tps]
            if all(pos >= end[tp] for pos, tp in zip(positions, tps, strict=True)):
                return records
            batch = await consumer.getmany(timeout_ms=200, max_records=20_000)
            for part in batch.values():
                records.extend(
                    r for r in part if r.offset < end[TopicPartition(r.topic, r.partition)]
                )
        raise TimeoutError(f"could not read {topic} to its end within {timeout}s")
    finally:
        await consumer.stop()


def read_all(bootstrap: str, topic: str, timeout: float = 60) -> list[Any]:
    return asyncio.run(_read_all(bootstrap, topic, timeout))


def changelog_topic(app_id: str) -> str:
    return f"{app_id}-account-state-changelog"


def state_bytes(value: bytes) -> bytes:
    """The AccountState bytes in a table value. The streams layer frames them (with the
    input positions, maybe compressed: `unpack_value` of `streams.statepack`, earlier of
    `streams.pipeline`); a bare state starts with `{`."""
    if value.startswith(b"{"):
        return value
    import importlib

    for module in ("streams.statepack", "streams.pipeline"):
        try:
            unpack = importlib.import_module(module).unpack_value
        except (ImportError, AttributeError):
            continue
        return unpack(value)[1]  # type: ignore[no-any-return]
    raise AssertionError(f"unknown table value framing: {value[:16]!r}")


def changelog_states(bootstrap: str, app_id: str) -> dict[str, scoring.AccountState]:
    """The last state per account in the state table's changelog (what a restart recovers)."""
    last: dict[bytes, bytes] = {}
    for r in read_all(bootstrap, changelog_topic(app_id)):
        if r.value is not None:
            last[r.key] = r.value
    return {k.decode(): scoring.AccountState.from_bytes(state_bytes(v)) for k, v in last.items()}


@dataclass(frozen=True)
class ScoresTopic:
    latest: dict[str, dict[str, Any]]
    """the last score message per account, in offset order"""
    messages: int
    seen: dict[str, list[int]]
    """every events_applied value published per account"""

    def coverage(self, ref: Reference) -> tuple[int, int]:
        """(applied events whose score never reached the topic, scores published twice).

        With every step emitting, the account's n-th applied event publishes a score with
        events_applied == n, so 1..N must each appear once (twice = at-least-once output).
        """
        missing = repeated = 0
        for account_id, expected in ref.accounts.items():
            got = self.seen.get(account_id, [])
            missing += len(set(range(1, expected.applied + 1)) - set(got))
            repeated += len(got) - len(set(got))
        return missing, repeated


def read_scores(bootstrap: str, topic: str) -> ScoresTopic:
    records = read_all(bootstrap, topic)
    latest: dict[str, dict[str, Any]] = {}
    seen: dict[str, list[int]] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        value = orjson.loads(r.value)
        latest[value["account_id"]] = value
        seen.setdefault(value["account_id"], []).append(value["events_applied"])
    return ScoresTopic(latest, len(records), seen)


def committed(bootstrap: str, group: str, topics: list[str]) -> tuple[int, int]:
    return asyncio.run(group_progress(bootstrap, group, topics))


def wait_committed(
    bootstrap: str,
    group: str,
    topics: list[str],
    target: int,
    workers: Sequence[WorkerProcess],
    timeout: float,
) -> int:
    """Poll the group's committed offsets until they reach `target`; fail on a dead worker."""
    deadline = time.monotonic() + timeout
    done = 0
    while time.monotonic() < deadline:
        done, _ = committed(bootstrap, group, topics)
        if done >= target:
            return done
        for w in workers:
            assert w.running, f"worker died:\n{w.log_tail()}"
        time.sleep(0.25)
    for w in workers:
        w.dump_tasks()
    print("\n".join(f"worker log: {w.log_path}" for w in workers))
    tails = "\n---\n".join(w.log_tail(30) for w in workers)
    raise AssertionError(f"committed {done} of {target} after {timeout}s\n{tails}")


def counters(worker: WorkerProcess) -> tuple[int, int, int, int]:
    """The last (received, applied, duplicates, dead_letters) the worker logged."""
    found = PROGRESS.findall(worker.log_path.read_text(errors="replace"))
    return tuple(map(int, found[-1])) if found else (0, 0, 0, 0)  # type: ignore[return-value]


def wait_counters(worker: WorkerProcess, received: int, timeout: float = 15) -> tuple[int, ...]:
    """The worker logs its counters every 2 s: wait for the line that has seen `received`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c = counters(worker)
        if c[0] >= received:
            return c
        time.sleep(0.2)
    return counters(worker)


_CH_SCRIPT = r"""
import sys, orjson
from pathlib import Path
from streams.clickhouse import connect
from streams.settings import load_settings
s = load_settings(data_dir=Path(sys.argv[1]))
with connect(s) as ch:
    db = ch.database
    out = {
        "final": ch.query_dicts(
            f"SELECT account_id, events_applied, health, band FROM {db}.latest_score FINAL"),
        "argmax": ch.query_dicts(
            f"SELECT account_id, max(events_applied) AS n, "
            f"argMax(health, events_applied) AS h FROM {db}.latest_score "
            f"GROUP BY account_id"),
        "raw_rows": ch.query(f"SELECT count() FROM {db}.latest_score")[0][0],
        "history": ch.query_dicts(
            f"SELECT account_id, events_applied FROM {db}.score_history"),
        "dead_letters": ch.query(
            f"SELECT reason, count() FROM {db}.dead_letters FINAL GROUP BY reason"),
    }
out["argmax"] = [
    {"account_id": r["account_id"], "events_applied": r["n"], "health": r["h"]}
    for r in out["argmax"]
]
sys.stdout.buffer.write(orjson.dumps(out, default=str))
"""


def clickhouse_view(data_dir: Path) -> dict[str, Any]:
    """Read one worker's embedded ClickHouse in a child process (chDB: one dir per process).

    Only once that worker has stopped. Returns the latest_score rows read with FINAL and
    with argMax, the raw row count, score_history (account, events_applied) pairs and the
    dead letters per reason.
    """
    proc = subprocess.run(
        [sys.executable, "-c", _CH_SCRIPT, str(data_dir)],
        capture_output=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    return orjson.loads(proc.stdout)  # type: ignore[no-any-return]


def merge_latest(views: Iterable[dict[str, Any]], key: str = "final") -> dict[str, dict[str, Any]]:
    """latest_score rows of several workers' ClickHouse dirs: the highest events_applied wins,
    as ReplacingMergeTree(events_applied) would decide across one table."""
    merged: dict[str, dict[str, Any]] = {}
    for view in views:
        for row in view[key]:
            current = merged.get(row["account_id"])
            if current is None or row["events_applied"] > current["events_applied"]:
                merged[row["account_id"]] = row
    return merged


def mismatches(
    ref: Reference, got: dict[str, Any], applied_of: Any, health_of: Any, tol: float = 1e-3
) -> list[str]:
    """Accounts whose events_applied or health differ from the reference (human-readable)."""
    problems = []
    for account_id in sorted(set(ref.accounts) | set(got)):
        expected, actual = ref.accounts.get(account_id), got.get(account_id)
        if expected is None or actual is None:
            problems.append(f"{account_id}: expected {expected is not None}, got {actual}")
            continue
        n, h = applied_of(actual), health_of(actual)
        if n != expected.applied or abs(h - expected.health) > tol:
            problems.append(
                f"{account_id}: events_applied {n} (expected {expected.applied}), "
                f"health {h:.3f} (expected {expected.health:.3f})"
            )
    return problems
