"""`healthscore grafana publish` against recorded Grafana API responses.

The requests it makes are checked (methods, paths, bodies: uids, overwrite
flags, folder uid), as is idempotence: a second publish updates, never adds.
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import Iterator

import pytest

from dashboards.build.alerting import CONTACT_POINT_UID, FOLDER_UID, RULE_GROUP
from dashboards.build.boards import BOARDS
from dashboards.build.errors import (
    GrafanaAuthError,
    GrafanaError,
    GrafanaUnreachableError,
)
from dashboards.build.publish import Target, build_parser, publish, run
from tests.unit.dashboards.build.grafana_replay import FakeGrafana

TOKEN = "glsa_recorded_token"
WEBHOOK = "https://hooks.example.com/healthscore"
BOARD_UIDS = {b.uid for b in BOARDS.values()}
RULES = ["hs-entered-work-to-keep", "hs-churn-risk-high"]


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    with FakeGrafana(token=TOKEN) as fake:
        yield fake


def target(url: str, token: str | None = TOKEN, **kw: object) -> Target:
    return Target(url=url, token=token, webhook_url=WEBHOOK, clickhouse_password="pw", **kw)  # type: ignore[arg-type]


def bodies(grafana: FakeGrafana, method: str, path: str, since: int = 0) -> list[dict]:
    return [r.body for r in grafana.requests[since:] if (r.method, r.path) == (method, path)]


def test_first_publish_creates_everything_in_order(grafana):
    lines = publish(target(grafana.url))

    rule_calls = [c for uid in RULES for c in (
        ("GET", f"/api/v1/provisioning/alert-rules/{uid}"),
        ("POST", "/api/v1/provisioning/alert-rules"))]  # fmt: skip
    assert grafana.calls() == [
        ("GET", "/api/frontend/settings"),
        ("GET", f"/api/folders/{FOLDER_UID}"),
        ("POST", "/api/folders"),
        ("GET", "/api/datasources/uid/healthscore-ch"),
        ("POST", "/api/datasources"),
        *[("POST", "/api/dashboards/db")] * 5,
        ("GET", "/api/v1/provisioning/contact-points"),
        ("POST", "/api/v1/provisioning/contact-points"),
        *rule_calls,
        ("GET", "/api/v1/provisioning/policies"),
        ("PUT", "/api/v1/provisioning/policies"),
    ]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in grafana.requests)
    assert bodies(grafana, "POST", "/api/folders") == [{"title": "Healthscore", "uid": FOLDER_UID}]
    (ds,) = bodies(grafana, "POST", "/api/datasources")
    assert ds["uid"] == "healthscore-ch" and ds["type"] == "grafana-clickhouse-datasource"
    assert ds["jsonData"]["username"] == "grafana" and ds["secureJsonData"] == {"password": "pw"}
    saved = bodies(grafana, "POST", "/api/dashboards/db")
    assert {b["dashboard"]["uid"] for b in saved} == BOARD_UIDS
    assert all(b["overwrite"] is True and b["folderUid"] == FOLDER_UID for b in saved)
    assert all(b["dashboard"]["id"] is None for b in saved)
    (point,) = bodies(grafana, "POST", "/api/v1/provisioning/contact-points")
    assert point["uid"] == CONTACT_POINT_UID and point["settings"]["url"] == WEBHOOK
    rules = bodies(grafana, "POST", "/api/v1/provisioning/alert-rules")
    assert [r["uid"] for r in rules] == RULES
    assert all(r["folderUID"] == FOLDER_UID and r["ruleGroup"] == RULE_GROUP for r in rules)
    (policy,) = bodies(grafana, "PUT", "/api/v1/provisioning/policies")
    put = next(r for r in grafana.requests if r.path.endswith("/policies") and r.method == "PUT")
    assert put.headers["x-disable-provenance"] == "true"  # the shared tree stays editable
    assert [r["receiver"] for r in policy["routes"]] == ["healthscore-webhook", "ops-pager"]
    assert policy["receiver"] == "grafana-default-email"  # the root stays the owner's
    assert lines[0] == f"Grafana 12.2.0 at {grafana.url}"
    assert any(line.startswith("dashboard hs-portfolio: saved, version 1") for line in lines)


def test_second_publish_updates_and_never_duplicates(grafana):
    publish(target(grafana.url))
    first = len(grafana.requests)
    lines = publish(target(grafana.url))

    calls = grafana.calls(since=first)
    assert ("POST", "/api/folders") not in calls
    assert ("POST", "/api/datasources") not in calls
    assert ("PUT", "/api/datasources/uid/healthscore-ch") in calls
    assert ("POST", "/api/v1/provisioning/contact-points") not in calls
    assert ("PUT", f"/api/v1/provisioning/contact-points/{CONTACT_POINT_UID}") in calls
    assert ("POST", "/api/v1/provisioning/alert-rules") not in calls
    assert [c for c in calls if c[0] == "PUT" and "alert-rules" in c[1]] == [
        ("PUT", f"/api/v1/provisioning/alert-rules/{uid}") for uid in RULES
    ]
    assert ("PUT", "/api/v1/provisioning/policies") not in calls  # already current
    state = grafana.state
    assert (len(state.folders), len(state.datasources), len(state.contact_points)) == (1, 1, 1)
    assert set(state.dashboards) == BOARD_UIDS
    assert {d["version"] for d in state.dashboards.values()} == {2}
    assert set(state.rules) == set(RULES)
    healthscore_routes = [
        r for r in state.policy["routes"] if r["receiver"] == "healthscore-webhook"
    ]
    assert len(healthscore_routes) == 1
    assert "folder healthscore: exists" in lines
    assert "notification policy: healthscore route already current" in lines


def test_a_bad_token_is_a_clear_error(grafana):
    with pytest.raises(GrafanaAuthError) as error:
        publish(target(grafana.url, token="glsa_wrong"))
    message = str(error.value)
    assert "401 Unauthorized" in message and "Invalid API key" in message
    assert "--token" in message and grafana.url in message
    assert "glsa_wrong" not in message
    assert grafana.calls() == [("GET", "/api/frontend/settings")]


def test_a_token_without_permission_is_a_clear_error():
    with FakeGrafana(token=TOKEN, forbidden=frozenset({("POST", "/api/folders")})) as grafana:
        with pytest.raises(GrafanaAuthError, match=r"403 Forbidden.*creating the folder"):
            publish(target(grafana.url))
        assert grafana.state.dashboards == {}


def test_an_unreachable_grafana_is_a_clear_error():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(
        GrafanaUnreachableError, match=rf"cannot reach Grafana at http://127.0.0.1:{port}"
    ):
        publish(target(f"http://127.0.0.1:{port}", timeout=2.0))


def test_no_token_is_refused_before_any_request(grafana):
    with pytest.raises(GrafanaAuthError, match="GRAFANA_TOKEN"):
        publish(target(grafana.url, token=None))
    assert grafana.requests == []


def test_a_data_source_provisioned_from_a_file_is_left_alone(grafana):
    grafana.state.datasources["healthscore-ch"] = {"uid": "healthscore-ch", "readOnly": True,
                                                   "version": 1}  # fmt: skip
    lines = publish(target(grafana.url))
    assert ("PUT", "/api/datasources/uid/healthscore-ch") not in grafana.calls()
    assert "data source healthscore-ch: provisioned from a file, left as is" in lines


def test_another_database_reaches_the_boards_and_the_rules(grafana):
    publish(target(grafana.url, database="analytics"))
    dashboard = grafana.state.dashboards["hs-portfolio"]["dashboard"]
    database = next(v for v in dashboard["templating"]["list"] if v["name"] == "database")
    assert database["query"] == "analytics"
    assert all("FROM analytics.latest_score" in r["data"][0]["model"]["rawSql"]
               for r in grafana.state.rules.values())  # fmt: skip
    assert grafana.state.datasources["healthscore-ch"]["jsonData"]["defaultDatabase"] == "analytics"


def test_the_command_line_publishes_with_url_token_and_env(grafana, monkeypatch, capsys):
    monkeypatch.setenv("HEALTHSCORE_ALERT_WEBHOOK_URL", WEBHOOK)
    monkeypatch.delenv("GRAFANA_CLICKHOUSE_PASSWORD", raising=False)
    parser = argparse.ArgumentParser(prog="healthscore")
    build_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["grafana", "publish", "--url", grafana.url, "--token", TOKEN])
    assert args.func is run
    assert run(args) == 0
    out = capsys.readouterr().out
    assert "folder healthscore: created" in out and "alert rule hs-churn-risk-high: created" in out
    assert "GRAFANA_CLICKHOUSE_PASSWORD" in out  # says the password was not set
    assert len(grafana.state.dashboards) == 5


def test_the_command_line_needs_a_url_and_a_webhook(monkeypatch):
    for name in ("GRAFANA_URL", "HEALTHSCORE_ALERT_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    parser = argparse.ArgumentParser(prog="healthscore")
    build_parser(parser.add_subparsers(dest="command"))
    with pytest.raises(GrafanaError, match="--url"):
        run(parser.parse_args(["grafana", "publish"]))
    with pytest.raises(GrafanaError, match="--webhook-url"):
        run(parser.parse_args(["grafana", "publish", "--url", "http://g:3000"]))
