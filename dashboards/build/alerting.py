"""Alert rules, contact point and notification policy, for files and for the API.

Each rule's query returns one row per account: `account_id`, `tier` and other
string columns (they become the labels of one alert instance per account) and
exactly one number (the value the threshold compares). The `severity` label is
the scoring core's tier x urgency matrix (`scoring.alerts.severity`), the
urgency read from the latest score (see `severity_sql`). The notification
policy routes on the `tier` label: must-haves fast and often (one-to-one),
nice-to-haves batched (one-to-many), as seed 003 would engage them.

An `AlertRoute` (`streams.alert_route`: `HEALTHSCORE_ALERT_MIN_SEVERITY`,
`HEALTHSCORE_ALERT_KINDS`) decides what reaches the contact point: a rule of a
kind it leaves out is paused, and each query keeps only the rows at or above
its minimum severity, so no instance below it ever fires.

No `$` appears in rules: Grafana interpolates environment variables in
provisioning files, so `$labels` or a `$__` macro would be silently eaten.
Templates use `.Labels`; queries use plain ClickHouse time functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dashboards.build.panels import DATASOURCE, DATASOURCE_UID, FORMAT_TABLE, JSON
from dashboards.build.variables import DEFAULT_DATABASE
from scoring import ScoringConfig, load_config
from scoring.config_sections import URGENCIES
from streams.alert_route import EVERY_ALERT, AlertRoute

FOLDER_UID = "healthscore"
FOLDER_TITLE = "Healthscore"
RULE_GROUP = "healthscore-accounts"
INTERVAL_SECONDS = 60
CONTACT_POINT = "healthscore-webhook"
CONTACT_POINT_UID = "hs-webhook"
WEBHOOK_ENV = "HEALTHSCORE_ALERT_WEBHOOK_URL"
CHURN_ALERT_THRESHOLD = 0.5
ROUTE_MATCHER = ["healthscore", "=", "true"]
EXPR: JSON = {"type": "__expr__", "uid": "__expr__"}


def _pair(value: str, thresholds: tuple[float, float]) -> str:
    return f"({value} >= {thresholds[0]:g}) + ({value} >= {thresholds[1]:g})"


def severity_sql(kind: str, config: ScoringConfig) -> str:
    """The `severity` column: tier x urgency as `scoring.alerts.severity` computes it, from
    the latest score's columns. The kind's urgency is raised (if `raised_by_risk`) by churn
    risk, by the ARR at risk (churn risk x 12 x MRR: the open-expansion uplift is not in the
    table) and by the speed of the drop, read as the fall of the 7-day trend."""
    a = config.alerts
    spec = getattr(a.kinds, kind)
    urgency = str(URGENCIES.index(spec.urgency))
    if spec.raised_by_risk:
        risk = "ifNull(churn_risk, 0)"
        u = a.urgency
        urgency = (
            f"greatest({urgency}, {_pair(risk, u.churn_risk)}, "
            f"{_pair(f'{risk} * 12 * mrr', u.arr_at_risk)}, "
            f"{_pair('-ifNull(trend_7d, 0)', u.health_drop_points)})"
        )
    rows = {t: [s.value for s in getattr(a.severity, t)] for t in type(a.severity).model_fields}
    matrix = ", ".join(f"tier = '{t}', {row}" for t, row in rows.items() if t != "nice_to_have")
    return (
        f"arrayElement(multiIf({matrix}, {rows['nice_to_have']}), toUInt8(1 + {urgency})) "
        "AS severity"
    )


def _admitted(route: AlertRoute) -> str:
    """A WHERE condition keeping the rows whose severity the route admits ('' for every one)."""
    if route.min_severity == EVERY_ALERT.min_severity:
        return ""
    names = ", ".join(f"'{s.value}'" for s in route.severities)
    return f"\n  AND severity IN ({names})"


@dataclass(frozen=True, slots=True)
class AccountRule:
    uid: str
    title: str
    kind: str
    sql: str
    threshold: float
    summary: str
    description: str


def account_rules(
    database: str = DEFAULT_DATABASE,
    route: AlertRoute = EVERY_ALERT,
    config: ScoringConfig | None = None,
) -> list[AccountRule]:
    """Every rule (a kind the route leaves out is paused: `rule_body`), each query keeping
    the rows at or above the route's minimum severity."""
    config = config or load_config()
    latest = f"{database}.latest_score FINAL"
    keep = _admitted(route)
    link = 'Account board: /d/hs-account/?var-account={{ index .Labels "account_id" }}'
    who = '{{ index .Labels "account_id" }} ({{ index .Labels "tier" }})'
    return [
        AccountRule(
            uid="hs-entered-work-to-keep",
            title="Account entered work to keep",
            kind="entered_work_to_keep",
            sql=f"""SELECT account_id, tier, segment, engagement,
       {severity_sql("entered_work_to_keep", config)},
       toString(assumeNotNull(success_quadrant)) AS quadrant,
       toFloat64(1) AS in_work_to_keep
FROM {latest}
WHERE success_quadrant LIKE 'work_to_keep:%' AND cancelled = 0{keep}""",
            threshold=0.0,
            summary=f'{who} is in {{{{ index .Labels "quadrant" }}}}',
            description="Profitable but unhappy (flight risk) or happy but costly "
            "(unprofitable): engage it the "
            '{{ index .Labels "engagement" }} way. ' + link,
        ),
        AccountRule(
            uid="hs-churn-risk-high",
            title="Churn risk above threshold",
            kind="churn_risk_high",
            sql=f"""SELECT account_id, tier, segment, engagement,
       {severity_sql("churn_risk_high", config)},
       toFloat64(assumeNotNull(churn_risk)) AS churn_risk
FROM {latest}
WHERE churn_risk > {CHURN_ALERT_THRESHOLD} AND cancelled = 0{keep}""",
            threshold=CHURN_ALERT_THRESHOLD,
            summary=f'{who} churn risk is {{{{ humanizePercentage (index .Values "B").Value }}}}',
            description=f"Probability of cancelling within the model's horizon above "
            f"{CHURN_ALERT_THRESHOLD:.0%}. See its churn drivers. " + link,
        ),
    ]


def _data(rule: AccountRule) -> list[JSON]:
    return [
        {
            "refId": "A",
            "relativeTimeRange": {"from": 600, "to": 0},
            "datasourceUid": DATASOURCE_UID,
            "model": {
                "refId": "A",
                "datasource": dict(DATASOURCE),
                "editorType": "sql",
                "format": FORMAT_TABLE,
                "queryType": "table",
                "rawSql": rule.sql,
                "intervalMs": 60000,
                "maxDataPoints": 43200,
            },
        },
        _expression("B", {"type": "reduce", "expression": "A", "reducer": "last",
                          "settings": {"mode": "dropNN"}}),
        _expression("C", {"type": "threshold", "expression": "B",
                          "conditions": [{"evaluator": {"type": "gt",
                                                        "params": [rule.threshold]}}]}),
    ]  # fmt: skip


def _expression(ref: str, model: JSON) -> JSON:
    return {
        "refId": ref,
        "relativeTimeRange": {"from": 0, "to": 0},
        "datasourceUid": "__expr__",
        "model": {"refId": ref, "datasource": dict(EXPR), **model},
    }


def rule_body(rule: AccountRule, route: AlertRoute = EVERY_ALERT) -> JSON:
    """The fields a rule has both in a provisioning file and in the API; paused when the
    route leaves its kind out."""
    return {
        "uid": rule.uid,
        "title": rule.title,
        "condition": "C",
        "data": _data(rule),
        "noDataState": "OK",  # no row: no account is in that state
        "execErrState": "Error",
        "for": "0s",
        "annotations": {"summary": rule.summary, "description": rule.description},
        "labels": {"healthscore": "true", "alert_kind": rule.kind},
        "isPaused": rule.kind not in route.admitted_kinds(),
    }


def api_rule(rule: AccountRule, route: AlertRoute = EVERY_ALERT) -> JSON:
    """Body of POST/PUT /api/v1/provisioning/alert-rules."""
    return {
        **rule_body(rule, route),
        "orgID": 1,
        "folderUID": FOLDER_UID,
        "ruleGroup": RULE_GROUP,
    }


def contact_point(url: str) -> JSON:
    """Body of POST/PUT /api/v1/provisioning/contact-points."""
    return {
        "uid": CONTACT_POINT_UID,
        "name": CONTACT_POINT,
        "type": "webhook",
        "settings": {"url": url, "httpMethod": "POST"},
        "disableResolveMessage": False,
    }


def _tier_route(tier: str, group_by: list[str], wait: str, interval: str, repeat: str) -> JSON:
    return {
        "receiver": CONTACT_POINT,
        "object_matchers": [["tier", "=", tier]],
        "group_by": group_by,
        "group_wait": wait,
        "group_interval": interval,
        "repeat_interval": repeat,
    }


def healthscore_route() -> JSON:
    """The policy subtree for healthscore's alerts, one child route per tier."""
    return {
        "receiver": CONTACT_POINT,
        "object_matchers": [ROUTE_MATCHER],
        "group_by": ["alertname", "tier"],
        "routes": [
            _tier_route("must_have", ["alertname", "account_id"], "30s", "5m", "4h"),
            _tier_route("want_to_have", ["alertname", "account_id"], "2m", "15m", "12h"),
            _tier_route("nice_to_have", ["alertname"], "10m", "1h", "24h"),
        ],
    }


def merge_policy(tree: JSON) -> JSON:
    """An existing policy tree with healthscore's route first (replacing an older one)."""
    others = [r for r in tree.get("routes") or [] if not _is_ours(r)]
    return {**tree, "routes": [healthscore_route(), *others]}


def _is_ours(route: JSON) -> bool:
    return ROUTE_MATCHER in (route.get("object_matchers") or [])


def provisioning_file(
    database: str = DEFAULT_DATABASE, route: AlertRoute = EVERY_ALERT
) -> dict[str, Any]:
    """`dashboards/provisioning/alerting/healthscore.yaml` as data."""
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": RULE_GROUP,
                "folder": FOLDER_TITLE,
                "interval": f"{INTERVAL_SECONDS}s",
                "rules": [rule_body(r, route) for r in account_rules(database, route)],
            }
        ],
        "contactPoints": [
            {
                "orgId": 1,
                "name": CONTACT_POINT,
                "receivers": [
                    {k: v for k, v in contact_point(f"${WEBHOOK_ENV}").items() if k != "name"}
                ],
            }
        ],
        "policies": [
            {
                "orgId": 1,
                "receiver": CONTACT_POINT,
                "group_by": ["grafana_folder", "alertname"],
                "routes": [healthscore_route()],
            }
        ],
    }
