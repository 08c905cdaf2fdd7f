"""The ClickHouse data source, for the provisioning file and for the API.

The uid is pinned (`healthscore-ch`): every panel and alert rule names it, so
boards work on any Grafana the data source was published to.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from dashboards.build.errors import GrafanaError
from dashboards.build.panels import DATASOURCE_UID, JSON, PLUGIN_ID
from dashboards.build.variables import DEFAULT_DATABASE

NAME = "healthscore-clickhouse"
READ_ONLY_USER = "grafana"
PASSWORD_ENV = "GRAFANA_CLICKHOUSE_PASSWORD"
COMPOSE_URL = "http://clickhouse:8123"
_PORTS = {"http": 8123, "https": 8443, "clickhouse": 9000, "clickhouses": 9440}


def json_data(url: str = COMPOSE_URL, database: str = DEFAULT_DATABASE) -> JSON:
    """Plugin v4 settings for a ClickHouse URL: http(s):// or clickhouse(s):// (native)."""
    parts = urlsplit(url)
    if parts.scheme not in _PORTS or not parts.hostname:
        raise GrafanaError(
            f"ClickHouse URL {url!r} must look like http://host:8123, https://host:8443 or "
            "clickhouse://host:9000 (as Grafana, not this machine, reaches it)"
        )
    return {
        "host": parts.hostname,
        "port": parts.port or _PORTS[parts.scheme],
        "protocol": "http" if parts.scheme.startswith("http") else "native",
        "secure": parts.scheme in ("https", "clickhouses"),
        "username": READ_ONLY_USER,
        "defaultDatabase": database,
    }


def api_body(url: str, database: str, password: str | None) -> JSON:
    """Body of POST /api/datasources and PUT /api/datasources/uid/<uid>."""
    body: JSON = {
        "uid": DATASOURCE_UID,
        "name": NAME,
        "type": PLUGIN_ID,
        "access": "proxy",
        "isDefault": False,  # someone else's Grafana: do not take over its default
        "jsonData": json_data(url, database),
    }
    if password is not None:
        body["secureJsonData"] = {"password": password}
    return body


def provisioning_file() -> dict[str, Any]:
    """`dashboards/provisioning/datasources/clickhouse.yaml` as data (compose network)."""
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": NAME,
                "uid": DATASOURCE_UID,
                "type": PLUGIN_ID,
                "access": "proxy",
                "isDefault": True,
                "editable": False,
                "jsonData": json_data(),
                "secureJsonData": {"password": f"${PASSWORD_ENV}"},
            }
        ],
    }
