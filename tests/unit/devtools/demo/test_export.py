"""`healthscore generate x.parquet` writes every event: read back through score-file's
Parquet reader, every row decodes to the event the JSONL file holds (issue 20)."""

from __future__ import annotations

from collections import Counter

import pyarrow.parquet as pq

from devtools.demo.export import parquet_schema, write_events
from devtools.demo.portfolio import generate
from schemas.events import MODEL_BY_TYPE
from streams.score_file import read_events


def test_generate_to_parquet_keeps_every_row_and_every_field(tmp_path):
    events = list(generate(accounts=40, days=45, seed=3))
    assert len({e["type"] for e in events}) >= 10, "a portfolio with many event types"
    parquet, jsonl = tmp_path / "x.parquet", tmp_path / "x.jsonl"
    assert write_events(parquet, events) == len(events)
    assert write_events(jsonl, events) == len(events)

    from_parquet = list(read_events(parquet))
    bad = [(n, r) for n, r in from_parquet if isinstance(r, Exception)]
    assert bad == [], f"{len(bad)} of {len(events)} rows came back bad, first: {bad[:3]}"
    from_jsonl = [r for _n, r in read_events(jsonl)]
    assert [r for _n, r in from_parquet] == from_jsonl
    assert Counter(type(r).__name__ for r in from_jsonl) == Counter(
        MODEL_BY_TYPE[e["type"]].__name__ for e in events
    )


def test_the_parquet_schema_has_every_field_of_every_event_type(tmp_path):
    schema = parquet_schema()
    fields = {name for model in MODEL_BY_TYPE.values() for name in model.model_fields}
    assert set(schema.names) == fields
    path = tmp_path / "one.parquet"
    # a file whose first row is the type with the fewest fields
    write_events(path, [
        {"event_id": "e1", "account_id": "a", "ts": "2026-01-01T00:00:00Z",
         "type": "ticket_reopened", "ticket_id": "t1"},
        {"event_id": "e2", "account_id": "a", "ts": "2026-01-02T00:00:00Z",
         "type": "subscription_started", "plan": "growth", "mrr": 490.0, "seats": 25,
         "term_end": "2027-01-01T00:00:00Z", "segment": "smb"},
    ])  # fmt: skip
    assert pq.read_schema(path).names == schema.names
    rows = [r for _n, r in read_events(path)]
    assert [type(r).__name__ for r in rows] == ["TicketReopened", "SubscriptionStarted"]
    assert rows[1].seats == 25 and rows[1].segment == "smb"
