"""Typed builders for the panel JSON of the boards (Grafana 12 dashboard model).

A `Panel` is what a board says about a panel: its queries, the columns it
reads from their results (the integration test checks the real schema gives
them) and its size. `layout` places rows of panels on the 24-column grid and
numbers them, so positions never overlap and never need hand-editing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from textwrap import dedent
from typing import Any

JSON = dict[str, Any]

PLUGIN_ID = "grafana-clickhouse-datasource"
DATASOURCE_UID = "healthscore-ch"
DATASOURCE: JSON = {"type": PLUGIN_ID, "uid": DATASOURCE_UID}
GRAFANA_VERSION = "12.2.0"
"""`pluginVersion` of every panel: the Grafana the boards are written for (compose
pins it). Without it Grafana re-runs old option migrations, e.g. the xychart one."""
GRID_COLUMNS = 24

FORMAT_TIME_SERIES = 0  # the plugin's Format enum: TIMESERIES = 0, TABLE = 1
FORMAT_TABLE = 1

LEGEND: JSON = {"displayMode": "list", "placement": "bottom", "showLegend": True}


@dataclass(frozen=True, slots=True)
class Query:
    """One SQL target. `time_series` asks the plugin for its long-to-wide conversion."""

    sql: str
    ref: str = "A"
    time_series: bool = False

    @property
    def raw_sql(self) -> str:
        return dedent(self.sql).strip()

    def target(self) -> JSON:
        return {
            "refId": self.ref,
            "datasource": dict(DATASOURCE),
            "editorType": "sql",
            "format": FORMAT_TIME_SERIES if self.time_series else FORMAT_TABLE,
            "queryType": "timeseries" if self.time_series else "table",
            "rawSql": self.raw_sql,
        }


@dataclass(frozen=True)
class Panel:
    kind: str
    title: str
    queries: tuple[Query, ...]
    columns: tuple[str, ...]
    """Columns the panel reads from every query's result."""
    width: int
    height: int
    description: str = ""
    options: JSON = field(default_factory=dict)
    defaults: JSON = field(default_factory=dict)
    overrides: tuple[JSON, ...] = ()
    transformations: tuple[JSON, ...] = ()
    extra_columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Columns only some queries must give (by refId), e.g. a bubble size."""
    any_of: tuple[str, ...] = ()
    """RefIds of one-series-per-category queries: some may be empty, not all."""

    def needs(self, ref: str) -> tuple[str, ...]:
        return self.columns + self.extra_columns.get(ref, ())

    def render(self, panel_id: int, x: int, y: int) -> JSON:
        return {
            "id": panel_id,
            "type": self.kind,
            "title": self.title,
            "description": self.description,
            "datasource": dict(DATASOURCE),
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "pluginVersion": GRAFANA_VERSION,
            "targets": [q.target() for q in self.queries],
            "fieldConfig": {"defaults": self.defaults, "overrides": list(self.overrides)},
            "options": self.options,
            "transformations": list(self.transformations),
        }


def layout(rows: Sequence[Sequence[Panel]]) -> list[tuple[JSON, Panel]]:
    """Place rows of panels left to right, top to bottom; ids follow the order."""
    placed: list[tuple[JSON, Panel]] = []
    y = 0
    for row in rows:
        width = sum(p.width for p in row)
        if width > GRID_COLUMNS:
            titles = ", ".join(p.title for p in row)
            raise ValueError(f"row [{titles}] is {width} columns wide; the grid has 24")
        x = 0
        for panel in row:
            placed.append((panel.render(len(placed) + 1, x, y), panel))
            x += panel.width
        y += max((p.height for p in row), default=0)
    return placed


# --- field config helpers ------------------------------------------------------


def by_name(name: str, **properties: Any) -> JSON:
    """An override for one field; `custom__show=` sets the property `custom.show`."""
    return {"matcher": {"id": "byName", "options": name}, "properties": _props(properties)}


def by_ref(ref: str, **properties: Any) -> JSON:
    """An override for every field of one query's frame."""
    return {"matcher": {"id": "byFrameRefID", "options": ref}, "properties": _props(properties)}


def _props(properties: Mapping[str, Any]) -> list[JSON]:
    return [{"id": k.replace("__", "."), "value": v} for k, v in properties.items()]


def fixed_color(color: str) -> JSON:
    return {"mode": "fixed", "fixedColor": color}


def value_colors(colors: Mapping[str, str]) -> list[JSON]:
    """A value mapping that colours (and prettifies) categorical values."""
    options = {
        value: {"color": color, "index": i, "text": pretty(value)}
        for i, (value, color) in enumerate(colors.items())
    }
    return [{"type": "value", "options": options}]


def pretty(value: str) -> str:
    """`work_to_keep:flight_risk` -> `work to keep: flight risk`."""
    return value.replace(":", ": ").replace("_", " ")


def thresholds(*steps: tuple[float | None, str]) -> JSON:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


def organize(columns: Sequence[str]) -> JSON:
    """Fix the column order of a table to the order the board declares."""
    return {
        "id": "organize",
        "options": {
            "indexByName": {c: i for i, c in enumerate(columns)},
            "excludeByName": {},
            "renameByName": {},
        },
    }


def unit_overrides(units: Mapping[str, str]) -> tuple[JSON, ...]:
    return tuple(by_name(column, unit=unit) for column, unit in units.items())
