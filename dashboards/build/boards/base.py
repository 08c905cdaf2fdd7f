"""What every board shares: the dashboard envelope, colours and SQL snippets."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from textwrap import dedent

from dashboards.build.panels import JSON, Panel, layout
from dashboards.build.variables import DB, DEFAULT_DATABASE, template_variables

SCHEMA_VERSION = 41  # Grafana 12's dashboard schema
TAG = "healthscore"

SUCCESS_COLORS = {
    "customer_success": "green",
    "work_to_keep:flight_risk": "orange",
    "work_to_keep:unprofitable": "purple",
    "reassess": "red",
}
READINESS_COLORS = {
    "achiever": "green",
    "soldier": "blue",
    "dreamer": "yellow",
    "wanderer": "#8e8e8e",
}
BAND_COLORS = {"green": "green", "yellow": "yellow", "red": "red"}
HAPPINESS_COLORS = {
    "walkaway_angry": "dark-red",
    "unhappy": "red",
    "neutral": "yellow",
    "satisfied": "green",
    "gushing_promoter": "dark-green",
}
TIERS = ("must_have", "want_to_have", "nice_to_have")
TIER_COLORS = {"must_have": "red", "want_to_have": "orange", "nice_to_have": "blue"}


def tier_order(column: str = "tier") -> str:
    """SQL sort key: must-haves first."""
    return f"indexOf({list(TIERS)!r}, {column})"


def count_by(column: str, values: Iterable[str]) -> str:
    """SQL select list: one count column per value of `column`, named after the value."""
    return ", ".join(f"countIf({column} = '{v}') AS {v}" for v in values)


def count_by_tier() -> str:
    """SQL select list: one count column per tier, named after the tier."""
    return count_by("tier", TIERS)


def per_interval(sql: str, *by: str) -> str:
    """SQL: `sql` (a SELECT naming `time`, with its FROM and WHERE) grouped per time
    interval (and `by`), in time order."""
    return f"{dedent(sql).strip()}\nGROUP BY {', '.join(('time', *by))}\nORDER BY time"


def per_ten_points(
    name: str, value: str, split: str, values: Iterable[str], where: str, percent: bool = False
) -> str:
    """SQL: the latest scores matching `where` per 10 points of `value` (0-100), one row
    per bucket named `0-10` ... `90-100` (`%` with `percent`) in column `name`, counted
    by each of `values` of `split`."""
    label = "concat(toString(bucket), '-', toString(bucket + 10)" + (", '%')" if percent else ")")
    return f"""
        SELECT {label} AS {name},
               {count_by(split, values)}
        FROM (
            SELECT least(intDiv(toUInt32({value}), 10) * 10, 90) AS bucket, {split}
            FROM {DB}.latest_score FINAL
            WHERE {where}
        )
        GROUP BY bucket
        ORDER BY bucket
        """


def drivers_text(column: str) -> str:
    """SQL: a drivers JSON column as `signal +effect, ...` (strongest first, as stored)."""
    effect = "JSONExtractFloat(d, 'effect')"
    return (
        "arrayStringConcat(arrayMap(d -> concat(JSONExtractString(d, 'signal'), ' ', "
        f"if({effect} >= 0, '+', ''), toString(round({effect}, 2))), "
        f"JSONExtractArrayRaw({column})), ', ')"
    )


@dataclass(frozen=True)
class Board:
    uid: str
    title: str
    description: str
    rows: tuple[tuple[Panel, ...], ...]
    one_account: bool = False
    time_from: str = "now-30d"
    tags: tuple[str, ...] = ()

    def placed(self) -> list[tuple[JSON, Panel]]:
        """Each panel's JSON with the `Panel` it came from."""
        return layout(self.rows)

    def dashboard(self, database: str = DEFAULT_DATABASE) -> JSON:
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": [TAG, *self.tags],
            "timezone": "utc",
            "editable": True,
            "graphTooltip": 1,
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "time": {"from": self.time_from, "to": "now"},
            "refresh": "1m",
            "fiscalYearStartMonth": 0,
            "liveNow": False,
            "weekStart": "",
            "annotations": {"list": []},
            "links": [
                {
                    "title": "healthscore boards",
                    "type": "dashboards",
                    "tags": [TAG],
                    "asDropdown": True,
                    "includeVars": True,
                    "keepTime": True,
                    "icon": "external link",
                    "targetBlank": False,
                    "tooltip": "",
                    "url": "",
                }
            ],
            "templating": {"list": template_variables(database, one_account=self.one_account)},
            "panels": [panel for panel, _ in self.placed()],
        }


def rows(*panel_rows: Sequence[Panel]) -> tuple[tuple[Panel, ...], ...]:
    return tuple(tuple(row) for row in panel_rows)
