"""XY charts (scatters) in Grafana 11+ "v2" options, as the quadrant and calibration
panels use them: one named, coloured series per query, plus grey guide lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from textwrap import dedent

from dashboards.build.panels import JSON, LEGEND, Panel, Query, by_name, by_ref, fixed_color
from dashboards.build.visuals import TOOLTIP


@dataclass(frozen=True, slots=True)
class Axis:
    """One axis of a scatter: the column it plots, its label and the range it always shows."""

    column: str
    label: str
    soft_range: tuple[float, float]

    def override(self) -> JSON:
        low, high = self.soft_range
        return by_name(
            self.column,
            custom__axisLabel=self.label,
            custom__axisSoftMin=low,
            custom__axisSoftMax=high,
        )


@dataclass(frozen=True, slots=True)
class Series:
    """One coloured group of points of a scatter: a query and the columns it selects."""

    name: str
    color: str
    sql: str
    columns: tuple[str, ...]

    def query_keeping_its_frame(self) -> str:
        """The query plus one all-NULL row (drawn as nothing). xychart v2 binds series to
        frames by index only, and the plugin sends no frame for an empty result, so an
        empty category would shift every later series onto the wrong points."""
        placeholder = ", ".join(f"NULL AS {c}" for c in self.columns)
        return f"{dedent(self.sql).strip()}\nUNION ALL\nSELECT {placeholder}"


def scatter(
    title: str,
    axes: tuple[Axis, Axis],
    series: Sequence[Series],
    guides: Sequence[str],
    size: tuple[int, int],
    *,
    bubble: str | None = None,
    description: str = "",
) -> Panel:
    """An XY chart (Grafana 11+ "v2" options) of `axes` (x, y): one named series per query,
    plus guide lines (queries giving x/y points joined by a line, hidden from legend and
    tooltip). `bubble`: the column that sizes the points of the series. Every query returns
    at least one row, so frame i is always query i."""
    x, y = (axis.column for axis in axes)
    refs = [chr(ord("A") + i) for i in range(len(series) + len(guides))]
    queries = tuple(
        Query(s.query_keeping_its_frame(), ref) for s, ref in zip(series, refs, strict=False)
    ) + tuple(Query(sql, ref) for sql, ref in zip(guides, refs[len(series) :], strict=True))
    names = [s.name for s in series] + [f"guide {ref}" for ref in refs[len(series) :]]
    configs: list[JSON] = []
    for index, name in enumerate(names):
        config: JSON = {
            "name": {"fixed": name},
            "frame": {"matcher": {"id": "byIndex", "options": index}},  # the only one v2 reads
            "x": {"matcher": {"id": "byName", "options": x}},
            "y": {"matcher": {"id": "byName", "options": y}},
        }
        if bubble and index < len(series):
            config["size"] = {"matcher": {"id": "byName", "options": bubble}}
        configs.append(config)
    overrides = [
        by_ref(ref, color=fixed_color(s.color)) for s, ref in zip(series, refs, strict=False)
    ]
    hidden = {"legend": True, "tooltip": True, "viz": False}
    overrides += [
        by_ref(ref, color=fixed_color("#8e8e8e"), custom__show="lines", custom__hideFrom=hidden)
        for ref in refs[len(series) :]
    ]
    overrides += [axis.override() for axis in axes]
    width, height = size
    return Panel(
        kind="xychart",
        title=title,
        description=description,
        queries=queries,
        columns=(x, y),
        width=width,
        height=height,
        options={"mapping": "manual", "series": configs, "legend": LEGEND, "tooltip": TOOLTIP},
        defaults={
            "color": {"mode": "palette-classic"},
            "custom": {
                "show": "points",
                "pointShape": "circle",
                "pointSize": {"fixed": 7, "min": 5, "max": 22},
                "pointStrokeWidth": 1,
                "fillOpacity": 60,
                "lineWidth": 1,
                "axisPlacement": "auto",
                "axisGridShow": True,
            },
        },
        overrides=tuple(overrides),
        extra_columns={ref: (bubble,) for ref in refs[: len(series)]} if bubble else {},
        any_of=tuple(refs[: len(series)]),
    )
