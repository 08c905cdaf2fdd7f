"""The macro expander: what each Grafana / ClickHouse-plugin macro becomes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from dashboards.build.boards import BOARDS
from dashboards.build.errors import MacroError
from dashboards.build.macros import QueryContext, expand

START = datetime(2026, 1, 1, tzinfo=UTC)  # 1767225600
END = datetime(2026, 1, 2, 12, 0, 0, 500_000, tzinfo=UTC)  # 1767355200.5
CTX = QueryContext(
    START,
    END,
    timedelta(minutes=5),
    values={"database": ["hs"], "segment": ["default", "enter'prise"], "tier": None,
            "account": ["acct-1"]},
    all_values={"tier": "'__all'"},
    multi={"segment", "tier"},
)  # fmt: skip
INJECTION = "x\\' OR 1=1 -- "  # one backslash, then the quote


@pytest.mark.parametrize(
    ("written", "expanded"),
    [
        ("$__timeFilter(ts)", "ts >= toDateTime(1767225600) AND ts <= toDateTime(1767355200)"),
        ("$__timeFilter_ms(ts)", "ts >= fromUnixTimestamp64Milli(1767225600000) AND "
                                 "ts <= fromUnixTimestamp64Milli(1767355200500)"),
        ("$__dateFilter(d)", "d >= toDate('2026-01-01') AND d <= toDate('2026-01-02')"),
        ("$__fromTime", "toDateTime(1767225600)"),
        ("$__toTime - INTERVAL 7 DAY", "toDateTime(1767355200) - INTERVAL 7 DAY"),
        ("$__fromTime_ms", "fromUnixTimestamp64Milli(1767225600000)"),
        ("$__toTime_ms", "fromUnixTimestamp64Milli(1767355200500)"),
        ("$__timeInterval(ts)", "toStartOfInterval(toDateTime(ts), INTERVAL 300 second)"),
        ("$__timeInterval_ms(ts)",
         "toStartOfInterval(toDateTime64(ts, 3), INTERVAL 300000 millisecond)"),
        ("count() / $__interval_s", "count() / 300"),
        ("${database}.t", "hs.t"),
        ("$database.t", "hs.t"),
        ("x IN (${segment:singlequote})", "x IN ('default','enter\\'prise')"),
        ("${segment:csv}", "default,enter'prise"),
        ("'__all' IN (${tier:singlequote})", "'__all' IN ('__all')"),
        ("a = ${account:singlequote}", "a = 'acct-1'"),
        # a multi-valued variable is a list, even of one value: {a,b}, then encoded
        ("'${segment:percentencode}'", "'%7Bdefault%2Center%27prise%7D'"),
        ("'${account:percentencode}'", "'acct-1'"),  # single-valued: the value
        ("'${tier:percentencode}'", "'%27__all%27'"),  # a custom All value is encoded too
    ],
)  # fmt: skip
def test_each_macro_expands_like_grafana_and_the_clickhouse_plugin(written, expanded):
    assert expand(written, CTX) == expanded


@pytest.mark.parametrize(
    ("sql", "complaint"),
    [
        ("$__unknownMacro(ts)", "unknown macro"),
        ("$__timeFilter()", "exactly one column"),
        ("$__timeFilter(a, b)", "exactly one column"),
        ("${nobody}", "no value"),
        ("${segment}", "unsupported format"),
        ("${account:json}", "unsupported format"),
    ],
)
def test_unknown_macros_and_variables_fail_instead_of_passing_through(sql, complaint):
    with pytest.raises(MacroError, match=complaint):
        expand(sql, CTX)


def test_percentencode_is_grafanas_strict_encode_uri_component():
    ctx = QueryContext(START, END, values={"v": [INJECTION]})
    assert expand("'${v:percentencode}'", ctx) == "'x%5C%27%20OR%201%3D1%20--%20'"
    ctx = QueryContext(START, END, values={"v": ["!'()*~-_.é/{,}"]})
    assert expand("${v:percentencode}", ctx) == "%21%27%28%29%2A~-_.%C3%A9%2F%7B%2C%7D"
    with pytest.raises(MacroError, match="single-valued"):
        expand("${v:percentencode}", QueryContext(START, END, values={"v": ["a", "b"]}))


def test_an_injected_account_id_breaks_out_of_singlequote_but_not_percentencode():
    """What the boards used to do, and what they do now: the literal ClickHouse sees."""
    ctx = QueryContext(START, END, values={"account": [INJECTION]})
    quoted = expand("account_id = ${account:singlequote}", ctx)
    assert quoted == "account_id = 'x\\\\' OR 1=1 -- '"  # an escaped \\, then ' ends it
    encoded = expand("account_id = decodeURLComponent('${account:percentencode}')", ctx)
    assert re.fullmatch(r"account_id = decodeURLComponent\('[A-Za-z0-9._~%-]*'\)", encoded)


def test_all_without_a_custom_all_value_is_refused():
    ctx = QueryContext(START, END, values={"segment": None})
    with pytest.raises(MacroError, match="allValue"):
        expand("${segment:singlequote}", ctx)


def test_interval_is_at_least_one_second():
    ctx = QueryContext(START, END, timedelta(milliseconds=20))
    assert expand("$__interval_s", ctx) == "1"


def test_a_dashboard_context_takes_constants_and_all_values_from_the_board():
    dashboard = BOARDS["portfolio"].dashboard()
    ctx = QueryContext.for_dashboard(
        dashboard,
        START,
        END,
        timedelta(hours=1),
        {"segment": None, "tier": ["must_have"], "account": None},
    )
    assert ctx.values["database"] == ["healthscore"]
    assert ctx.all_values == {"segment": "__all", "tier": "__all", "account": "__all"}
    assert ctx.multi == {"segment", "tier", "account"}
    every_query = [t["rawSql"] for p in dashboard["panels"] for t in p["targets"]]
    assert all("$" not in expand(sql, ctx) for sql in every_query)
