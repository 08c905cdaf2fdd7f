"""A generated demo portfolio as the Kafka records the scoring agent receives."""

from __future__ import annotations

import orjson

from devtools.demo.portfolio import generate
from schemas.events import FAMILY_BY_TYPE, Family
from streams.pipeline import RawRecord

TOPICS = {family: f"t.{family.value}" for family in Family}
"""An input topic per event family."""


def portfolio_records(accounts: int, days: int, seed: int) -> list[RawRecord]:
    """The portfolio's events (`devtools.demo.portfolio.generate`) in time order, each on
    its family's topic of `TOPICS`, all in partition 0, keyed by account id; offsets count
    the records across the topics, so they rise in the order the events were made."""
    return [
        RawRecord(
            TOPICS[FAMILY_BY_TYPE[e["type"]]],
            0,
            offset,
            str(e["account_id"]).encode(),
            orjson.dumps(e),
        )
        for offset, e in enumerate(generate(accounts=accounts, days=days, seed=seed))
    ]
