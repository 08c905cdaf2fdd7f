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
from clickhouse_connect.driver.exceptions import DataError, OperationalError

from streams.errors import ClickHouseError
from streams.settings import Settings

log = logging.getLogger(__name__)

# ClickHouse error codes that say nothing against the rows of an insert: the server is
# overloaded or shutting down, a replica or Keeper is away, or its schema, users or disks
# are not as they should be. Time or an operator fixes these, so the writer retries them
# for as long as it takes (with backoff). Every other code is the server refusing the
# rows themselves (a value it cannot parse or store, a constraint, too many partitions in
# one insert, ...): retried a few times, then dead-lettered (see `ClickHouseWriter`).
TOO_MANY_PARTS = 252  # also "Too many partitions for single INSERT block": see is_transient
TRANSIENT_CODES = frozenset({
    16,   # NO_SUCH_COLUMN_IN_TABLE: a migration not applied yet
    60,   # UNKNOWN_TABLE
    81,   # UNKNOWN_DATABASE
    159,  # TIMEOUT_EXCEEDED
    160,  # TOO_SLOW
    164,  # READONLY
    192,  # UNKNOWN_USER
    193,  # WRONG_PASSWORD
    194,  # REQUIRED_PASSWORD
    201,  # QUOTA_EXCEEDED
    202,  # TOO_MANY_SIMULTANEOUS_QUERIES
    203,  # NO_FREE_CONNECTION
    209,  # SOCKET_TIMEOUT
    210,  # NETWORK_ERROR
    236,  # ABORTED
    241,  # MEMORY_LIMIT_EXCEEDED
    242,  # TABLE_IS_READ_ONLY
    243,  # NOT_ENOUGH_SPACE
    252,  # TOO_MANY_PARTS: merges are behind
    285,  # TOO_FEW_LIVE_REPLICAS
    286,  # UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE
    319,  # UNKNOWN_STATUS_OF_INSERT
    394,  # QUERY_WAS_CANCELLED
    425,  # SYSTEM_ERROR
    439,  # CANNOT_SCHEDULE_TASK
    497,  # ACCESS_DENIED
    516,  # AUTHENTICATION_FAILED
    999,  # KEEPER_EXCEPTION
})  # fmt: skip


class InsertError(ClickHouseError):
    """An insert failed: `transient` (retry until it works) or the rows were refused."""

    def __init__(self, message: str, *, code: int | None, transient: bool) -> None:
        super().__init__(message)
        self.code = code
        self.transient = transient


def is_transient(exc: BaseException) -> bool:
    """Whether an insert that raised `exc` may succeed later with the same rows.

    Connection problems (clickhouse-connect's OperationalError) and errors without a
    ClickHouse code (an HTTP proxy's 502, a closed client) are transient, and so are the
    codes in TRANSIENT_CODES. Code 252 is both "too many parts" (transient: merges are
    behind) and "too many partitions for single INSERT block" (the rows' time range: not
    transient). The client failing to encode a value (its DataError, or a ValueError,
    TypeError, OverflowError ... raised while serialising) is not transient.
    """
    if isinstance(exc, OperationalError):
        return True
    if isinstance(exc, DataError) or not isinstance(exc, DriverError):
        return False
    code = getattr(exc, "code", None)
    if code is None:
        return True
    if code == TOO_MANY_PARTS:
        return "partitions for single insert" not in str(exc).lower()
    return code in TRANSIENT_CODES


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
        """Insert rows; raise `InsertError`, saying whether a retry may succeed."""
        if not rows:
            return
        with self._lock:
            try:
                self._client.insert(table, rows, column_names=list(columns), database=self.database)
            except Exception as exc:  # the driver's errors, or a value it could not encode
                raise InsertError(
                    f"{self.description}: {_first_line(exc)}",
                    code=getattr(exc, "code", None) if isinstance(exc, DriverError) else None,
                    transient=is_transient(exc),
                ) from exc

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
