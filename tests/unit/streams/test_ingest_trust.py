"""What one producer can send, and what ingest refuses, through the real decode and scoring
path (`BatchProcessor.score`): no exception leaves a batch, keys are strict UTF-8, and event
times are checked against the Kafka record's timestamp."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

import scoring
import streams.pipeline as pipeline
from schemas.errors import DeadLetterReason as R
from schemas.events import FAMILY_BY_TYPE, Family
from scoring.config_load import config_from_mapping, packaged_defaults
from streams.pipeline import BatchOutput, BatchProcessor, RawRecord

TOPIC = {family: f"t.{family.value}" for family in Family}
CONFIG = scoring.load_config()
MODEL = scoring.default_churn_model(CONFIG)
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


def config(**ingest: Any) -> scoring.ScoringConfig:
    data = packaged_defaults()
    data["ingest"] = {**data["ingest"], **ingest}
    return config_from_mapping(data)


def feature(account: str, n: int, ts: datetime | str, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"{account}-{n}",
        "account_id": account,
        "ts": ts if isinstance(ts, str) else ts.isoformat(),
        "type": "feature_used",
        "user_id": "u1",
        "feature": "reports",
        **extra,
    }


def record(
    event: dict[str, Any] | bytes,
    offset: int = 0,
    key: bytes | str | None = "account",
    timestamp: int | None = NOW_MS,
) -> RawRecord:
    value = event if isinstance(event, bytes) else orjson.dumps(event)
    if key == "account":
        assert isinstance(event, dict)
        key = event["account_id"].encode()
    family = FAMILY_BY_TYPE[event["type"]] if isinstance(event, dict) else Family.USAGE
    assert not isinstance(key, str)
    return RawRecord(TOPIC[family], 0, offset, key, value, timestamp)


def run(records: list[RawRecord], cfg: scoring.ScoringConfig = CONFIG) -> BatchOutput:
    processor = BatchProcessor(cfg, {t: f for f, t in TOPIC.items()}, lambda: MODEL)
    store: dict[str, bytes] = {}
    return processor.run(records, store.get, store.__setitem__)


def reasons(out: BatchOutput) -> dict[int, tuple[str, str | None]]:
    return {d.offset: (d.reason.value, d.field) for d in out.dead_letters}


# --- nothing escapes ---------------------------------------------------------------------

POISON_VERSION = feature("p1", 0, NOW, schema_version="\u00b2.0")
POISON_TS = feature("p2", 0, "9999-12-31T23:00:00-12:00")


def test_the_poison_messages_of_the_issue_are_dead_letters_and_the_batch_goes_on():
    good = [record(feature(f"g{i}", 0, NOW), offset=i) for i in range(5)]
    batch = [*good[:2], record(POISON_VERSION, 2), *good[2:4], record(POISON_TS, 5), good[4]]
    batch = [RawRecord(r.topic, 0, i, r.key, r.value, r.timestamp) for i, r in enumerate(batch)]
    out = run(batch)
    assert reasons(out) == {
        2: ("invalid_field", "schema_version"),
        5: ("invalid_field", "ts"),
    }
    assert out.applied == 5 and out.received == 7


def test_an_unexpected_exception_while_decoding_is_a_processing_error_dead_letter(monkeypatch):
    def broken(raw: bytes, family: Family | None = None) -> Any:
        raise RuntimeError("decoder bug")

    monkeypatch.setattr(pipeline, "decode_event", broken)
    out = run([record(feature("a", 0, NOW))])
    assert reasons(out) == {0: ("processing_error", None)}
    assert "decoder bug" in out.dead_letters[0].detail


def test_a_failure_scoring_one_event_stays_a_processing_error_dead_letter(monkeypatch):
    real = scoring.process

    def flaky(state: Any, event: Any, *args: Any) -> Any:
        if event.account_id == "bad":
            raise ZeroDivisionError("scoring bug")
        return real(state, event, *args)

    monkeypatch.setattr(pipeline.scoring, "process", flaky)
    out = run([record(feature("bad", 0, NOW), 0), record(feature("ok", 0, NOW), 1)])
    assert reasons(out) == {0: ("processing_error", None)}
    assert out.applied == 1


def test_a_failure_building_the_emitted_score_is_a_processing_error_dead_letter(monkeypatch):
    real = scoring.process

    class ScoreFails:
        duplicate = False
        emit = True

        def __init__(self, step: Any) -> None:
            self.step = step

        def __getattr__(self, name: str) -> Any:
            return getattr(self.step, name)

        @property
        def score(self) -> Any:
            raise ValueError("health is NaN")

    def process(state: Any, event: Any, *args: Any) -> Any:
        step = real(state, event, *args)
        return ScoreFails(step) if event.account_id == "bad" else step

    monkeypatch.setattr(pipeline.scoring, "process", process)
    out = run([record(feature("bad", 0, NOW), 0), record(feature("ok", 0, NOW), 1)])
    assert reasons(out) == {0: ("processing_error", None)}
    assert out.applied == 1 and [s.account_id for s in out.scores] == ["ok"]


# --- identity ----------------------------------------------------------------------------


@pytest.mark.parametrize("key", [b"\xff", b"\xfe", b"acct-\xc3", b"\xed\xa0\x80"])
def test_a_key_that_is_not_utf8_is_dead_lettered_not_read_as_a_replacement(key):
    event = feature("\ufffd", 0, NOW)  # what errors='replace' reads \xff and \xfe as
    out = run([record(event, key=key)])
    assert reasons(out) == {0: ("invalid_key", "key")}
    assert out.applied == 0


def test_two_invalid_keys_never_feed_one_account():
    out = run(
        [
            record(feature("\ufffd", 0, NOW), 0, key=b"\xff"),
            record(feature("\ufffd", 1, NOW), 1, key=b"\xfe"),
        ]
    )
    assert [d.reason for d in out.dead_letters] == [R.INVALID_KEY, R.INVALID_KEY]
    assert out.scores == []


@pytest.mark.parametrize("account", ["acct\u200b1", "acct1 ", "acct\x001", "acct\u202e1"])
def test_look_alike_account_ids_are_dead_lettered(account):
    out = run([record(feature(account, 0, NOW))])
    assert reasons(out) == {0: ("invalid_field", "account_id")}


# --- time sanity -------------------------------------------------------------------------


def test_an_event_ahead_of_its_record_by_more_than_the_skew_is_from_future():
    skew = timedelta(hours=CONFIG.ingest.max_future_skew_hours)
    out = run(
        [
            record(feature("a", 0, NOW + skew + timedelta(seconds=1)), 0),
            record(feature("a", 1, NOW + skew), 1),
            record(feature("b", 0, NOW + skew * 10), 2, timestamp=None),  # no timestamp: no check
            record(feature("c", 0, NOW + skew * 10), 3, timestamp=-1),  # Kafka's "none"
        ]
    )
    assert reasons(out) == {0: ("from_future", "ts")}
    assert "ahead of" in out.dead_letters[0].detail
    assert out.applied == 3


def test_a_single_far_future_event_does_not_freeze_the_account():
    """Issue 22 item 3: a feature_used at 2099 from a client with a bad clock."""
    processor = BatchProcessor(CONFIG, {t: f for f, t in TOPIC.items()}, lambda: MODEL)
    store: dict[str, bytes] = {}
    first = processor.run([record(feature("m", 0, NOW), 0)], store.get, store.__setitem__)
    bad = processor.run(
        [record(feature("m", 1, datetime(2099, 1, 1, tzinfo=UTC)), 1)], store.get, store.__setitem__
    )
    later = [
        record(
            feature("m", 2 + i, NOW + timedelta(hours=i)), 2 + i, timestamp=NOW_MS + i * 3_600_000
        )
        for i in range(1, 4)
    ]
    after = processor.run(later, store.get, store.__setitem__)
    assert first.applied == 1
    assert reasons(bad) == {1: ("from_future", "ts")}
    assert after.dead_letters == [] and after.applied == 3
    assert processor.states.get("m", store.get)[0].clock.events_applied == 4


def test_the_skew_is_configurable():
    event = feature("a", 0, NOW + timedelta(hours=2))
    assert reasons(run([record(event)], config(max_future_skew_hours=1))) == {
        0: ("from_future", "ts")
    }
    assert run([record(event)], config(max_future_skew_hours=3)).applied == 1


def test_a_new_account_history_is_bounded_when_configured():
    cfg = config(new_account_max_age_days=7)
    old = NOW - timedelta(days=30)
    out = run(
        [
            record(feature("fake", 0, old), 0),  # fabricated history of a new account
            record(feature("fake", 1, old + timedelta(days=1)), 1),
            record(feature("real", 0, NOW - timedelta(days=6)), 2),
            record(feature("real", 1, NOW - timedelta(days=5)), 3),
            record(feature("old", 0, old), 4, timestamp=None),  # no timestamp: no check
        ],
        cfg,
    )
    assert reasons(out) == {0: ("backdated", "ts"), 1: ("backdated", "ts")}
    assert "new account" in out.dead_letters[0].detail
    assert out.applied == 3


def test_only_new_accounts_are_bounded_by_age():
    """An account with state is bounded by the allowed lateness behind its newest event."""
    cfg = config(new_account_max_age_days=7)
    processor = BatchProcessor(cfg, {t: f for f, t in TOPIC.items()}, lambda: MODEL)
    store: dict[str, bytes] = {}
    first = processor.run(
        [record(feature("a", 0, NOW - timedelta(days=6)), 0)], store.get, store.__setitem__
    )
    # 8 days later by the broker's clock, an event 1 day after the first one
    later = processor.run(
        [record(feature("a", 1, NOW - timedelta(days=5)), 1, timestamp=NOW_MS + 8 * 86_400_000)],
        store.get,
        store.__setitem__,
    )
    assert first.applied == 1 and later.applied == 1 and later.dead_letters == []


def test_backfills_are_accepted_with_the_default_config():
    out = run([record(feature("hist", i, NOW - timedelta(days=900 - i)), i) for i in range(3)])
    assert out.applied == 3 and out.dead_letters == []


def test_a_refused_new_account_leaves_no_state_behind():
    cfg = config(new_account_max_age_days=7)
    processor = BatchProcessor(cfg, {t: f for f, t in TOPIC.items()}, lambda: MODEL)
    store: dict[str, bytes] = {}
    old = NOW - timedelta(days=30)
    out = processor.run(
        [record(feature(f"fake-{i}", 0, old), i) for i in range(10)], store.get, store.__setitem__
    )
    assert len(out.dead_letters) == 10 and store == {}
