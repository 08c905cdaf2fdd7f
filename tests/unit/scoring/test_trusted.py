"""Records built without validation must still be exactly what validation would accept."""

from __future__ import annotations

from schemas.outputs import ScoreRecord, Transition
from scoring import ChurnModel, ScoringConfig
from tests.unit.scoring.factory import run
from tests.unit.scoring.scripts import healthy


def test_score_records_and_transitions_validate_against_the_schema(
    config: ScoringConfig, model: ChurnModel
) -> None:
    events = healthy(days=25).items
    events.append(events[-1].model_copy(update={"event_id": "dup"}))
    _, steps = run(events, config, model)
    records = [s.score for s in steps if s.score is not None]
    transitions = [t for s in steps for t in s.transitions]
    assert records and transitions
    for record in records[:: max(1, len(records) // 50)] + records[-1:]:
        again = ScoreRecord.model_validate_json(record.model_dump_json())
        assert again == record
        assert ScoreRecord.model_validate(record.model_dump()) == record
    for transition in transitions:
        assert Transition.model_validate_json(transition.model_dump_json()) == transition


def test_records_can_be_copied_like_validated_ones(
    config: ScoringConfig, model: ChurnModel
) -> None:
    _, steps = run(healthy(days=3), config, model)
    record = steps[-1].score
    assert record is not None
    copy = record.model_copy(update={"health": 1.0})
    assert copy.health == 1.0 and record.health != 1.0
    assert record.model_fields_set == set(ScoreRecord.model_fields)
