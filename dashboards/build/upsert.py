"""The upserts behind `healthscore grafana publish`, in dependency order.

Folder, data source, dashboards, contact point, alert rules, notification
policy (healthscore's route goes first among the existing routes; the rest of
the tree is kept). Each resource has a pinned uid: looked up, then created or
updated, never duplicated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dashboards.build import alerting, datasource
from dashboards.build.api import get_or_none, open_api, safe_url, translated
from dashboards.build.boards import BOARDS, Board
from dashboards.build.panels import DATASOURCE_UID

if TYPE_CHECKING:
    from dashboards.build.target import Target

MESSAGE = "published by healthscore grafana publish"


class Publisher:
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
        build = self.call("reading its version", self.api.health.check) or {}
        lines = [f"Grafana {build.get('version', '?')} at {self.base}"]
        lines += [self.folder(), *self.datasource()]
        lines += [self.dashboard(board) for board in BOARDS.values()]
        lines.append(self.contact_point())
        rules = alerting.account_rules(self.target.database, self.target.route)
        lines += [self.rule(rule) for rule in rules]
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
        if existing is not None and existing.get("readOnly"):
            return [f"data source {DATASOURCE_UID}: provisioned from a file, left as is"]
        if existing is None:
            self.call("creating the data source", sources.create_datasource, body)
            done, missing = "created", "no password set: export it and publish again"
        else:  # Grafana keeps the stored password when the body has none
            self.call("updating the data source", sources.update_datasource_by_uid,
                      DATASOURCE_UID, body)  # fmt: skip
            done, missing = "updated", "password left as it was"
        lines = [f"data source {DATASOURCE_UID}: {done}"]
        if t.clickhouse_password is None:
            lines.append(f"  ${datasource.PASSWORD_ENV} is not set: {missing}")
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
        body = alerting.api_rule(rule, self.target.route)
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
