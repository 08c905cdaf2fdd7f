"""Expand a panel's SQL the way Grafana and the ClickHouse plugin would.

Grafana's front end first replaces template variables (`$var`, `${var}`,
`${var:singlequote}`, ...), then the plugin's back end expands its macros
(`$__timeFilter(col)`, ...). This module does both, for the subset the boards
use, so the tests can run every query on the real schema without a Grafana:

| written                 | expanded to (F, T: range start and end in unix seconds) |
|-------------------------|---------------------------------------------------------|
| `$__timeFilter(c)`      | `c >= toDateTime(F) AND c <= toDateTime(T)`             |
| `$__timeFilter_ms(c)`   | `c >= fromUnixTimestamp64Milli(Fms) AND c <= ...(Tms)`   |
| `$__dateFilter(c)`      | `c >= toDate('YYYY-MM-DD') AND c <= toDate('...')`       |
| `$__fromTime`           | `toDateTime(F)`; `$__toTime`: `toDateTime(T)`            |
| `$__fromTime_ms`        | `fromUnixTimestamp64Milli(Fms)`; `$__toTime_ms` alike    |
| `$__timeInterval(c)`    | `toStartOfInterval(toDateTime(c), INTERVAL N second)`    |
| `$__timeInterval_ms(c)` | `toStartOfInterval(toDateTime64(c, 3), INTERVAL Nms millisecond)` |
| `$__interval_s`         | `N`, the panel interval in whole seconds (at least 1)    |
| `${v:percentencode}`    | `a` percent-encoded, for a multi-valued variable `{a,b}` |
|                         | percent-encoded (only `[A-Za-z0-9-_.~%]` remain)         |
| `${v:singlequote}`      | `'a','b'` (a `'` inside a value becomes `\\'`)          |
| `${v:csv}`              | `a,b`; `$v` / `${v}`: the value (single-valued only)    |
| All selected            | the variable's custom `allValue`: percent-encoded with  |
|                         | `percentencode`, verbatim with any other format         |

These follow the plugin's `pkg/macros/macros.go` (v4) and Grafana's
template service (its format registry, `encodeURIComponentStrict`, and the
custom All value, which only `text` and `percentencode` format). Anything
else is an error, so a typo fails the tests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from dashboards.build.errors import MacroError

_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)")
_MACRO = re.compile(r"\$__(\w+)(?:\(([^()]*)\))?")
_COLUMN_MACROS = frozenset(
    {"timeFilter", "timeFilter_ms", "dateFilter", "timeInterval", "timeInterval_ms"}
)


@dataclass(frozen=True)
class QueryContext:
    """What Grafana knows when it runs a panel: time range, interval, variables."""

    start: datetime
    end: datetime
    interval: timedelta = timedelta(minutes=1)
    values: Mapping[str, Sequence[str] | None] = field(default_factory=dict)
    """Selected values per variable; None means All."""
    all_values: Mapping[str, str] = field(default_factory=dict)
    """The custom All value of each variable that has one."""
    multi: Set[str] = frozenset()
    """The multi-valued variables: Grafana formats their value as a list, even of one."""

    @classmethod
    def for_dashboard(
        cls,
        dashboard: Mapping[str, Any],
        start: datetime,
        end: datetime,
        interval: timedelta,
        selected: Mapping[str, Sequence[str] | None],
    ) -> QueryContext:
        """Constants come from the dashboard unless `selected` overrides them (as another
        dashboard JSON would: Grafana never takes a constant from the URL); the other
        variables from `selected`."""
        values: dict[str, Sequence[str] | None] = {}
        all_values: dict[str, str] = {}
        multi: set[str] = set()
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "constant":
                values[variable["name"]] = [variable["query"]]
            if variable.get("allValue"):
                all_values[variable["name"]] = variable["allValue"]
            if variable.get("multi"):
                multi.add(variable["name"])
        values.update(selected)
        return cls(start, end, interval, values, all_values, frozenset(multi))


def expand(sql: str, ctx: QueryContext) -> str:
    """Variables first, then macros; raise `MacroError` on anything unknown."""
    expanded = _MACRO.sub(lambda m: _macro(m, ctx), _VARIABLE.sub(lambda m: _variable(m, ctx), sql))
    if "$" in expanded:
        raise MacroError(f"unexpanded '$' left in query: {expanded[:200]!r}")
    return expanded


def _variable(match: re.Match[str], ctx: QueryContext) -> str:
    name = match[1] or match[3]
    fmt = match[2]
    if name.startswith("__"):
        return match[0]  # a macro or Grafana built-in: the plugin's turn
    if name not in ctx.values:
        raise MacroError(f"template variable ${name} has no value in this context")
    selection = ctx.values[name]
    if selection is None:
        if name not in ctx.all_values:
            raise MacroError(f"${name} is set to All but has no custom allValue")
        if fmt == "percentencode":  # the one format (with text) a custom All value gets
            return percent_encode(ctx.all_values[name])
        return ctx.all_values[name]  # Grafana inserts a custom All value as is
    if fmt == "percentencode":
        if name in ctx.multi:  # a list, even of one value: Grafana's glob, encoded
            return percent_encode("{" + ",".join(selection) + "}")
        if len(selection) != 1:
            raise MacroError(f"${name} is single-valued but has {len(selection)} values")
        return percent_encode(selection[0])
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in selection)
    if fmt == "csv" or (fmt is None and len(selection) == 1):
        return ",".join(selection)
    raise MacroError(f"${{{name}:{fmt}}}: unsupported format for {len(selection)} values")


def percent_encode(value: str) -> str:
    """Grafana's `encodeURIComponentStrict`: JavaScript's encodeURIComponent (UTF-8,
    upper-case hex), then `!'()*` encoded too. What is left is `[A-Za-z0-9-_.~%]`."""
    return quote(value, safe="~", encoding="utf-8", errors="strict")


def _macro(match: re.Match[str], ctx: QueryContext) -> str:
    name, args = match[1], match[2]
    start, end = ctx.start.astimezone(UTC), ctx.end.astimezone(UTC)
    seconds = max(int(ctx.interval.total_seconds()), 1)
    millis = max(int(ctx.interval.total_seconds() * 1000), 1)
    plain = {
        "fromTime": _dt(start),
        "toTime": _dt(end),
        "fromTime_ms": _dt64(start),
        "toTime_ms": _dt64(end),
        "interval_s": str(seconds),
    }
    if name in plain and args is None:
        return plain[name]
    if name not in _COLUMN_MACROS:
        raise MacroError(f"unknown macro $__{name}" + (f"({args})" if args is not None else ""))
    column = _one_argument(name, args)
    if name == "timeFilter":
        return f"{column} >= {_dt(start)} AND {column} <= {_dt(end)}"
    if name == "timeFilter_ms":
        return f"{column} >= {_dt64(start)} AND {column} <= {_dt64(end)}"
    if name == "dateFilter":
        return f"{column} >= {_date(start)} AND {column} <= {_date(end)}"
    if name == "timeInterval":
        return f"toStartOfInterval(toDateTime({column}), INTERVAL {seconds} second)"
    return f"toStartOfInterval(toDateTime64({column}, 3), INTERVAL {millis} millisecond)"


def _one_argument(name: str, args: str | None) -> str:
    if args is None or not args.strip() or "," in args:
        raise MacroError(f"$__{name} takes exactly one column argument, got ({args})")
    return args.strip()


def _dt(t: datetime) -> str:
    return f"toDateTime({int(t.timestamp())})"


def _dt64(t: datetime) -> str:
    return f"fromUnixTimestamp64Milli({int(t.timestamp() * 1000)})"


def _date(t: datetime) -> str:
    return f"toDate('{t:%Y-%m-%d}')"
