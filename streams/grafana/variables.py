"""The template variables every board shares, and the SQL that honours them.

`segment`, `tier` and `account` are ClickHouse queries on `latest_score`.
Their "All" value is the custom value `'__all'` (quotes included): Grafana
inserts a custom All value as is, whatever the format, so
`'__all' IN (${segment:singlequote})` is true exactly when All is selected and
a filter never expands into a list of every account. `database` is a hidden
constant, so the boards can point at another database without edits.
"""

from __future__ import annotations

from streams.grafana.panels import DATASOURCE, JSON

ALL_VALUE = "'__all'"
DEFAULT_DATABASE = "healthscore"
DB = "${database}"


def in_selection(variable: str, column: str) -> str:
    """SQL: `column` is one of the selected values of a multi-value variable (or All)."""
    values = f"${{{variable}:singlequote}}"
    return f"({ALL_VALUE} IN ({values}) OR {column} IN ({values}))"


SCOPE = " AND ".join((in_selection("segment", "segment"), in_selection("tier", "tier")))
"""Condition on a `latest_score` row: the account is in the selected segments and tiers."""

ACCOUNT_SCOPE = f"{SCOPE} AND {in_selection('account', 'account_id')}"
"""... and among the selected accounts."""

ACCOUNTS_IN_SCOPE = (
    f"account_id IN (SELECT account_id FROM {DB}.latest_score FINAL WHERE {ACCOUNT_SCOPE})"
)
"""Condition for tables without segment and tier (transitions, alerts, history):
the account is *currently* in the selected segments, tiers and accounts."""

ONE_ACCOUNT = "account_id = ${account:singlequote}"


def _query_variable(name: str, label: str, sql: str, *, multi: bool) -> JSON:
    variable: JSON = {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": dict(DATASOURCE),
        "query": sql,
        "definition": sql,
        "refresh": 2,  # on time range change: new accounts appear without a reload
        "sort": 1,
        "multi": multi,
        "includeAll": multi,
        "current": {},
        "options": [],
        "hide": 0,
    }
    if multi:
        variable["allValue"] = ALL_VALUE
    return variable


def template_variables(database: str, *, one_account: bool) -> list[JSON]:
    """`database`, `segment`, `tier`, `account` (single-valued on the account board)."""
    account_sql = (
        f"SELECT account_id FROM {DB}.latest_score FINAL WHERE {SCOPE} ORDER BY account_id"
    )
    return [
        {
            "name": "database",
            "label": "ClickHouse database",
            "type": "constant",
            "query": database,
            "hide": 2,
            "current": {"text": database, "value": database},
            "options": [{"selected": True, "text": database, "value": database}],
        },
        _query_variable(
            "segment",
            "Segment",
            f"SELECT DISTINCT segment FROM {DB}.latest_score ORDER BY segment",
            multi=True,
        ),
        _query_variable(
            "tier",
            "Tier",
            f"SELECT DISTINCT tier FROM {DB}.latest_score ORDER BY tier",
            multi=True,
        ),
        _query_variable("account", "Account", account_sql, multi=not one_account),
    ]
