"""Exactly-once is keyed on the event id alone, with a content fingerprint.

Same id, same content: a duplicate (no score, the same state). Same id, another
content (another ts, payload or type): ConflictingDuplicateError, never applied
twice and never dropped unseen. States written in format 1 still decode and keep
their exactly-once memory.
"""

from __future__ import annotations

from datetime import timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring import (
    AccountState,
    ChurnModel,
    ConflictingDuplicateError,
    ScoringConfig,
    default_churn_model,
    load_config,
    process,
)
from scoring.bounded import ID_RECORD, UNKNOWN_CONTENT, id_records
from scoring.codec import FORMAT
from scoring.engine import is_conflicting_duplicate, is_duplicate
from scoring.signals.company import outstanding_ids
from scoring.signals.happiness import open_tickets
from tests.unit.scoring.factory import make

FORMAT_1_STATE = Path(__file__).with_name("data") / "state_format1.json"
"""A state written by the format-1 codec (before fingerprints and ticket statuses), from:
e00000 subscription_started d0, e00001 feature_used d0.5, e00002 invoice_failed X d1,
e00003 invoice_paid X d1.5, e00004 invoice_failed Y d2, e00005 ticket_opened T1 d2,
e00006 ticket_resolved T1 d2.5, e00007 milestone_planned M1 d1, e00008 milestone_completed
M1 d3, e00009 nps_response d3 (days after 2026-01-05)."""


def _applied(config: ScoringConfig, model: ChurnModel) -> AccountState:
    event = make("invoice_paid", 1, event_id="evt-1", invoice_id="I1", amount=100.0)
    return process(None, event, config, model).state


def test_the_same_id_and_content_is_a_duplicate(config: ScoringConfig, model: ChurnModel) -> None:
    state = _applied(config, model)
    again = make("invoice_paid", 1, event_id="evt-1", invoice_id="I1", amount=100.0)
    step = process(state, again, config, model)
    assert step.duplicate and step.state is state
    assert is_duplicate(state, again) and not is_conflicting_duplicate(state, again)


def test_the_same_id_with_another_ts_is_refused_not_applied_twice(
    config: ScoringConfig, model: ChurnModel
) -> None:
    state = _applied(config, model)
    moved = make("invoice_paid", 1.5, event_id="evt-1", invoice_id="I1", amount=100.0)
    assert is_conflicting_duplicate(state, moved) and not is_duplicate(state, moved)
    with pytest.raises(ConflictingDuplicateError):
        process(state, moved, config, model)


def test_the_same_id_and_ts_with_another_content_is_refused_not_dropped(
    config: ScoringConfig, model: ChurnModel
) -> None:
    state = _applied(config, model)
    for other in (
        make("invoice_paid", 1, event_id="evt-1", invoice_id="I1", amount=999.0),
        make("invoice_paid", 1, event_id="evt-1", invoice_id="I2", amount=100.0),
        make("invoice_failed", 1, event_id="evt-1", invoice_id="I1", amount=100.0),
        make("feature_used", 1, event_id="evt-1", user_id="u", feature="f"),  # another family
    ):
        with pytest.raises(ConflictingDuplicateError):
            process(state, other, config, model)


def test_the_same_instant_written_with_another_offset_or_version_is_the_same_content(
    config: ScoringConfig, model: ChurnModel
) -> None:
    state = _applied(config, model)
    original = make("invoice_paid", 1, event_id="evt-1", invoice_id="I1", amount=100.0)
    shifted = original.model_copy(
        update={"ts": original.ts.astimezone(timezone(timedelta(hours=5)))}
    )
    relabelled = original.model_copy(update={"schema_version": "1.9"})
    for same in (shifted, relabelled):
        assert process(state, same, config, model).duplicate


def test_a_conflicting_duplicate_is_refused_even_past_the_lateness_bound(
    config: ScoringConfig, model: ChurnModel
) -> None:
    state = _applied(config, model)
    later = make("feature_used", 20, event_id="evt-2", user_id="u", feature="f")
    state = process(state, later, config, model).state
    moved = make("invoice_paid", 0.5, event_id="evt-1", invoice_id="I1", amount=100.0)
    with pytest.raises(ConflictingDuplicateError):
        process(state, moved, config, model)


def test_the_exactly_once_memory_stays_bounded(config: ScoringConfig, model: ChurnModel) -> None:
    state = None
    for i in range(500):
        event = make("feature_used", i / 100, event_id=f"e{i}", user_id="u", feature="f")
        state = process(state, event, config, model).state
    assert state is not None
    cap = config.limits.recent_event_ids
    assert len(state.clock.recent_ids) == cap * ID_RECORD
    assert all(fp != UNKNOWN_CONTENT for _, _, fp in id_records(state.clock.recent_ids))


def _format_1_state() -> AccountState:
    return AccountState.from_bytes(FORMAT_1_STATE.read_bytes())


def test_a_format_1_state_still_decodes_and_is_written_in_the_current_format() -> None:
    state = _format_1_state()
    assert state.account_id == "acct-v1" and state.clock.events_applied == 10
    records = id_records(state.clock.recent_ids)
    assert len(records) == 10 and {fp for _, _, fp in records} == {UNKNOWN_CONTENT}
    assert outstanding_ids(state.billing) == ("Y",)
    assert "X" not in state.billing.failed and "X" in state.billing.paid  # one status each
    assert open_tickets(state.support) == 0 and state.support.opened == 1
    assert state.success.completed.keys() == {"M1"}
    encoded = state.to_bytes()
    assert encoded.startswith(b'{"a":') and f'"f":{FORMAT}'.encode() in encoded
    assert AccountState.from_bytes(encoded) == state


def test_a_format_1_state_keeps_its_exactly_once_memory(
    config: ScoringConfig, model: ChurnModel
) -> None:
    state = _format_1_state()
    account = "acct-v1"
    same = make("nps_response", 3, account=account, event_id="e00009", score=9)
    assert process(state, same, config, model).duplicate
    moved = make("nps_response", 3.5, account=account, event_id="e00009", score=9)
    with pytest.raises(ConflictingDuplicateError):
        process(state, moved, config, model)
    new = make("nps_response", 3.5, account=account, event_id="e00010", score=9)
    after = process(state, new, config, model).state
    assert after.clock.events_applied == 11
    assert AccountState.from_bytes(after.to_bytes()) == after


CONFIG = load_config()
MODEL = default_churn_model(CONFIG)
VARIANTS = [  # (type, day, fields): three contents per id
    ("invoice_paid", 0.0, {"invoice_id": "I", "amount": 100.0}),
    ("invoice_paid", 0.0, {"invoice_id": "I", "amount": 101.0}),
    ("invoice_paid", 0.5, {"invoice_id": "I", "amount": 100.0}),
    ("feature_used", 0.0, {"user_id": "u", "feature": "f"}),
]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 7), st.integers(0, len(VARIANTS) - 1)), max_size=40))
def test_each_id_is_applied_once_and_every_repeat_is_a_duplicate_or_refused(
    items: list[tuple[int, int]],
) -> None:
    state: AccountState | None = None
    first: dict[int, int] = {}  # id -> the variant applied
    for ident, variant in items:
        kind, offset, fields = VARIANTS[variant]
        event = make(kind, ident / 10 + offset, event_id=f"id-{ident}", **fields)  # within lateness
        if ident in first and first[ident] != variant:
            with pytest.raises(ConflictingDuplicateError):
                process(state, event, CONFIG, MODEL)
            continue
        step = process(state, event, CONFIG, MODEL)
        assert step.duplicate == (ident in first)
        first.setdefault(ident, variant)
        state = step.state
    assert (state.clock.events_applied if state else 0) == len(first)
