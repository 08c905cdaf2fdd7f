"""The boards as Grafana will read them: uids, data source, grid, variables."""

from __future__ import annotations

import json
import re
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
import yaml

import scoring
from dashboards.build.boards import BOARDS, QuadrantLines
from dashboards.build.generate import ROOT, generated, stale
from dashboards.build.macros import percent_encode

BOARD_FILES = sorted((ROOT / "boards").glob("*.json"))
DASHBOARDS = {p.stem: json.loads(p.read_text()) for p in BOARD_FILES}
PROVISIONED_UID = yaml.safe_load(
    (ROOT / "provisioning" / "datasources" / "clickhouse.yaml").read_text()
)["datasources"][0]["uid"]
USED_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


def _panels() -> list[tuple[str, dict[str, Any]]]:
    return [(stem, p) for stem, d in DASHBOARDS.items() for p in d["panels"]]


def _queries(dashboard: dict[str, Any]) -> list[str]:
    sql = [t["rawSql"] for p in dashboard["panels"] for t in p["targets"]]
    return sql + [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]


def test_committed_files_are_what_the_builders_generate():
    assert stale() == [], "run `python -m dashboards.build.generate` and commit the result"
    assert {f"boards/{p.name}" for p in BOARD_FILES} == {
        name for name in generated() if name.startswith("boards/")
    }


def test_dashboard_uids_are_unique_stable_and_at_most_40_characters():
    uids = [d["uid"] for d in DASHBOARDS.values()]
    assert len(set(uids)) == len(uids) == 5
    assert all(len(uid) <= 40 and re.fullmatch(r"[a-z0-9-]+", uid) for uid in uids)
    assert set(uids) == {b.uid for b in BOARDS.values()}
    assert all("id" not in d for d in DASHBOARDS.values()), "provisioned files carry no id"


@pytest.mark.parametrize(("stem", "panel"), _panels(), ids=[f"{s}#{p['id']}" for s, p in _panels()])
def test_every_panel_and_query_uses_the_provisioned_data_source(stem, panel):
    assert panel["datasource"]["uid"] == PROVISIONED_UID
    assert panel["datasource"]["type"] == "grafana-clickhouse-datasource"
    assert panel["targets"], f"{stem}: {panel['title']} has no query"
    for target in panel["targets"]:
        assert target["datasource"]["uid"] == PROVISIONED_UID
        assert target["editorType"] == "sql" and target["rawSql"].strip()


@pytest.mark.parametrize("stem", sorted(DASHBOARDS))
def test_panels_fit_the_24_column_grid_without_overlapping(stem):
    boxes = [p["gridPos"] for p in DASHBOARDS[stem]["panels"]]
    for g in boxes:
        assert g["x"] >= 0 and g["y"] >= 0 and g["w"] > 0 and g["h"] > 0
        assert g["x"] + g["w"] <= 24, g
    for a, b in combinations(boxes, 2):
        apart = (
            a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"]
            or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"]
        )  # fmt: skip
        assert apart, f"{stem}: {a} overlaps {b}"
    ids = [p["id"] for p in DASHBOARDS[stem]["panels"]]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("stem", sorted(DASHBOARDS))
def test_every_variable_a_query_uses_is_defined(stem):
    dashboard = DASHBOARDS[stem]
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"segment", "tier", "account", "database"} <= defined
    for sql in _queries(dashboard):
        used = {a or b for a, b in USED_VARIABLE.findall(sql)}
        undefined = {u for u in used if not u.startswith("__")} - defined
        assert not undefined, f"{stem}: {undefined} used but not defined in {sql[:80]}"


@pytest.mark.parametrize("stem", sorted(DASHBOARDS))
def test_segment_tier_and_account_are_clickhouse_queries_on_latest_score(stem):
    variables = {v["name"]: v for v in DASHBOARDS[stem]["templating"]["list"]}
    for name in ("segment", "tier", "account"):
        v = variables[name]
        assert v["type"] == "query" and v["datasource"]["uid"] == PROVISIONED_UID
        assert "${database}.latest_score" in v["query"]
        if v["includeAll"]:  # percent-encoded by Grafana, unchanged: must stay as it is
            assert v["allValue"] == "__all" == percent_encode(v["allValue"])
    assert variables["database"]["type"] == "constant"
    assert variables["database"]["query"] == "healthscore"
    assert variables["account"]["multi"] is (stem != "account")


def test_xychart_panels_carry_a_plugin_version_and_manual_series():
    xycharts = [(s, p) for s, p in _panels() if p["type"] == "xychart"]
    assert len(xycharts) >= 3  # the two quadrants and calibration
    for stem, panel in xycharts:
        assert re.fullmatch(r"\d+\.\d+\.\d+", panel.get("pluginVersion", "")), (
            stem,
            panel["title"],
        )
        assert panel["options"]["mapping"] == "manual"
        # xychart v2 matches frames by index only: series i is query i
        frames = [s["frame"]["matcher"] for s in panel["options"]["series"]]
        assert frames == [{"id": "byIndex", "options": i} for i in range(len(panel["targets"]))]


def test_both_quadrants_are_labelled_2x2_scatters():
    portfolio = DASHBOARDS["portfolio"]["panels"]
    success, readiness = (p for p in portfolio if p["type"] == "xychart")
    for panel, axes in ((success, ("customer_happiness", "company_happiness")),
                        (readiness, ("goal_clarity", "priority"))):  # fmt: skip
        names = [s["name"]["fixed"] for s in panel["options"]["series"]]
        assert len([n for n in names if not n.startswith("guide")]) == 4, names
        x = {s["x"]["matcher"]["options"] for s in panel["options"]["series"]}
        assert x == {axes[0]}
        assert all(f"signals['{a}']" in panel["targets"][0]["rawSql"] for a in axes)
    assert any("flight risk" in s["name"]["fixed"] for s in success["options"]["series"])
    assert any("wanderer" in s["name"]["fixed"] for s in readiness["options"]["series"])


def test_quadrant_lines_are_the_scoring_configs_thresholds():
    config = scoring.load_config()
    assert QuadrantLines() == QuadrantLines(
        customer=config.success_quadrant.customer_threshold,
        company=config.success_quadrant.company_threshold,
        clarity=config.readiness.clarity_threshold,
        priority=config.readiness.priority_threshold,
    )


def test_work_to_keep_lists_both_kinds_with_since_tier_risk_drivers_and_approach():
    panels = DASHBOARDS["work-to-keep"]["panels"]
    table = next(p for p in panels if p["type"] == "table")
    sql = table["targets"][0]["rawSql"]
    assert "success_quadrant LIKE 'work_to_keep:%'" in sql and "transitions" in sql
    order = table["transformations"][0]["options"]["indexByName"]
    assert {"since", "tier", "churn_risk", "drivers", "approach"} <= set(order)


def test_provider_and_compose_mounts_agree():
    provider = yaml.safe_load(
        (ROOT / "provisioning" / "dashboards" / "healthscore.yaml").read_text()
    )["providers"][0]
    compose = yaml.safe_load((Path(ROOT).parent / "docker-compose.yml").read_text())
    volumes = compose["services"]["grafana"]["volumes"]
    assert f"./dashboards/boards:{provider['options']['path']}:ro" in volumes
    assert "./dashboards/provisioning:/etc/grafana/provisioning:ro" in volumes


_TEMPLATE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)")


@pytest.mark.parametrize("stem", list(BOARDS))
def test_every_variable_reaches_the_sql_only_percent_encoded_inside_a_literal(stem):
    """Values are producers' account ids and segments: `${v:singlequote}` escapes `'` but
    not `\\`, so `x\\' OR 1=1 -- ` ended the literal. Percent-encoded, a value is only
    `[A-Za-z0-9-_.~%]`, inside quotes, decoded by ClickHouse."""
    dashboard = DASHBOARDS[stem]
    constants = {v["name"] for v in dashboard["templating"]["list"] if v["type"] == "constant"}
    queries = [t["rawSql"] for p in dashboard["panels"] for t in p.get("targets", [])]
    queries += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    seen = 0
    for sql in queries:
        for match in _TEMPLATE.finditer(sql):
            name = match[1] or match[3]
            if name.startswith("__") or name in constants:
                continue
            seen += 1
            assert match[2] == "percentencode", (stem, match[0])
            context = sql[match.start() - 20 : match.end() + 2]
            assert context == f"decodeURLComponent('{match[0]}')", (stem, context)
    assert seen
