"""One constructor per kind of panel the boards use, with healthscore's defaults."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dashboards.build.panels import (
    JSON,
    LEGEND,
    Panel,
    Query,
    by_name,
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
