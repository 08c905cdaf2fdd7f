"""grafana-client calls with healthscore's errors: clear words instead of HTTP noise."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

from dashboards.build.errors import (
    GrafanaAuthError,
    GrafanaError,
    GrafanaRequestError,
    GrafanaUnreachableError,
)
from streams.extras import MissingExtra

try:
    from grafana_client import GrafanaApi
    from grafana_client.client import (
        GrafanaClientError,
        GrafanaException,
        GrafanaTimeoutError,
        GrafanaUnauthorizedError,
    )
except ImportError as exc:
    raise MissingExtra("grafana_client", "publishing to Grafana") from exc

T = TypeVar("T")

TOKEN_HINT = (
    "use a service account token with the Admin role (it creates a folder, a data source, "
    "dashboards and alerting resources)"
)


def open_api(url: str, token: str | None, timeout: float) -> GrafanaApi:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise GrafanaError(f"--url {url!r} is not an http(s) URL of a Grafana")
    if not token and not (parts.username and parts.password):
        raise GrafanaAuthError(f"no token for {safe_url(url)}: pass --token or set GRAFANA_TOKEN")
    api: GrafanaApi = GrafanaApi.from_url(url, credential=token or None, timeout=timeout)
    return api


def safe_url(url: str) -> str:
    """The URL without user and password, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}".rstrip("/")


@contextmanager
def translated(url: str, action: str) -> Iterator[None]:
    """Turn grafana-client and connection errors into GrafanaError subclasses."""
    where = safe_url(url)
    try:
        yield
    except GrafanaUnauthorizedError as exc:
        raise GrafanaAuthError(
            f"Grafana at {where} refused the token (401 Unauthorized) while {action}: "
            f"{_message(exc)}. Check --token; {TOKEN_HINT}."
        ) from None
    except GrafanaTimeoutError as exc:
        raise GrafanaUnreachableError(
            f"Grafana at {where} did not answer in time while {action}: {exc.message}"
        ) from None
    except GrafanaClientError as exc:
        if exc.status_code == 403:
            raise GrafanaAuthError(
                f"the token may not do this on {where} (403 Forbidden) while {action}: "
                f"{_message(exc)}. {TOKEN_HINT[0].upper()}{TOKEN_HINT[1:]}."
            ) from None
        raise GrafanaRequestError(
            f"Grafana at {where} refused {action} ({exc.status_code}): {_message(exc)}"
        ) from None
    except GrafanaException as exc:
        raise GrafanaRequestError(f"Grafana at {where} failed {action}: {exc.message}") from None
    except OSError as exc:  # niquests' ConnectionError and friends are OSErrors
        raise GrafanaUnreachableError(
            f"cannot reach Grafana at {where} while {action}: {_first_line(exc)}. "
            "Is it running, and is --url right?"
        ) from None


def get_or_none(call: Callable[[], T]) -> T | None:
    """`call()`, or None when Grafana answers 404."""
    try:
        return call()
    except GrafanaClientError as exc:
        if exc.status_code == 404:
            return None
        raise


def _message(exc: GrafanaException) -> str:
    response: Any = exc.response
    if isinstance(response, dict) and response.get("message"):
        return str(response["message"])
    return str(exc.message)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
