"""One constructor per kind of panel the boards use, with healthscore's defaults."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from streams.grafana.panels import (
    JSON,
    LEGEND,
    Panel,
    Query,
    by_name,
    by_ref,
    fixed_color,
    organize,
    unit_overrides,
    value_colors,
)

TOOLTIP: JSON = {"mode": "multi", "sort": "desc"}


def table(
    title: str,
    sql: str,
    columns: Sequence[str],
    width: int,
    height: int,
    *,
    description: str = "",
    units: Mapping[str, str] | None = None,
    colors: Mapping[str, Mapping[str, str]] | None = None,
) -> Panel:
    """A table showing `columns` in that order; `colors` maps column -> value -> colour."""
    overrides = unit_overrides(units or {}) + tuple(
        by_name(column, mappings=value_colors(values), custom__cellOptions={"type": "color-text"})
        for column, values in (colors or {}).items()
    )
    return Panel(
        kind="table",
        title=title,
        description=description,
        queries=(Query(sql),),
        columns=tuple(columns),
        width=width,
        height=height,
        options={"showHeader": True, "cellHeight": "sm", "footer": {"show": False}},
        defaults={"custom": {"align": "auto", "cellOptions": {"type": "auto"}, "filterable": True}},
        overrides=overrides,
        transformations=(organize(columns),),
    )


def stat(
    title: str,
    sql: str,
    columns: Sequence[str],
    width: int,
    height: int,
    *,
    description: str = "",
    unit: str = "short",
    units: Mapping[str, str] | None = None,
    colors: Mapping[str, Mapping[str, str]] | None = None,
) -> Panel:
    """Big numbers (or words) for each of `columns`, from the last row."""
    overrides = unit_overrides(units or {}) + tuple(
        by_name(column, mappings=value_colors(values)) for column, values in (colors or {}).items()
    )
    return Panel(
        kind="stat",
        title=title,
        description=description,
        queries=(Query(sql),),
        columns=tuple(columns),
        width=width,
        height=height,
        options={
            "reduceOptions": {"values": False, "calcs": ["lastNotNull"], "fields": "/.*/"},
            "textMode": "value_and_name",
            "colorMode": "value",
            "graphMode": "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "wideLayout": True,
            "showPercentChange": False,
        },
        defaults={"unit": unit, "color": fixed_color("text")},
        overrides=overrides,
        transformations=(organize(columns),),
    )


def timeseries(
    title: str,
    sql: str,
    columns: Sequence[str],
    width: int,
    height: int,
    *,
    description: str = "",
    unit: str = "short",
    long_format: bool = False,
    bars: bool = False,
    soft_range: tuple[float, float] | None = None,
) -> Panel:
    """A time series; `columns` starts with `time`. `long_format`: one series per label."""
    custom: JSON = {
        "drawStyle": "bars" if bars else "line",
        "lineWidth": 1,
        "fillOpacity": 60 if bars else 10,
        "showPoints": "never",
        "spanNulls": True,
    }
    if soft_range is not None:
        custom["axisSoftMin"], custom["axisSoftMax"] = soft_range
    return Panel(
        kind="timeseries",
        title=title,
        description=description,
        queries=(Query(sql, time_series=long_format),),
        columns=tuple(columns),
        width=width,
        height=height,
        options={"legend": LEGEND, "tooltip": TOOLTIP},
        defaults={"unit": unit, "custom": custom},
    )


def barchart(
    title: str,
    sql: str,
    columns: Sequence[str],
    width: int,
    height: int,
    *,
    description: str = "",
    stacked: bool = True,
    unit: str = "short",
    series_colors: Mapping[str, str] | None = None,
) -> Panel:
    """Bars by the first of `columns` (a string), one bar segment per other column."""
    return Panel(
        kind="barchart",
        title=title,
        description=description,
        queries=(Query(sql),),
        columns=tuple(columns),
        width=width,
        height=height,
        options={
            "xField": columns[0],
            "orientation": "auto",
            "stacking": "normal" if stacked else "none",
            "showValue": "auto",
            "barWidth": 0.8,
            "groupWidth": 0.7,
            "xTickLabelRotation": 0,
            "legend": LEGEND,
            "tooltip": TOOLTIP,
        },
        defaults={"unit": unit, "custom": {"fillOpacity": 80, "lineWidth": 1}},
        overrides=tuple(by_name(c, color=fixed_color(v)) for c, v in (series_colors or {}).items()),
        transformations=(organize(columns),),
    )


def state_timeline(
    title: str,
    sql: str,
    columns: Sequence[str],
    width: int,
    height: int,
    *,
    colors: Mapping[str, str],
    description: str = "",
) -> Panel:
    """Categorical values over time (`columns` starts with `time`), coloured by value."""
    return Panel(
        kind="state-timeline",
        title=title,
        description=description,
        queries=(Query(sql),),
        columns=tuple(columns),
        width=width,
        height=height,
        options={
            "mergeValues": True,
            "showValue": "auto",
            "alignValue": "left",
            "rowHeight": 0.85,
            "legend": LEGEND,
            "tooltip": {"mode": "single", "sort": "none"},
        },
        defaults={"color": {"mode": "thresholds"}, "mappings": value_colors(colors)},
    )


@dataclass(frozen=True, slots=True)
class Series:
    """One coloured group of points of a scatter (one query)."""

    name: str
    color: str
    sql: str


def scatter(
    title: str,
    *,
    x: str,
    y: str,
    series: Sequence[Series],
    guides: Sequence[str],
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    x_label: str,
    y_label: str,
    width: int,
    height: int,
    size: str | None = None,
    description: str = "",
) -> Panel:
    """An XY chart (Grafana 11+ "v2" options): one named series per query, plus guide
    lines (queries giving `x`/`y` points joined by a line, hidden from legend and tooltip)."""
    refs = [chr(ord("A") + i) for i in range(len(series) + len(guides))]
    queries = tuple(Query(s.sql, ref) for s, ref in zip(series, refs, strict=False)) + tuple(
        Query(sql, ref) for sql, ref in zip(guides, refs[len(series) :], strict=True)
    )
    configs: list[JSON] = []
    for s, ref in zip(series, refs, strict=False):
        config: JSON = {
            "name": {"fixed": s.name},
            "frame": {"matcher": {"id": "byRefId", "options": ref}},
            "x": {"matcher": {"id": "byName", "options": x}},
            "y": {"matcher": {"id": "byName", "options": y}},
        }
        if size:
            config["size"] = {"matcher": {"id": "byName", "options": size}}
        configs.append(config)
    for ref in refs[len(series) :]:
        configs.append(
            {
                "name": {"fixed": f"guide {ref}"},
                "frame": {"matcher": {"id": "byRefId", "options": ref}},
                "x": {"matcher": {"id": "byName", "options": x}},
                "y": {"matcher": {"id": "byName", "options": y}},
            }
        )
    overrides = [
        by_ref(ref, color=fixed_color(s.color)) for s, ref in zip(series, refs, strict=False)
    ]
    hidden = {"legend": True, "tooltip": True, "viz": False}
    overrides += [
        by_ref(ref, color=fixed_color("#8e8e8e"), custom__show="lines", custom__hideFrom=hidden)
        for ref in refs[len(series) :]
    ]
    overrides += [
        by_name(
            x,
            custom__axisLabel=x_label,
            custom__axisSoftMin=x_range[0],
            custom__axisSoftMax=x_range[1],
        ),
        by_name(
            y,
            custom__axisLabel=y_label,
            custom__axisSoftMin=y_range[0],
            custom__axisSoftMax=y_range[1],
        ),
    ]
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
        extra_columns={ref: (size,) for ref in refs[: len(series)]} if size else {},
        any_of=tuple(refs[: len(series)]),
    )
