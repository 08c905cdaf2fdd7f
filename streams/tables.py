"""Changelog-backed per-account state.

Keys and values are raw bytes: the account id, and `AccountState.to_bytes()`.
The agent writes each account's state once per batch. Every batch comes from
one input partition (see `streams.transport`) and is the current Faust event
while it is processed, so Faust writes the changelog to that same partition:
an account's state and its events stay co-partitioned across rebalances, with
no dependence on producer metadata (`use_partitioner=True` would look the
partition up synchronously, and fail while a new topic's metadata loads).
"""

from __future__ import annotations

import faust

from streams.settings import Settings


def declare_state_table(app: faust.App, settings: Settings) -> faust.Table:
    table = app.Table(
        "account-state",
        default=None,
        key_type=bytes,
        value_type=bytes,
        partitions=settings.topic_partitions,
        help="AccountState bytes per account id",
    )
    # Faust derives serializers from model types and falls back to json for
    # bytes; raw keeps the changelog key byte-equal to the input topics' key.
    table.key_serializer = "raw"
    table.value_serializer = "raw"
    return table
