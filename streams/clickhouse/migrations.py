"""Versioned, idempotent migrations: `healthscore migrate`.

Each `migrations/NNNN_name.sql` file runs once, in order; applied versions are
recorded in `{db}.schema_migrations`. Statements use `IF NOT EXISTS` so that a
migration interrupted half-way can simply run again.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

from streams.clickhouse.client import ClickHouse

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    def statements(self, database: str) -> list[str]:
        text = "\n".join(
            line for line in self.sql.splitlines() if not line.lstrip().startswith("--")
        )
        return [s.strip().replace("{db}", database) for s in text.split(";") if s.strip()]


def available() -> list[Migration]:
    """The migrations shipped with the package, in version order."""
    found = []
    for entry in resources.files("streams.clickhouse").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def applied(ch: ClickHouse) -> set[int]:
    rows = ch.query(f"SELECT version FROM {ch.database}.schema_migrations")
    return {int(r[0]) for r in rows}


def migrate(ch: ClickHouse) -> list[Migration]:
    """Apply the migrations not applied yet; return those it applied."""
    db = ch.database
    ch.command(f"CREATE DATABASE IF NOT EXISTS {db}")
    ch.command(
        f"CREATE TABLE IF NOT EXISTS {db}.schema_migrations "
        "(version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
        "ENGINE = ReplacingMergeTree ORDER BY version"
    )
    done = applied(ch)
    ran = []
    for migration in available():
        if migration.version in done:
            continue
        log.info("applying migration %04d_%s", migration.version, migration.name)
        for statement in migration.statements(db):
            ch.command(statement)
        ch.insert("schema_migrations", [[migration.version, migration.name]], ["version", "name"])
        ran.append(migration)
    return ran
