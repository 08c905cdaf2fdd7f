"""ClickHouse: one client (embedded chDB or a server), migrations, batched writes."""

from streams.clickhouse.client import ClickHouse, connect
from streams.clickhouse.migrations import migrate
from streams.clickhouse.writer import ClickHouseWriter

__all__ = ["ClickHouse", "ClickHouseWriter", "connect", "migrate"]
