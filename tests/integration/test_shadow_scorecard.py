"""The live shadow scorecard end to end: a real worker on the real broker with a shadow
scorecard that weighs velocity five times as much, its shadow scores read back from
ClickHouse, and its live scores exactly those of the same events scored without a shadow.

The accounts send usage events only, so each account's events sit in one topic partition
in the order they were produced and the worker's live scores can be compared one for one
with an in-process run. Velocity is unknown for an account's first 14 days
(`usage.velocity_warmup_days`): the changed weight rests on nothing then, and the shadow
health must be the live one; afterwards it must differ.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

import scoring
from devtools.kafka_io import produce_events
from schemas.events import FAMILY_BY_TYPE, Family
from scoring.config_load import config_from_mapping
from scoring.names import SIGNALS, SIGNED_SIGNALS
from streams.pipeline import BatchOutput, BatchProcessor, RawRecord
from tests.integration.harness import Pipeline

pytestmark = pytest.mark.integration

PROGRESS = re.compile(r"received=(\d+) .*scores=(\d+) .*shadows=(\d+)")
ACCOUNTS, DAYS = 6, 30
CANDIDATE = "candidate"
VELOCITY_WEIGHT = 0.5  # the default scorecard's is 0.10


def _events() -> list[dict[str, Any]]:
    """Usage only: each account's users use features every day, some accounts slowing down."""
    rng = random.Random(20)
    start = (datetime.now(UTC) - timedelta(days=DAYS + 1)).replace(microsecond=0)
    events = []
    for a in range(ACCOUNTS):
        users, features = rng.randint(2, 6), rng.randint(3, 10)
        fading = a % 2 == 1
        for day in range(DAYS):
            per_day = max(1, round(rng.uniform(2, 6) * ((1 - day / DAYS) if fading else 1)))
            for n in range(per_day):
                ts = start + timedelta(days=day, hours=8 + 10 * n / per_day)
                events.append({
                    "event_id": f"a{a}-d{day}-{n}", "account_id": f"acct-{a}", "ts": ts.isoformat(),
                    "type": "feature_used", "user_id": f"u{rng.randrange(users)}",
                    "feature": f"f{rng.randrange(features)}", "quantity": rng.randint(1, 9),
                })  # fmt: skip
    events.sort(key=lambda e: e["ts"])
    return events


def _config_file(tmp_path: Path) -> Path:
    path = tmp_path / "scoring.yaml"
    default = scoring.load_config().scorecards["default"].model_dump()
    path.write_text(yaml.safe_dump({
        "version": "it-shadow",
        "shadow_scorecard": CANDIDATE,
        "scorecards": {CANDIDATE: {**default, "velocity": VELOCITY_WEIGHT}},
    }))  # fmt: skip
    return path


def _in_process(config: scoring.ScoringConfig, events: list[dict[str, Any]]) -> BatchOutput:
    """The same events through the pipeline in this process, one batch."""
    model = scoring.default_churn_model(config)  # the worker is pinned to it
    topics = {f: f"t.{f.value}" for f in Family}
    processor = BatchProcessor(config, {t: f for f, t in topics.items()}, lambda: model)
    records = [
        RawRecord(topics[FAMILY_BY_TYPE[e["type"]]], 0, i, e["account_id"].encode(),
                  orjson.dumps(e))
        for i, e in enumerate(events)
    ]  # fmt: skip
    return processor.run(records, {}.get, lambda *_: None)


def _health(signals: dict[str, float | None], weights: tuple[float, ...]) -> float:
    """docs/scoring.md "Health", written out: the weighted mean of the known signals on 0..1."""
    parts = [
        (w, (v + 1) / 2 if name in SIGNED_SIGNALS else v)
        for name, w in zip(SIGNALS, weights, strict=True)
        if (v := signals[name]) is not None and w > 0
    ]
    return 100 * sum(w * u for w, u in parts) / sum(w for w, _ in parts)


def test_the_worker_writes_shadow_scores_to_clickhouse_and_live_scores_stay_the_same(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    config_path = _config_file(tmp_path)
    config = scoring.load_config(config_path)
    assert config.shadow_scorecard == CANDIDATE
    pipeline = Pipeline.create(
        kafka_bootstrap, tmp_path, HEALTHSCORE_SCORING_CONFIG=str(config_path),
        HEALTHSCORE_CHURN_MODEL_PIN="default",
        HEALTHSCORE_CLOCK="false",  # the reference below is the scoring core over the events alone
    )  # fmt: skip
    events = _events()

    with pipeline.worker() as worker:
        sent = asyncio.run(produce_events(kafka_bootstrap, pipeline.settings.input_topics, events))
        assert sent == len(events)
        published = shadowed = None
        deadline = time.monotonic() + 120
        while published is None and worker.running and time.monotonic() < deadline:
            done = [(int(m[2]), int(m[3])) for m in PROGRESS.finditer(worker.log_path.read_text())
                    if int(m[1]) == len(events)]  # fmt: skip
            published, shadowed = done[0] if done else (None, None)
            time.sleep(0.2)
        assert worker.running and published, worker.log_tail()
        scores = pipeline.read_output("scores", lambda s: len(s) >= published, timeout=60)
        assert len(scores) == published == shadowed, worker.log_tail()
        assert "shadow scorecard 'candidate'" in worker.log_path.read_text()

    # live: exactly the scores of the same events scored without a shadow
    without = config_from_mapping({**config.model_dump(), "shadow_scorecard": None})
    expected = _in_process(without, events)
    assert expected.shadows == []

    def by_account(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for r in records:
            out.setdefault(r["account_id"], []).append(r)
        return out

    assert by_account(scores) == by_account(
        [orjson.loads(orjson.dumps(s.model_dump(mode="json"))) for s in expected.scores]
    )

    with pipeline.clickhouse() as ch:
        db = ch.database
        shadows = ch.query_dicts(
            f"SELECT account_id, ts, event_id, events_applied, scorecard, health, band, "
            f"live_health, live_band, churn_risk, tier, config_version, live_config_version "
            f"FROM {db}.shadow_scores FINAL ORDER BY account_id, ts, events_applied"
        )
        joined = ch.query(
            f"SELECT count(), countIf(h.health = s.live_health AND h.band = s.live_band) "
            f"FROM {db}.score_history AS h FINAL "
            f"INNER JOIN {db}.shadow_scores AS s FINAL "
            f"USING (account_id, ts, events_applied)"
        )[0]
        history = ch.query(f"SELECT count() FROM {db}.score_history FINAL")[0][0]
    print(f"\n{len(events)} events, {len(scores)} live scores, {len(shadows)} shadow rows "
          f"in {db}.shadow_scores")  # fmt: skip

    # one shadow row per live score, joinable to score_history, the live values beside it
    assert len(shadows) == history == len(scores)
    assert tuple(joined) == (history, history)
    live = {(s["account_id"], s["events_applied"]): s for s in scores}
    weights = config.scorecards[CANDIDATE].weights
    unknown = known = 0
    for row in shadows:
        score = live[(row["account_id"], row["events_applied"])]
        assert row["event_id"] == score["event_id"] and row["scorecard"] == CANDIDATE
        assert row["config_version"] == "it-shadow:shadow:candidate"
        assert row["live_config_version"] == score["config_version"] == "it-shadow"
        assert row["live_health"] == pytest.approx(score["health"], abs=1e-3)
        assert row["tier"] == score["tier"]
        assert row["churn_risk"] == pytest.approx(score["churn_risk"], abs=1e-6)
        expected_health = _health(score["signals"], weights)
        assert row["health"] == pytest.approx(expected_health, abs=0.02)
        if score["signals"]["velocity"] is None:  # the changed weight rests on nothing
            unknown += 1
            assert row["health"] == pytest.approx(score["health"], abs=1e-3)
        else:
            known += 1
            assert abs(row["health"] - score["health"]) > 0.05, (row, score["signals"])
    assert unknown and known, (unknown, known)
