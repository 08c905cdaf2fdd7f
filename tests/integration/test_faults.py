"""Issue 9 on the real broker: crashes, rebalances, outages and hostile input, nothing lost.

Each test runs real `healthscore worker` processes against a real Kafka broker and the
embedded ClickHouse, injects one fault, and compares what the workers produced with a
reference computed in this process by the pure scoring core over the same events
(`faults_harness.reference`). The workers run with the clock on (the default), so each
account is compared with the reference re-evaluated at the time the clock's ticks brought
it to (`faults_harness.at_evaluation_times`). Three views are compared (see faults_harness):

* the state changelog: per account, the facts bytes equal the reference's (every accepted
  event applied exactly once, whatever the order) and `events_applied` equals the number
  of distinct accepted events;
* the `scores` topic: the last message per account has the reference's events_applied
  and health;
* ClickHouse `latest_score` read with FINAL, the documented way (one row per account, the
  highest events_applied), cross-checked with argMax.

docs/operations.md records what these tests showed and how to run them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import orjson
import pytest

from bench.soak import BAD_KINDS, run_soak
from devtools.demo.portfolio import generate
from devtools.kafka_io import produce_events
from devtools.local_kafka import LocalKafka
from devtools.runner import WorkerProcess, wait_until
from schemas.events import FAMILY_BY_TYPE, Family
from tests.integration.faults_harness import (
    DEFAULT_CONFIG,
    at_evaluation_times,
    changelog_states,
    clickhouse_view,
    committed,
    counters,
    emit_every_step_config,
    merge_latest,
    mismatches,
    read_scores,
    reference,
    wait_committed,
    wait_counters,
)
from tests.integration.harness import Pipeline

pytestmark = pytest.mark.integration


def _setup(bootstrap: str, tmp_path: Path, accounts: int, days: int, seed: int, **env: str):
    # Faults must strike mid-stream, between commits: the worker takes a few thousand
    # events in well under its default 5 s commit interval, so these workers commit every
    # 0.5 s (the commit protocol is the same at any interval)
    env.setdefault("HEALTHSCORE_COMMIT_INTERVAL", "0.5")
    # the clock is on (the default): the reference is re-evaluated at the ticks' times
    # (`faults_harness.at_evaluation_times`)
    config = emit_every_step_config(tmp_path)
    pipeline = Pipeline.create(
        bootstrap, tmp_path / "data", HEALTHSCORE_SCORING_CONFIG=str(config), **env
    )
    events = list(generate(accounts=accounts, days=days, seed=seed))
    ref = reference((orjson.dumps(e) for e in events), config)
    return pipeline, events, ref


def _config(pipeline: Pipeline) -> Path:
    return Path(pipeline.env["HEALTHSCORE_SCORING_CONFIG"])


def _produce(pipeline: Pipeline, events: list[dict]) -> int:
    return asyncio.run(produce_events(pipeline.bootstrap, pipeline.settings.input_topics, events))


def _assert_state_exactly_once(pipeline: Pipeline, ref, ch_views: list[dict]) -> None:
    """The state table (its changelog, what any restart recovers) against the reference:
    per account the facts bytes are equal (every accepted event applied once, whatever the
    order) and events_applied is the number of distinct accepted events. And each worker's
    ClickHouse latest_score read with FINAL has one row per account."""
    states = changelog_states(pipeline.bootstrap, pipeline.settings.app_id)
    ref = at_evaluation_times(ref, states, _config(pipeline))
    assert set(states) == set(ref.accounts)
    wrong_counts = {
        a: (s.clock.events_applied, ref.accounts[a].applied)
        for a, s in states.items()
        if s.clock.events_applied != ref.accounts[a].applied
    }
    assert not wrong_counts, f"events_applied (got, expected) per account: {wrong_counts}"
    wrong_facts = [a for a, s in states.items() if s.facts_bytes() != ref.accounts[a].facts]
    assert not wrong_facts, f"facts differ from the reference for {wrong_facts}"
    for view in ch_views:
        accounts = [r["account_id"] for r in view["final"]]
        assert len(accounts) == len(set(accounts)), "latest_score FINAL has duplicates"


def _assert_final_outputs(pipeline: Pipeline, ref, ch_views: list[dict]) -> dict[str, object]:
    """The last score per account on the scores topic, and ClickHouse latest_score read
    with FINAL (merged over the workers' own ClickHouse dirs by the highest events_applied,
    as one ReplacingMergeTree(events_applied) table would), cross-checked with argMax, equal
    the reference's events_applied and health (the reference re-evaluated at the time the
    worker's clock brought each account to). Returns numbers for the report."""
    states = changelog_states(pipeline.bootstrap, pipeline.settings.app_id)
    ref = at_evaluation_times(ref, states, _config(pipeline))
    scores = read_scores(pipeline.bootstrap, pipeline.settings.topic("scores"))
    lost, repeated = scores.coverage(ref)
    history = {(r["account_id"], r["events_applied"]) for v in ch_views for r in v["history"]}
    numbers = {
        "events_applied": ref.total_applied,
        "score_messages": scores.messages,
        "score_messages_lost": lost,
        "score_messages_repeated": repeated,
        "latest_score_raw_rows": sum(v["raw_rows"] for v in ch_views),
        "score_history_rows": sum(len(v["history"]) for v in ch_views),
        "score_history_missing": ref.total_applied - len(history),
        "score_history_duplicate_rows": sum(len(v["history"]) for v in ch_views) - len(history),
    }
    print(f"outputs: {numbers}")
    problems = mismatches(ref, scores.latest, lambda s: s["events_applied"], lambda s: s["health"])
    assert not problems, "scores topic, last message per account:\n" + "\n".join(problems[:20])
    final, argmax = merge_latest(ch_views, "final"), merge_latest(ch_views, "argmax")
    problems = mismatches(ref, final, lambda r: r["events_applied"], lambda r: r["health"])
    assert not problems, "ClickHouse latest_score FINAL:\n" + "\n".join(problems[:20])
    assert {a: r["events_applied"] for a, r in argmax.items()} == {
        a: r["events_applied"] for a, r in final.items()
    }
    return numbers


def _assert_exactly_once(pipeline: Pipeline, ref, ch_views: list[dict]) -> dict[str, object]:
    _assert_state_exactly_once(pipeline, ref, ch_views)
    return _assert_final_outputs(pipeline, ref, ch_views)


def _freeze(worker) -> None:
    """SIGSTOP the worker's process group, so what it committed cannot move while we look
    (then kill -9 it: `WorkerProcess.kill`)."""
    os.killpg(worker.proc.pid, signal.SIGSTOP)


def _wait_commit_past(bootstrap, group, topics, mark, workers, timeout=60) -> int:
    deadline = time.monotonic() + timeout
    done = mark
    while done <= mark and time.monotonic() < deadline:
        done, _ = committed(bootstrap, group, topics)
        for w in workers:
            assert w.running, w.log_tail()
        time.sleep(0.05)
    return done


@pytest.fixture(scope="module")
def crash_run(kafka_bootstrap, tmp_path_factory):
    """One worker killed with kill -9 mid-stream, a new one resumes on the same data dir."""
    tmp_path = tmp_path_factory.mktemp("crash")
    pipeline, events, ref = _setup(kafka_bootstrap, tmp_path, accounts=80, days=60, seed=9)
    topics = list(pipeline.settings.input_topics.values())
    group, total = pipeline.settings.app_id, len(events)
    first, rest = events[: total // 3], events[total // 3 :]
    started = time.monotonic()

    w1 = pipeline.worker("worker-1").start()
    try:
        _produce(pipeline, first)
        wait_committed(kafka_bootstrap, group, topics, len(first), [w1], timeout=90)
        _produce(pipeline, rest)  # a backlog the worker is working through when it dies
        _wait_commit_past(kafka_bootstrap, group, topics, len(first), [w1])
        # Freeze the worker now and then and look: is there an account whose state in the
        # changelog has applied more events than the scores topic has scores for? (With
        # every step emitting, it should never be.) Kill -9 at the first such moment, or
        # once half the stream is committed.
        probes, ahead = 0, {}
        while True:
            _freeze(w1)
            probes += 1
            at_kill, _ = committed(kafka_bootstrap, group, topics)
            states = changelog_states(kafka_bootstrap, group)
            published = read_scores(kafka_bootstrap, pipeline.settings.topic("scores")).seen
            ahead = {
                a: (st.clock.events_applied, max(published.get(a, [0])))
                for a, st in states.items()
                if st.clock.events_applied > max(published.get(a, [0]))
            }
            if ahead or at_kill >= 0.5 * total or probes >= 40:
                break
            os.killpg(w1.proc.pid, signal.SIGCONT)
            time.sleep(0.1)
        in_changelog = sum(st.clock.events_applied for st in states.values())
    finally:
        w1.kill()
    killed_at = time.monotonic()
    with pipeline.worker("worker-2") as w2:
        wait_committed(kafka_bootstrap, group, topics, total, [w2], timeout=150)
        resumed_s = time.monotonic() - killed_at
        c2 = wait_counters(w2, total - at_kill)
    numbers = {
        "events": total,
        "probes": probes,
        "state_ahead_of_scores_at_kill": ahead,
        "committed_at_kill": at_kill,
        "applied_in_changelog_at_kill": in_changelog,
        "worker2_counters": c2,
        "kill_to_all_committed_s": round(resumed_s, 1),
        "total_s": round(time.monotonic() - started, 1),
    }
    return pipeline, ref, numbers, [clickhouse_view(pipeline.data_dir)]


def test_worker_killed_mid_stream_resumes_with_every_event_applied_exactly_once(crash_run):
    pipeline, ref, numbers, views = crash_run
    print(f"\ncrash: {numbers}")
    assert 0 < numbers["committed_at_kill"] < numbers["events"], (
        "the kill must come after some commits and before all"
    )
    _assert_state_exactly_once(pipeline, ref, views)


def test_after_a_worker_crash_the_final_scores_equal_the_reference(crash_run):
    """Fails if an account whose last events were in the crash window keeps a stale latest
    score (its state persisted, its outputs not): seen on the code before the changelog
    gate (streams.state_flush), see docs/operations.md."""
    pipeline, ref, _numbers, views = crash_run
    _assert_final_outputs(pipeline, ref, views)


def test_outputs_of_the_crash_window_are_not_lost(crash_run):
    """No moment at which the worker was frozen had an account whose persisted state had
    applied more events than the scores topic had scores for, and after the restart every
    applied event has its score message and its score_history row. Before the changelog
    gate (streams.state_flush) the state could reach the changelog before the batch's outputs:
    after kill -9 the redelivered records were skipped as already applied, and their
    scores, transitions, alerts and ClickHouse rows were never produced (measured in
    docs/operations.md)."""
    pipeline, ref, numbers, views = crash_run
    scores = read_scores(pipeline.bootstrap, pipeline.settings.topic("scores"))
    lost, repeated = scores.coverage(ref)
    history = {(r["account_id"], r["events_applied"]) for v in views for r in v["history"]}
    history_lost = ref.total_applied - len(history)
    ahead = numbers["state_ahead_of_scores_at_kill"]
    print(f"\ncrash window: at the kill the changelog was ahead of the scores topic for "
          f"{ahead} (account: (events applied in state, last score published)); after the "
          f"restart {lost} score messages and {history_lost} score_history rows are missing "
          f"of {ref.total_applied}; {repeated} score messages published twice")  # fmt: skip
    assert not ahead, f"state persisted before its scores were published: {ahead}"
    assert lost == 0, f"{lost} applied events have no score on the scores topic"
    assert history_lost == 0, f"{history_lost} applied events have no score_history row"


def _ready(worker: WorkerProcess) -> bool:
    return "Worker ready" in worker.log_path.read_text(errors="replace")


def _group_workers(pipeline: Pipeline, tmp_path: Path, names: str) -> list[WorkerProcess]:
    """Workers of one group (same app id), each with its own data dir, so its own chDB."""
    dirs = [tmp_path / f"data-{name}" for name in names]
    return [
        WorkerProcess({**pipeline.env, "HEALTHSCORE_DATA_DIR": str(d)}, d / "worker.log")
        for d in dirs
    ]


def _start_split(pipeline: Pipeline, workers: list[WorkerProcess], first: list[dict]) -> list:
    """Start the workers, wait until each is ready, produce `first`, wait until it is
    committed; the events each worker applied (the split)."""
    bootstrap, group = pipeline.bootstrap, pipeline.settings.app_id
    topics = list(pipeline.settings.input_topics.values())
    for w in workers:
        w.start()
    assert wait_until(lambda: all(_ready(w) for w in workers), 60), [
        w.log_tail(20) for w in workers
    ]
    _produce(pipeline, first)
    wait_committed(bootstrap, group, topics, len(first), workers, timeout=90)
    split = [wait_counters(w, 1, timeout=5)[1] for w in workers]
    assert sum(1 for n in split if n > 0) >= 2, f"the group did not split the work: {split}"
    return split


def test_scale_out_then_one_worker_stops_with_sigterm_and_the_other_finishes(
    kafka_bootstrap, tmp_path
):
    """Two workers in one group (own data dirs, so own chDB dirs) split 4 partitions;
    mid-stream one is stopped with SIGTERM (it leaves the group, so the other takes its
    partitions at once and recovers their state from the changelog)."""
    pipeline, events, ref = _setup(kafka_bootstrap, tmp_path, accounts=80, days=60, seed=21)
    topics = list(pipeline.settings.input_topics.values())
    group, total = pipeline.settings.app_id, len(events)
    first, rest = events[: total // 3], events[total // 3 :]
    workers = _group_workers(pipeline, tmp_path, "ab")
    survivor, stopped = workers
    started = time.monotonic()
    try:
        split = _start_split(pipeline, workers, first)
        _produce(pipeline, rest)
        at_stop = _wait_commit_past(kafka_bootstrap, group, topics, len(first), workers)
        t0 = time.monotonic()
        assert stopped.stop() == 0, stopped.log_tail()
        stop_s = time.monotonic() - t0
        wait_committed(kafka_bootstrap, group, topics, total, [survivor], timeout=120)
        takeover_s = time.monotonic() - t0
        wait_counters(survivor, 1)
    finally:
        for w in workers:
            w.stop()
    applied = [counters(w)[1] for w in workers]
    print(f"\nscale-out + SIGTERM: {total} events; applied after the first third per worker "
          f"{split}; SIGTERM at {at_stop} committed, the worker exited in {stop_s:.1f}s; "
          f"everything committed {takeover_s:.1f}s after the SIGTERM; applied per worker "
          f"{applied}; {time.monotonic() - started:.1f}s")  # fmt: skip
    assert at_stop < total, "the SIGTERM must come mid-stream"
    views = [clickhouse_view(w.log_path.parent) for w in workers]
    _assert_exactly_once(pipeline, ref, views)


@pytest.fixture(scope="module")
def scale_out_crash_run(kafka_bootstrap, tmp_path_factory):
    """Two workers in one group; mid-stream one is killed with kill -9. The survivor gets
    the dead member's partitions once its session times out, and recovers their state."""
    tmp_path = tmp_path_factory.mktemp("scale-crash")
    pipeline, events, ref = _setup(kafka_bootstrap, tmp_path, accounts=80, days=60, seed=27)
    topics = list(pipeline.settings.input_topics.values())
    group, total = pipeline.settings.app_id, len(events)
    first, rest = events[: total // 3], events[total // 3 :]
    workers = _group_workers(pipeline, tmp_path, "ab")
    survivor, crashed = workers
    started = time.monotonic()
    try:
        split = _start_split(pipeline, workers, first)
        _produce(pipeline, rest)
        _wait_commit_past(kafka_bootstrap, group, topics, len(first), workers)
        _freeze(crashed)
        at_kill, _ = committed(kafka_bootstrap, group, topics)
        crashed.kill()
        killed_at = time.monotonic()
        wait_committed(kafka_bootstrap, group, topics, total, [survivor], timeout=150)
        takeover_s = time.monotonic() - killed_at
        wait_counters(survivor, 1)
    finally:
        survivor.stop()
        crashed.kill()
    numbers = {
        "events": total,
        "split_after_first_third": split,
        "committed_at_kill": at_kill,
        "kill_to_all_committed_s": round(takeover_s, 1),
        "applied_per_worker": [counters(w)[1] for w in workers],
        "total_s": round(time.monotonic() - started, 1),
    }
    print(f"\nscale-out + kill -9: {numbers}")
    views = [clickhouse_view(w.log_path.parent) for w in workers]
    return pipeline, ref, numbers, views


def test_scale_out_then_one_worker_crashes_and_the_other_applies_everything_once(
    scale_out_crash_run,
):
    pipeline, ref, numbers, views = scale_out_crash_run
    assert numbers["committed_at_kill"] < numbers["events"], "the kill must come mid-stream"
    _assert_state_exactly_once(pipeline, ref, views)


def test_scale_out_then_one_worker_crashes_and_the_final_scores_equal_the_reference(
    scale_out_crash_run,
):
    pipeline, ref, _numbers, views = scale_out_crash_run
    _assert_final_outputs(pipeline, ref, views)


def test_broker_restart_mid_stream_the_worker_reconnects_and_finishes(tmp_path):
    """A dedicated broker (the session broker is left alone), restarted while the worker
    works through a backlog."""
    with LocalKafka(tmp_path / "kafka", partitions=4) as kafka:
        bootstrap = kafka.bootstrap_servers
        pipeline, events, ref = _setup(bootstrap, tmp_path, accounts=80, days=60, seed=33)
        topics = list(pipeline.settings.input_topics.values())
        group, total = pipeline.settings.app_id, len(events)
        first, rest = events[: total // 3], events[total // 3 :]
        with pipeline.worker() as worker:
            _produce(pipeline, first)
            wait_committed(bootstrap, group, topics, len(first), [worker], timeout=90)
            _produce(pipeline, rest)
            at_restart = _wait_commit_past(bootstrap, group, topics, len(first), [worker])
            t0 = time.monotonic()
            kafka.restart()
            restart_s = time.monotonic() - t0
            wait_committed(bootstrap, group, topics, total, [worker], timeout=120)
            recovered_s = time.monotonic() - t0
            c = wait_counters(worker, total)
        print(f"\nbroker restart: {total} events; restarted at {at_restart} committed; "
              f"broker down+up {restart_s:.1f}s; all committed {recovered_s:.1f}s after the "
              f"restart began; worker counters {c}")  # fmt: skip
        assert at_restart < total, "the restart must come mid-stream"
        numbers = _assert_exactly_once(pipeline, ref, [clickhouse_view(pipeline.data_dir)])
        print(f"broker restart: {numbers}")


@pytest.fixture(scope="module")
def hostile_run(kafka_bootstrap, tmp_path_factory):
    """`make soak` (bench/soak.py) in small: ~5,000 events with 2% hostile messages."""
    tmp_path = tmp_path_factory.mktemp("hostile")
    result = run_soak(
        kafka_bootstrap, tmp_path, accounts=60, days=30, seed=4, bad_fraction=0.02, timeout=120
    )
    print(f"\nhostile: sent {result['messages']} ({result['good_events']} good, "
          f"{result['duplicates_sent']} duplicates, bad {result['bad_sent']}); worker "
          f"{result['worker']}; dead letters {result['dead_letter_reasons']}; "
          f"drained in {result['drain_seconds']}s; RSS {result['rss']}")  # fmt: skip
    return result


def test_hostile_input_every_bad_message_dead_lettered_every_good_event_applied_once(
    hostile_run, kafka_bootstrap
):
    result = hostile_run
    assert set(result["bad_kinds_sent"]) == set(BAD_KINDS), "every kind of bad message sent"
    checks = result["checks"]
    assert checks["worker alive until the end"] and checks["all messages received"], checks
    assert checks["all bad dead-lettered"] and checks["dead-letter reasons as built"], checks
    w = result["worker"]
    assert w["applied"] + w["duplicates"] + w["dead_letters"] == w["received"]
    assert checks["all good events applied"] and checks["duplicates counted"], w
    # and in the state: per account, events_applied = its distinct accepted events
    expected = reference((v for _, _, v in result["accepted_messages"]), DEFAULT_CONFIG)
    assert expected.applied == result["good_events"]
    assert expected.duplicates == result["duplicates_sent"]
    states = changelog_states(kafka_bootstrap, result["app_id"])
    assert set(states) == set(expected.accounts)
    wrong = {
        a: (st.clock.events_applied, expected.accounts[a].applied)
        for a, st in states.items()
        if st.clock.events_applied != expected.accounts[a].applied
    }
    assert not wrong, f"events_applied (worker, reference) per account: {wrong}"


def test_a_duplicate_in_a_lagging_family_topic_is_counted_once(kafka_bootstrap, tmp_path):
    """First an account's usage/support/billing events, applied and committed; then its
    earliest success-family event (older than more than 64 of them, but the first of its
    family, so not late) twice, as a producer retry would send it. When the state kept one
    list of the 64 newest event ids by event time, the lagging event was forgotten as soon
    as it was applied and its duplicate counted again (the hostile run hit this by chance
    on a backlog, where the worker reads one family's topic far ahead of another); the
    exactly-once memory is now kept per family (scoring.engine), and this test pins it."""
    pipeline = Pipeline.create(kafka_bootstrap, tmp_path / "data")
    topics = list(pipeline.settings.input_topics.values())
    group = pipeline.settings.app_id
    events = list(generate(accounts=1, days=60, seed=2))
    lagging = Family.SUCCESS
    ahead = [e for e in events if FAMILY_BY_TYPE[e["type"]] != lagging]
    late = next(e for e in events if FAMILY_BY_TYPE[e["type"]] == lagging)
    newer = sum(1 for e in ahead if e["ts"] > late["ts"])
    assert newer > 64, f"the account needs more than 64 newer events, has {newer}"
    with pipeline.worker() as worker:
        _produce(pipeline, ahead)
        wait_committed(kafka_bootstrap, group, topics, len(ahead), [worker], timeout=60)
        _produce(pipeline, [late, late])
        wait_committed(kafka_bootstrap, group, topics, len(ahead) + 2, [worker], timeout=60)
        c = wait_counters(worker, len(ahead) + 2)
    (state,) = changelog_states(kafka_bootstrap, group).values()
    distinct = len({e["event_id"] for e in [*ahead, late]})
    applied = state.clock.events_applied
    print(f"\nlagging-family duplicate: {newer} newer events applied first; worker counters "
          f"{c}; events_applied {applied}, distinct events {distinct}")  # fmt: skip
    assert c[2] == 1, f"the duplicate was not counted as one: counters {c}"
    assert state.clock.events_applied == distinct
