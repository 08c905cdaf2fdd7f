"""Changelog-backed per-account state: the Faust table `StateStore` reads and saves.

Keys and values are raw bytes: the account id, and the packed state with its read
positions (`streams.statepack`). Faust restores the table from its changelog on
start and rebalance; the worker never writes it through `table[key] = value`:
`StateStore` (`streams.state_store`) writes the table's store and sends the
changelog record itself, once per changed state per commit (`streams.state_flush`),
to the partition of the input records that changed the state. So an account's
state and its events stay co-partitioned across rebalances, with no dependence on
producer metadata (a partitioner would look the partition up synchronously, and
fail while a new topic's metadata loads).
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
