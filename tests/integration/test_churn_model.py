"""Issue 17/22 on the real broker: one churn model for the deployment, durable, pinnable.

Real `healthscore worker` processes learn from a portfolio with cancellations and survivals
(a scoring config with a 14-day horizon, so outcomes are known within the data's 40 days,
and a refit, so a model version, every 20 learnable examples). Then probe accounts, new
ones spread over every partition, are scored and their scores must name the model version
the deployment published (the `current` record of the churn-models topic).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka.partitioner import murmur2

import scoring
from devtools.demo.portfolio import generate
from devtools.kafka_io import group_progress, produce_events
from devtools.runner import WorkerProcess, wait_until
from streams.churn_model import (
    CHECKPOINT,
    CURRENT,
    TRACK,
    VERSION_PREFIX,
    decode_checkpoint,
    read_models,
)
from tests.integration.faults_harness import DEFAULT_CONFIG, counters, wait_committed
from tests.integration.harness import Pipeline

pytestmark = pytest.mark.integration

ACCOUNTS, DAYS, SEED, PARTITIONS = 100, 40, 5, 4
PROBE_ACCOUNTS = 2 * PARTITIONS
START = datetime(2026, 1, 1, tzinfo=UTC)


def fast_learning_config(directory: Path) -> Path:
    """Every applied event emits a score; outcomes known after 14 days; a refit per 20."""
    text = DEFAULT_CONFIG.read_text()
    for key, value in (
        ("health_change", "0.0"),
        ("horizon_days", "14"),
        ("snapshot_interval_days", "2"),
        ("refit_every", "20"),
    ):
        text, n = re.subn(rf"(?m)^(\s+{key}:\s*)[0-9.]+", rf"\g<1>{value}", text, count=1)
        assert n == 1, key
    path = directory / "fast_learning.yaml"
    path.write_text(text)
    return path


def _pipeline(bootstrap: str, tmp_path: Path) -> Pipeline:
    config = fast_learning_config(tmp_path)
    return Pipeline.create(
        bootstrap,
        tmp_path / "data",
        partitions=PARTITIONS,
        HEALTHSCORE_SCORING_CONFIG=str(config),
        HEALTHSCORE_CHURN_MIN_PER_CLASS="5",
        HEALTHSCORE_COMMIT_INTERVAL="0.5",
        # the versions expected are those of the events' examples alone: clock ticks label
        # examples of their own, on each partition's event time
        HEALTHSCORE_CLOCK="false",
    )


def _ready(worker: WorkerProcess) -> bool:
    return "Worker ready" in worker.log_path.read_text(errors="replace")


def _start(workers: list[WorkerProcess]) -> None:
    for w in workers:
        w.start()
    assert wait_until(lambda: all(_ready(w) or not w.running for w in workers), 90)
    for w in workers:
        assert w.running and _ready(w), w.log_tail()


def _produce(pipeline: Pipeline, events: list[dict[str, Any]]) -> None:
    asyncio.run(produce_events(pipeline.bootstrap, pipeline.settings.input_topics, events))


def _models(pipeline: Pipeline) -> dict[bytes, bytes]:
    return asyncio.run(read_models(pipeline.settings, pipeline.settings.topic("churn-models")))


def _current_of(models: dict[bytes, bytes]) -> scoring.ChurnModel | None:
    value = models.get(CURRENT)
    return None if value is None else scoring.ChurnModel.from_bytes(value)


SLICE_DAYS = 2


def _time_slices(events: list[dict[str, Any]], days: int) -> list[list[dict[str, Any]]]:
    """The events in event-time order, cut every `days` days from the first."""
    ordered = sorted(events, key=lambda e: datetime.fromisoformat(e["ts"]))
    first = datetime.fromisoformat(ordered[0]["ts"])
    slices: dict[int, list[dict[str, Any]]] = {}
    for e in ordered:
        slices.setdefault((datetime.fromisoformat(e["ts"]) - first).days // days, []).append(e)
    return [slices[k] for k in sorted(slices)]


def _learn(
    pipeline: Pipeline,
    workers: list[WorkerProcess],
    events: list[dict[str, Any]] | None = None,
    total: int | None = None,
    beyond: int = 0,
) -> scoring.ChurnModel:
    """Produce the portfolio (or `events`), wait until `total` input records are committed
    and the learner has read every example on its topic (its checkpoint says); returns the
    newest published model (one that learned more than `beyond` examples)."""
    if events is None:
        events = list(generate(accounts=ACCOUNTS, days=DAYS, seed=SEED, start=START))
    topics = list(pipeline.settings.input_topics.values())
    target = total if total is not None else len(events)
    # In slices of event time, each committed before the next is sent: a worker reads the
    # four family topics at their own pace, and an account's snapshots (so its examples)
    # are taken only once its subscription has been read, so one portfolio sent at once
    # yielded anywhere from 39 to 260 examples, and sometimes too few for two refits.
    done = target - len(events)
    for piece in _time_slices(events, SLICE_DAYS):
        _produce(pipeline, piece)
        done += len(piece)
        wait_committed(pipeline.bootstrap, pipeline.settings.app_id, topics, done, workers, 150)
    examples_topic = pipeline.settings.topic("churn-examples")
    deadline = time.monotonic() + 120
    read, end = -1, 0
    while time.monotonic() < deadline:
        # the examples the input caused are on the topic before its offsets are committed;
        # the learner has settled when its checkpoint has read them all
        _, end = asyncio.run(group_progress(pipeline.bootstrap, "-", [examples_topic]))
        models = _models(pipeline)
        read = decode_checkpoint(models[CHECKPOINT])[1] if CHECKPOINT in models else -1
        model = _current_of(models)
        if read >= end > 0 and model is not None and model.updates > beyond:
            return model
        time.sleep(0.5)
    raise AssertionError(
        f"the learner did not read the examples: checkpoint at {read} of {end}\n"
        + workers[0].log_tail()
    )


def _probe_events(tag: str, day: int) -> tuple[list[str], list[dict[str, Any]]]:
    """Two new accounts per input partition, each started and using a feature."""
    accounts: list[str] = []
    i = 0
    while len(accounts) < PROBE_ACCOUNTS:
        name = f"probe-{tag}-{i}"
        i += 1
        part = (murmur2(name.encode()) & 0x7FFFFFFF) % PARTITIONS
        if sum(1 for a in accounts if (murmur2(a.encode()) & 0x7FFFFFFF) % PARTITIONS == part) < 2:
            accounts.append(name)
    ts = START + timedelta(days=day)
    events = []
    for a in accounts:
        events.append({"event_id": f"{a}-1", "account_id": a, "ts": ts.isoformat(),
                       "type": "subscription_started", "schema_version": "1.0", "plan": "pro",
                       "mrr": 500.0, "seats": 10, "segment": "mid_market"})  # fmt: skip
        events.append({"event_id": f"{a}-2", "account_id": a,
                       "ts": (ts + timedelta(hours=1)).isoformat(), "type": "feature_used",
                       "schema_version": "1.0", "user_id": "u1", "feature": "api",
                       "quantity": 3.0})  # fmt: skip
    return accounts, events


def _probe_versions(pipeline: Pipeline, tag: str, day: int) -> dict[str, str]:
    """Score new probe accounts; the model version of each one's last score."""
    accounts, events = _probe_events(tag, day)
    _produce(pipeline, events)

    def done(scores: list[dict[str, Any]]) -> bool:
        return {s["account_id"] for s in scores if s["events_applied"] == 2} >= set(accounts)

    scores = pipeline.read_output("scores", done, timeout=60)
    last = {s["account_id"]: s for s in scores if s["account_id"] in accounts}
    assert set(last) == set(accounts), f"probe scores missing: {set(accounts) - set(last)}"
    return {a: s["model_version"] for a, s in last.items()}


def _group_workers(pipeline: Pipeline, tmp_path: Path, names: str) -> list[WorkerProcess]:
    dirs = [tmp_path / f"data-{name}" for name in names]
    return [
        WorkerProcess({**pipeline.env, "HEALTHSCORE_DATA_DIR": str(d)}, d / "worker.log")
        for d in dirs
    ]


def _owns_learner(worker: WorkerProcess) -> bool:
    """Whether the worker owns the learner now (a rebalance may have moved it since)."""
    text = worker.log_path.read_text(errors="replace")
    owns, handed = text.rfind("churn learner: this worker owns it"), text.rfind("handed over")
    return owns > handed


def _renamed(events: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """The same portfolio as other accounts (new account and event ids)."""
    return [
        {**e, "account_id": prefix + e["account_id"], "event_id": prefix + e["event_id"]}
        for e in events
    ]


def test_two_workers_in_one_group_score_with_the_same_published_model_version(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Then the worker that owns the learner is killed: the other takes the learner over
    from its checkpoint and goes on publishing versions, which scores use."""
    pipeline = _pipeline(kafka_bootstrap, tmp_path)
    workers = _group_workers(pipeline, tmp_path, "ab")
    try:
        _start(workers)
        model = _learn(pipeline, workers)
        applied = [counters(w)[1] for w in workers]
        assert all(n > 0 for n in applied), f"the group did not split the work: {applied}"
        versions = _probe_versions(pipeline, "two", DAYS + 1)
        owners = [w for w in workers if _owns_learner(w)]
        assert len(owners) == 1, "exactly one worker of the group must own the learner"
        owner = owners[0]
        survivor = next(w for w in workers if w is not owner)
        owner.kill()
        more = _renamed(list(generate(accounts=ACCOUNTS, days=DAYS, seed=SEED, start=START)), "b-")
        total = 2 * len(more) + 2 * PROBE_ACCOUNTS  # the two portfolios and the probes
        later = _learn(pipeline, [survivor], more, total=total, beyond=model.updates)
        took_over = _owns_learner(survivor)
        after = _probe_versions(pipeline, "after", DAYS + 2)
    finally:
        for w in workers:
            w.stop()
    default = scoring.default_churn_model(scoring.load_config(fast_learning_config(tmp_path)))
    print(f"\ntwo workers: applied {applied}; published {model.version} after "
          f"{model.updates} examples; probe versions {sorted(set(versions.values()))}; after "
          f"the owner's kill: {later.version} after {later.updates}")  # fmt: skip
    assert model.version != default.version and model.updates > 0
    assert set(versions.values()) == {model.version}, versions
    assert took_over, survivor.log_tail()
    assert later.updates > model.updates
    assert set(after.values()) == {later.version}, after


@pytest.fixture(scope="module")
def learned(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One worker learns the portfolio, is killed with SIGKILL, and restarts."""
    tmp_path = tmp_path_factory.mktemp("churn-model")
    pipeline = _pipeline(kafka_bootstrap, tmp_path)
    worker = pipeline.worker("first")
    try:
        _start([worker])
        model = _learn(pipeline, [worker])
        worker.kill()
        restarted = pipeline.worker("restarted")
        _start([restarted])
        versions = _probe_versions(pipeline, "restart", DAYS + 1)
        assert restarted.stop() == 0, restarted.log_tail()
    finally:
        worker.kill()
    models = _models(pipeline)
    return {"pipeline": pipeline, "model": model, "versions": versions, "models": models}


def test_a_worker_killed_and_restarted_scores_with_the_newest_model_not_the_defaults(
    learned: dict[str, Any],
) -> None:
    model, versions = learned["model"], learned["versions"]
    assert model.updates > 0 and not model.version.endswith("+m0")
    assert set(versions.values()) == {model.version}, versions
    published = {k for k in learned["models"] if k.startswith(VERSION_PREFIX)}
    assert len(published) >= 2 and CHECKPOINT in learned["models"]


_BOARD_SCRIPT = r"""
import json, sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
import orjson
from streams.clickhouse import connect
from dashboards.build.boards import BOARDS
from dashboards.build.generate import ROOT
from dashboards.build.macros import QueryContext, expand
from streams.settings import load_settings

settings = load_settings(data_dir=Path(sys.argv[1]))
dashboard = json.loads((ROOT / "boards" / "churn-risk.json").read_text())
now = datetime.now(UTC)
ctx = QueryContext.for_dashboard(dashboard, now - timedelta(days=400), now, timedelta(hours=1),
                                 {"database": [settings.clickhouse_database], "segment": None,
                                  "tier": None, "account": None})
out = {"panels": {}}
with connect(settings) as ch:
    db = ch.database
    out["rows"] = ch.query_dicts(
        f"SELECT model_version, examples, positives, auc, auc_previous, auc_fell "
        f"FROM {db}.churn_track_record FINAL ORDER BY model_version")
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            sql = expand(target["rawSql"], ctx)
            if "churn_track_record" in sql:
                out["panels"][f"{panel['title']} [{target['refId']}]"] = ch.query_dicts(sql)
sys.stdout.buffer.write(orjson.dumps(out, default=str))
"""


def test_the_worker_writes_the_track_record_and_the_churn_board_returns_it(
    learned: dict[str, Any],
) -> None:
    pipeline: Pipeline = learned["pipeline"]
    proc = subprocess.run(
        [sys.executable, "-c", _BOARD_SCRIPT, str(pipeline.data_dir)],
        capture_output=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    out = orjson.loads(proc.stdout)
    rows = out["rows"]
    assert rows, "churn_track_record is empty"
    assert sum(r["examples"] for r in rows) > 0 and any(r["auc"] is not None for r in rows)
    # the same record the learner published for `healthscore model`
    track = orjson.loads(learned["models"][TRACK])
    assert {r["model_version"] for r in track} == {r["model_version"] for r in rows}
    panels = out["panels"]
    assert len(panels) >= 4, list(panels)
    empty = [title for title, result in panels.items() if not result]
    assert not empty, f"churn board panels return nothing: {empty}"
    versions = next(v for k, v in panels.items() if k.startswith("Model versions"))
    assert {r["model_version"] for r in versions} == {r["model_version"] for r in rows}


def test_a_pinned_version_is_the_one_scores_use_and_an_unknown_pin_stops_the_worker(
    learned: dict[str, Any],
) -> None:
    pipeline: Pipeline = learned["pipeline"]
    newest = learned["model"].version
    published = sorted(
        (
            k[len(VERSION_PREFIX) :].decode()
            for k in learned["models"]
            if k.startswith(VERSION_PREFIX)
        ),
        key=lambda v: int(v.rsplit("+m", 1)[1]),
    )
    older = published[0]
    assert older != newest
    pinned = WorkerProcess(
        {**pipeline.env, "HEALTHSCORE_CHURN_MODEL_PIN": older}, pipeline.data_dir / "pinned.log"
    )
    try:
        _start([pinned])
        versions = _probe_versions(pipeline, "pinned", DAYS + 2)
    finally:
        pinned.stop()
    assert set(versions.values()) == {older}, versions
    bogus = WorkerProcess(
        {**pipeline.env, "HEALTHSCORE_CHURN_MODEL_PIN": "no-such-version"},
        pipeline.data_dir / "bogus.log",
    )
    bogus.start()
    try:
        assert wait_until(lambda: not bogus.running, 60), bogus.log_tail()
    finally:
        bogus.stop()
    assert "no-such-version: no such model version" in bogus.log_path.read_text()


def test_healthscore_model_prints_the_version_its_coefficients_and_its_record(
    learned: dict[str, Any],
) -> None:
    pipeline: Pipeline = learned["pipeline"]
    proc = subprocess.run(
        [sys.executable, "-m", "healthscore", "model"],
        env={**os.environ, **pipeline.env},
        capture_output=True,
        timeout=60,
        check=False,
    )
    text = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    print("\n" + text)
    newest = learned["model"]
    assert f"workers score with churn model {newest.version} (the newest" in text
    assert f"{newest.intercept:+.3f}" in text and "customer_happiness" in text
    track = orjson.loads(learned["models"][TRACK])
    assert "track record (computed" in text
    assert all(r["model_version"] in text for r in track)
