"""Where `healthscore grafana publish` publishes to and what it sends there."""

from __future__ import annotations

from dataclasses import dataclass

from dashboards.build import datasource
from dashboards.build.variables import DEFAULT_DATABASE
from streams.alert_route import EVERY_ALERT, AlertRoute


@dataclass(frozen=True)
class Target:
    url: str
    token: str | None
    webhook_url: str
    clickhouse_url: str = datasource.COMPOSE_URL
    database: str = DEFAULT_DATABASE
    clickhouse_password: str | None = None
    timeout: float = 10.0
    route: AlertRoute = EVERY_ALERT
    """Which alerts reach the contact point (`streams.alert_route`)."""
