"""The template variables every board shares, and the SQL that honours them.

`segment`, `tier` and `account` are ClickHouse queries on `latest_score`: their
values are account ids and segments, which producers choose. A value reaches
the SQL only as `decodeURLComponent('${v:percentencode}')`: Grafana's
percentencode leaves nothing but `[A-Za-z0-9-_.~%]` inside the quotes, so no
value can end the literal (`${v:singlequote}` escapes `'` but not `\`, and a
value like `x\' OR 1=1 -- ` did), and ClickHouse decodes it back to the value.
A multi-valued variable's selection comes as `{a,b}` (Grafana's glob, then
percent-encoded); the SQL splits it at the commas.

Their "All" value is the custom value `__all`: Grafana percent-encodes a custom
All value too, which leaves `__all` as it is, and no selection can decode to it
(a selection is always braced), so a filter never expands into a list of every
account. `database` is a hidden constant, so the boards can point at another
database without edits; Grafana takes a constant from the dashboard only, never
from the URL, and it names the database, not a value.
"""

from __future__ import annotations

from dashboards.build.panels import DATASOURCE, JSON

ALL_VALUE = "__all"
DEFAULT_DATABASE = "healthscore"
DB = "${database}"


def value_of(variable: str) -> str:
    """SQL: the value of a single-valued variable, as a string expression."""
    return f"decodeURLComponent('${{{variable}:percentencode}}')"


def selection_of(variable: str) -> str:
    """SQL: the selected values of a multi-valued variable, as an Array(String)."""
    v = value_of(variable)
    return (
        f"if(startsWith({v}, '{{') AND endsWith({v}, '}}'), "
        f"splitByChar(',', substring({v}, 2, length({v}) - 2)), [{v}])"
    )


def in_selection(variable: str, column: str) -> str:
    """SQL: `column` is one of the selected values of a multi-value variable (or All)."""
    return f"({value_of(variable)} = '{ALL_VALUE}' OR has({selection_of(variable)}, {column}))"


SCOPE = " AND ".join((in_selection("segment", "segment"), in_selection("tier", "tier")))
"""Condition on a `latest_score` row: the account is in the selected segments and tiers."""

ACCOUNT_SCOPE = f"{SCOPE} AND {in_selection('account', 'account_id')}"
"""... and among the selected accounts."""

ACCOUNTS_IN_SCOPE = (
    f"account_id IN (SELECT account_id FROM {DB}.latest_score FINAL WHERE {ACCOUNT_SCOPE})"
)
"""Condition for tables without segment and tier (transitions, alerts, history):
the account is *currently* in the selected segments, tiers and accounts."""

ONE_ACCOUNT = f"account_id = {value_of('account')}"


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
