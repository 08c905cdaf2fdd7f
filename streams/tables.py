"""Changelog-backed per-account state.

Keys and values are raw bytes: the account id, and `AccountState.to_bytes()`.
`use_partitioner=True` lets the agent write state once per account per batch
(outside per-event iteration); the changelog partition then comes from the
same murmur2 key hash as the input topics, so an account's state and its
events stay co-partitioned across rebalances.
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
        use_partitioner=True,
        help="AccountState bytes per account id",
    )
    # Faust derives serializers from model types and falls back to json for
    # bytes; raw keeps the changelog key byte-equal to the input topics' key.
    table.key_serializer = "raw"
    table.value_serializer = "raw"
    return table
