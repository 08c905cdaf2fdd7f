"""Provisioning files: data source, alert rules, contact point, policy."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
import yaml

from dashboards.build import alerting, datasource
from dashboards.build.errors import GrafanaError
from dashboards.build.generate import ROOT
from dashboards.build.publish import add_route_arguments, route_from
from schemas.outputs import Severity
from streams.alert_route import AlertRoute

ALERTING = yaml.safe_load((ROOT / "provisioning" / "alerting" / "healthscore.yaml").read_text())
ALERTING_TEXT = (ROOT / "provisioning" / "alerting" / "healthscore.yaml").read_text()
DATASOURCE = yaml.safe_load((ROOT / "provisioning" / "datasources" / "clickhouse.yaml").read_text())
COMPOSE = yaml.safe_load((ROOT.parent / "docker-compose.yml").read_text())
USERS = (ROOT / "clickhouse" / "users.d" / "grafana.xml").read_text()


def test_the_data_source_is_the_clickhouse_plugin_with_a_pinned_uid_and_read_only_user():
    (ds,) = DATASOURCE["datasources"]
    assert ds["uid"] == "healthscore-ch" and ds["type"] == "grafana-clickhouse-datasource"
    assert ds["jsonData"]["username"] == "grafana"
    assert ds["jsonData"]["defaultDatabase"] == "healthscore"
    assert ds["secureJsonData"]["password"] == "$GRAFANA_CLICKHOUSE_PASSWORD"
    assert "<readonly>2</readonly>" in USERS and "<grafana>" in USERS
    grafana_env = COMPOSE["services"]["grafana"]["environment"]
    assert "GRAFANA_CLICKHOUSE_PASSWORD" in grafana_env
    assert grafana_env["GF_PLUGINS_PREINSTALL_SYNC"] == "grafana-clickhouse-datasource"


def test_api_data_source_points_wherever_grafana_reaches_clickhouse():
    body = datasource.api_body("https://ch.example.com", "prod", "secret")
    assert body["jsonData"] == {
        "host": "ch.example.com",
        "port": 8443,
        "protocol": "http",
        "secure": True,
        "username": "grafana",
        "defaultDatabase": "prod",
    }
    assert body["isDefault"] is False and body["secureJsonData"] == {"password": "secret"}
    native = datasource.json_data("clickhouse://ch:9000")
    assert native["protocol"] == "native" and native["port"] == 9000
    assert "secureJsonData" not in datasource.api_body("http://c:8123", "healthscore", None)


def test_only_the_intended_environment_references_use_a_dollar():
    # Grafana interpolates $VARS in provisioning files: a stray $labels or $__macro would vanish.
    assert set(re.findall(r"\$\{?(\w+)", ALERTING_TEXT)) == {"HEALTHSCORE_ALERT_WEBHOOK_URL"}


def test_rules_fire_one_instance_per_account_and_are_labelled_for_routing():
    (group,) = ALERTING["groups"]
    assert group["folder"] == alerting.FOLDER_TITLE and group["interval"] == "60s"
    uids = [r["uid"] for r in group["rules"]]
    assert uids == ["hs-entered-work-to-keep", "hs-churn-risk-high"]
    assert all(len(uid) <= 40 for uid in uids)
    for rule in group["rules"]:
        query, reduce, threshold = rule["data"]
        assert query["datasourceUid"] == "healthscore-ch"
        sql = query["model"]["rawSql"]
        assert sql.startswith("SELECT account_id, tier,") and "FROM healthscore.latest_score" in sql
        assert query["model"]["format"] == 1  # table: one alert instance per row
        assert reduce["model"]["type"] == "reduce" and threshold["model"]["type"] == "threshold"
        assert rule["condition"] == threshold["refId"]
        assert rule["labels"]["healthscore"] == "true"
    assert "work_to_keep:%" in group["rules"][0]["data"][0]["model"]["rawSql"]


def test_the_webhook_comes_from_the_environment_compose_passes_to_grafana():
    (point,) = ALERTING["contactPoints"]
    (receiver,) = point["receivers"]
    assert receiver["type"] == "webhook"
    assert receiver["settings"]["url"] == "$HEALTHSCORE_ALERT_WEBHOOK_URL"
    assert "HEALTHSCORE_ALERT_WEBHOOK_URL" in COMPOSE["services"]["grafana"]["environment"]


def test_the_policy_routes_healthscore_alerts_by_tier():
    (policy,) = ALERTING["policies"]
    (route,) = policy["routes"]
    assert route["object_matchers"] == [["healthscore", "=", "true"]]
    tiers = [r["object_matchers"][0] for r in route["routes"]]
    assert tiers == [["tier", "=", t] for t in ("must_have", "want_to_have", "nice_to_have")]
    repeat = [r["repeat_interval"] for r in route["routes"]]
    assert repeat == ["4h", "12h", "24h"]  # must-haves hear about it most often


def test_merging_the_policy_keeps_other_routes_and_never_duplicates_ours():
    tree = {
        "receiver": "email",
        "routes": [{"receiver": "ops", "object_matchers": [["team", "=", "ops"]]}],
    }
    once = alerting.merge_policy(tree)
    twice = alerting.merge_policy(once)
    assert once == twice
    assert [r["receiver"] for r in once["routes"]] == ["healthscore-webhook", "ops"]
    assert once["receiver"] == "email"


def test_dashboards_and_rules_share_one_folder():
    provider = yaml.safe_load(
        (ROOT / "provisioning" / "dashboards" / "healthscore.yaml").read_text()
    )["providers"][0]
    assert provider["folder"] == ALERTING["groups"][0]["folder"] == alerting.FOLDER_TITLE
    assert Path(ROOT / "boards").is_dir()


def test_the_committed_rules_pass_every_alert_and_a_route_pauses_the_kinds_it_leaves_out():
    (group,) = ALERTING["groups"]
    assert [r["isPaused"] for r in group["rules"]] == [False, False]
    assert all("severity IN" not in r["data"][0]["model"]["rawSql"] for r in group["rules"])
    route = AlertRoute(Severity.HIGH, frozenset({"churn_risk_high"}))
    (tuned,) = alerting.provisioning_file(route=route)["groups"]
    paused = {r["labels"]["alert_kind"]: r["isPaused"] for r in tuned["rules"]}
    assert paused == {"entered_work_to_keep": True, "churn_risk_high": False}
    for rule in tuned["rules"]:
        assert rule["data"][0]["model"]["rawSql"].endswith("AND severity IN ('high', 'critical')")


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        ([], {}, AlertRoute()),
        (
            [],
            {"HEALTHSCORE_ALERT_MIN_SEVERITY": "high", "HEALTHSCORE_ALERT_KINDS": "health_drop"},
            AlertRoute(Severity.HIGH, frozenset({"health_drop"})),
        ),
        (
            ["--min-severity", "critical", "--kinds", "all"],
            {"HEALTHSCORE_ALERT_MIN_SEVERITY": "high", "HEALTHSCORE_ALERT_KINDS": "health_drop"},
            AlertRoute(Severity.CRITICAL),
        ),
    ],
)
def test_publish_takes_the_route_from_its_flags_else_the_settings_names(argv, environ, expected):
    parser = argparse.ArgumentParser()
    add_route_arguments(parser)
    assert route_from(parser.parse_args(argv), environ) == expected


def test_publish_refuses_an_unknown_kind():
    parser = argparse.ArgumentParser()
    add_route_arguments(parser)
    with pytest.raises(GrafanaError, match="payment_late"):
        route_from(parser.parse_args(["--kinds", "payment_late"]), {})
