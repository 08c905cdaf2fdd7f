"""`healthscore grafana publish`: upsert everything into a running Grafana.

Idempotent: each resource has a pinned uid and is looked up first, then
created or updated, never duplicated. Order: folder, data source,
dashboards, contact point, alert rules, notification policy (healthscore's
route, first among the existing ones; the rest of the tree is kept).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streams.grafana import alerting, datasource
from streams.grafana.api import get_or_none, open_api, safe_url, translated
from streams.grafana.boards import BOARDS, Board
from streams.grafana.errors import GrafanaError
from streams.grafana.panels import DATASOURCE_UID
from streams.grafana.variables import DEFAULT_DATABASE

MESSAGE = "published by healthscore grafana publish"


@dataclass(frozen=True)
class Target:
    url: str
    token: str | None
    webhook_url: str
    clickhouse_url: str = datasource.COMPOSE_URL
    database: str = DEFAULT_DATABASE
    clickhouse_password: str | None = None
    timeout: float = 10.0


def publish(target: Target) -> list[str]:
    """Publish and return one line per resource saying what happened."""
    return _Publisher(target).run()


class _Publisher:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.api = open_api(target.url, target.token, target.timeout)
        self.base = safe_url(target.url)
        self.alerting = self.api.alertingprovisioning

    def call(self, action: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with translated(self.target.url, action):
            return fn(*args, **kwargs)

    def find(self, action: str, fn: Callable[[], Any]) -> Any:
        """`fn()`, or None when Grafana says 404."""
        return self.call(action, get_or_none, fn)

    def run(self) -> list[str]:
        health = self.call("checking its health", self.api.health.check)
        lines = [f"Grafana {health.get('version', '?')} at {self.base}"]
        lines += [self.folder(), *self.datasource()]
        lines += [self.dashboard(board) for board in BOARDS.values()]
        lines.append(self.contact_point())
        lines += [self.rule(rule) for rule in alerting.account_rules(self.target.database)]
        lines.append(self.policy())
        return lines

    def folder(self) -> str:
        uid = alerting.FOLDER_UID
        if self.find("reading the folder", lambda: self.api.folder.get_folder(uid)) is not None:
            return f"folder {uid}: exists"
        self.call("creating the folder", self.api.folder.create_folder, alerting.FOLDER_TITLE,
                  uid=uid)  # fmt: skip
        return f"folder {uid}: created"

    def datasource(self) -> list[str]:
        t = self.target
        body = datasource.api_body(t.clickhouse_url, t.database, t.clickhouse_password)
        sources = self.api.datasource
        existing = self.find(
            "reading the data source", lambda: sources.get_datasource_by_uid(DATASOURCE_UID)
        )
        if existing is None:
            self.call("creating the data source", sources.create_datasource, body)
            lines = [f"data source {DATASOURCE_UID}: created"]
        elif existing.get("readOnly"):
            return [f"data source {DATASOURCE_UID}: provisioned from a file, left as is"]
        else:
            self.call("updating the data source", sources.update_datasource_by_uid,
                      DATASOURCE_UID, body)  # fmt: skip
            lines = [f"data source {DATASOURCE_UID}: updated"]
        if t.clickhouse_password is None:
            lines.append(f"  no ${datasource.PASSWORD_ENV}: the data source password is not set")
        return lines

    def dashboard(self, board: Board) -> str:
        body = {
            "dashboard": {**board.dashboard(self.target.database), "id": None},
            "folderUid": alerting.FOLDER_UID,
            "overwrite": True,
            "message": MESSAGE,
        }
        saved = self.call(
            f"saving dashboard {board.uid}", self.api.dashboard.update_dashboard, body
        )
        return (
            f"dashboard {board.uid}: saved, version {saved.get('version')}: "
            f"{self.base}{saved.get('url', '')}"
        )

    def contact_point(self) -> str:
        body = alerting.contact_point(self.target.webhook_url)
        found = self.call("reading contact points", self.alerting.get_contactpoints,
                          name=alerting.CONTACT_POINT) or []  # fmt: skip
        if any(c.get("uid") == alerting.CONTACT_POINT_UID for c in found):
            self.call("updating the contact point", self.alerting.update_contactpoint,
                      alerting.CONTACT_POINT_UID, body)  # fmt: skip
            return f"contact point {alerting.CONTACT_POINT}: updated"
        self.call("creating the contact point", self.alerting.create_contactpoint, body)
        return f"contact point {alerting.CONTACT_POINT}: created"

    def rule(self, rule: alerting.AccountRule) -> str:
        body = alerting.api_rule(rule)
        if self.find(f"reading alert rule {rule.uid}",
                     lambda: self.alerting.get_alertrule(rule.uid)) is None:  # fmt: skip
            self.call(f"creating alert rule {rule.uid}", self.alerting.create_alertrule, body)
            return f"alert rule {rule.uid}: created"
        self.call(f"updating alert rule {rule.uid}", self.alerting.update_alertrule, rule.uid,
                  body)  # fmt: skip
        return f"alert rule {rule.uid}: updated"

    def policy(self) -> str:
        tree = self.call(
            "reading the notification policy", self.alerting.get_notification_policy_tree
        )
        merged = alerting.merge_policy(tree)
        if merged == tree:
            return "notification policy: healthscore route already current"
        # Without provenance the tree stays editable in the UI: other teams share it.
        self.call("updating the notification policy",
                  self.alerting.set_notification_policy_tree, merged,
                  disable_provenance=True)  # fmt: skip
        return "notification policy: healthscore route (by tier) set"


# --- command line ----------------------------------------------------------------


def build_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `grafana publish` to the `healthscore` command's subparsers."""
    grafana = subparsers.add_parser("grafana", help="publish boards and alert rules to Grafana")
    actions = grafana.add_subparsers(dest="grafana_command", required=True, metavar="ACTION")
    p = actions.add_parser(
        "publish",
        help="upsert folder, data source, dashboards, alert rules and contact point",
        description="Idempotently upsert healthscore's folder, ClickHouse data source, "
        "dashboards, alert rules, contact point and notification route into a running "
        f"Grafana. The data source password comes from ${datasource.PASSWORD_ENV}.",
    )
    p.add_argument("--url", help="Grafana URL (default: $GRAFANA_URL)")
    p.add_argument("--token", help="service account token (default: $GRAFANA_TOKEN)")
    p.add_argument(
        "--webhook-url",
        help=f"where alerts are sent (default: ${alerting.WEBHOOK_ENV})",
    )
    p.add_argument(
        "--clickhouse-url",
        default=datasource.COMPOSE_URL,
        help="ClickHouse as Grafana reaches it: http(s)://host:port or clickhouse://host:9000 "
        f"(default {datasource.COMPOSE_URL})",
    )
    p.add_argument(
        "--database", default=DEFAULT_DATABASE, help=f"ClickHouse database ({DEFAULT_DATABASE})"
    )
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per request (10)")
    p.set_defaults(func=run)
    return grafana


def run(args: argparse.Namespace) -> int:
    url = args.url or os.environ.get("GRAFANA_URL")
    if not url:
        raise GrafanaError("no Grafana URL: pass --url or set GRAFANA_URL")
    webhook = args.webhook_url or os.environ.get(alerting.WEBHOOK_ENV)
    if not webhook:
        raise GrafanaError(f"no webhook URL: pass --webhook-url or set {alerting.WEBHOOK_ENV}")
    target = Target(
        url=url,
        token=args.token or os.environ.get("GRAFANA_TOKEN"),
        webhook_url=webhook,
        clickhouse_url=args.clickhouse_url,
        database=args.database,
        clickhouse_password=os.environ.get(datasource.PASSWORD_ENV),
        timeout=args.timeout,
    )
    for line in publish(target):
        print(line)
    return 0
