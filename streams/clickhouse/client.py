"""The one module that owns the ClickHouse client.

`chdb://<data dir>` (embedded, persistent) is the default, so nothing needs a
server; `CLICKHOUSE_URL` (http/https, with user and password) switches to a
real server, and the same SQL runs on both.

chDB allows a single engine per process and has no async client, so every
call goes through one `ClickHouse` object whose lock serialises them; callers
on the event loop run it in a thread (see `ClickHouseWriter`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError as DriverError

from streams.errors import ClickHouseError
from streams.settings import Settings

log = logging.getLogger(__name__)

_EMBEDDED: dict[str, ClickHouse] = {}
_EMBEDDED_LOCK = threading.Lock()


class ClickHouse:
    """A thread-safe facade over one clickhouse-connect client."""

    def __init__(self, client: Client, database: str, description: str) -> None:
        self._client = client
        self.database = database
        self.description = description
        self._lock = threading.RLock()

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        with self._lock:
            try:
                return self._client.command(sql, parameters=parameters)
            except DriverError as exc:
                raise ClickHouseError(f"{self.description}: {_first_line(exc)}") from exc

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._client.query(sql, parameters=parameters).result_rows)
            except DriverError as exc:
                raise ClickHouseError(f"{self.description}: {_first_line(exc)}") from exc

    def query_dicts(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        with self._lock:
            try:
                result = self._client.query(sql, parameters=parameters)
            except DriverError as exc:
                raise ClickHouseError(f"{self.description}: {_first_line(exc)}") from exc
            return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        if not rows:
            return
        with self._lock:
            try:
                self._client.insert(table, rows, column_names=list(columns), database=self.database)
            except DriverError as exc:
                raise ClickHouseError(f"{self.description}: {_first_line(exc)}") from exc

    def close(self) -> None:
        """Close the connection; for chDB this frees the data directory for others."""
        with self._lock:
            self._client.close()
        if self.description.startswith("chdb://"):
            with _EMBEDDED_LOCK:
                _EMBEDDED.pop(self.description.removeprefix("chdb://"), None)

    def __enter__(self) -> ClickHouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(settings: Settings, *, retries: int = 10, wait: float = 0.5) -> ClickHouse:
    """Connect, waiting for a server that is still starting (bounded retries)."""
    if settings.clickhouse_url is None:
        return _embedded(settings.chdb_path.resolve(), settings.clickhouse_database)
    url = settings.clickhouse_url.get_secret_value()
    kwargs: dict[str, Any] = {"dsn": url}
    if settings.clickhouse_user:
        kwargs["username"] = settings.clickhouse_user
    if settings.clickhouse_password:
        kwargs["password"] = settings.clickhouse_password.get_secret_value()
    description = settings.safe_summary()["clickhouse"]
    for attempt in range(1, retries + 1):
        try:
            client = clickhouse_connect.get_client(**kwargs)
            return ClickHouse(client, settings.clickhouse_database, str(description))
        except Exception as exc:  # the driver raises several kinds while a server boots
            if attempt == retries:
                raise ClickHouseError(
                    f"cannot reach ClickHouse at {description} after {retries} attempts: "
                    f"{_first_line(exc)}"
                ) from exc
            log.warning("ClickHouse not reachable yet (%s), retrying", _first_line(exc))
            time.sleep(wait * attempt)
    raise AssertionError("unreachable")


def _embedded(path: Path, database: str) -> ClickHouse:
    """The process-wide embedded engine for `path` (chDB allows only one)."""
    key = str(path)
    with _EMBEDDED_LOCK:
        existing = _EMBEDDED.get(key)
        if existing is not None:
            return existing
        if _EMBEDDED:
            other = next(iter(_EMBEDDED))
            raise ClickHouseError(
                f"this process already opened the embedded ClickHouse at {other}; "
                f"chDB allows one data directory per process (asked for {key})"
            )
        path.mkdir(parents=True, exist_ok=True)
        try:
            client = clickhouse_connect.get_client(dsn=f"chdb://{path}")
        except Exception as exc:
            raise ClickHouseError(
                f"cannot open embedded ClickHouse at {path}: {_first_line(exc)} "
                "(is another process, such as a running worker, holding it?)"
            ) from exc
        _EMBEDDED[key] = ClickHouse(client, database, f"chdb://{path}")
        return _EMBEDDED[key]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:500] if text else type(exc).__name__
