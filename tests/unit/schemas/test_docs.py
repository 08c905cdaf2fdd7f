"""docs/events.md documents every event type with an example that really decodes."""

from __future__ import annotations

import re
from pathlib import Path

from schemas.decode import decode_event
from schemas.errors import DeadLetterReason
from schemas.events import MODEL_BY_TYPE

DOC = (Path(__file__).resolve().parents[3] / "docs" / "events.md").read_text()


def test_every_event_type_has_a_section_and_an_example_that_decodes():
    sections = dict(re.findall(r"### `(\w+)`.*?```json\n(.*?)```", DOC, flags=re.S))
    assert set(sections) == set(MODEL_BY_TYPE)
    for type_, example in sections.items():
        assert decode_event(example.encode()).type == type_


def test_every_dead_letter_reason_is_documented():
    for reason in DeadLetterReason:
        assert f"| `{reason.value}` |" in DOC, reason
