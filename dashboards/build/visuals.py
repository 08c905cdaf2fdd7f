"""Panels of one query. A board declares each as a `PanelSpec` (title, columns, query,
size, description) and picks its kind with one method per kind (`table`, `stat`,
`timeseries`, `barchart`, `state_timeline`), which adds that kind's options with
healthscore's defaults; `PanelSpec.panel` is the one place a `Panel` is put together."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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
ColumnColors = Mapping[str, Mapping[str, str]]
"""Column -> value -> colour, for columns of categorical values."""


@dataclass(frozen=True, slots=True)
class PanelSpec:
    """What a board says about a panel of one query, whatever its kind."""

    title: str
    columns: Sequence[str]
    """The columns the panel reads from the query's result, in display order."""
    sql: str
    size: tuple[int, int]
    """Width (of the grid's 24 columns) and height."""
    description: str = ""

    def panel(
        self,
        kind: str,
        options: JSON,
        defaults: JSON,
        overrides: Sequence[JSON] = (),
        *,
        ordered: bool = True,
        time_series: bool = False,
    ) -> Panel:
        """The panel of `kind` with its options; `ordered` fixes the columns to the declared
        order, `time_series` asks the plugin for one series per label (long format)."""
        width, height = self.size
        return Panel(
            kind=kind,
            title=self.title,
            description=self.description,
            queries=(Query(self.sql, time_series=time_series),),
            columns=tuple(self.columns),
            width=width,
            height=height,
            options=options,
            defaults=defaults,
            overrides=tuple(overrides),
            transformations=(organize(self.columns),) if ordered else (),
        )

    def table(
        self,
        *,
        units: Mapping[str, str] | None = None,
        colors: ColumnColors | None = None,
    ) -> Panel:
        """A table of the spec's columns in their order; `colors` colours the text of cells."""
        return self.panel(
            "table",
            options={"showHeader": True, "cellHeight": "sm", "footer": {"show": False}},
            defaults={
                "custom": {"align": "auto", "cellOptions": {"type": "auto"}, "filterable": True}
            },
            overrides=_column_overrides(units, colors, "color-text"),
        )

    def stat(
        self,
        *,
        unit: str = "short",
        units: Mapping[str, str] | None = None,
        colors: ColumnColors | None = None,
    ) -> Panel:
        """Big numbers (or words) for each of the spec's columns, from the last row."""
        return self.panel(
            "stat",
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
            overrides=_column_overrides(units, colors),
        )

    def timeseries(
        self,
        *,
        unit: str = "short",
        long_format: bool = False,
        bars: bool = False,
        soft_range: tuple[float, float] | None = None,
    ) -> Panel:
        """A time series; the columns start with `time`. `long_format`: one series per label."""
        custom: JSON = {
            "drawStyle": "bars" if bars else "line",
            "lineWidth": 1,
            "fillOpacity": 60 if bars else 10,
            "showPoints": "never",
            "spanNulls": True,
        }
        if soft_range is not None:
            custom["axisSoftMin"], custom["axisSoftMax"] = soft_range
        return self.panel(
            "timeseries",
            options={"legend": LEGEND, "tooltip": TOOLTIP},
            defaults={"unit": unit, "custom": custom},
            ordered=False,
            time_series=long_format,
        )

    def barchart(
        self,
        *,
        stacked: bool = True,
        unit: str = "short",
        series_colors: Mapping[str, str] | None = None,
    ) -> Panel:
        """Bars by the first column (a string), one bar segment per other column."""
        return self.panel(
            "barchart",
            options={
                "xField": self.columns[0],
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
            overrides=[by_name(c, color=fixed_color(v)) for c, v in (series_colors or {}).items()],
        )

    def state_timeline(self, *, colors: Mapping[str, str]) -> Panel:
        """Categorical values over time (the columns start with `time`), coloured by value."""
        return self.panel(
            "state-timeline",
            options={
                "mergeValues": True,
                "showValue": "auto",
                "alignValue": "left",
                "rowHeight": 0.85,
                "legend": LEGEND,
                "tooltip": {"mode": "single", "sort": "none"},
            },
            defaults={"color": {"mode": "thresholds"}, "mappings": value_colors(colors)},
            ordered=False,
        )


def _column_overrides(
    units: Mapping[str, str] | None, colors: ColumnColors | None, cell_type: str = ""
) -> tuple[JSON, ...]:
    """Per-column units, then per-column value colours (shown as `cell_type` cells, if given)."""
    cell = {"custom__cellOptions": {"type": cell_type}} if cell_type else {}
    colored = (
        by_name(column, mappings=value_colors(values), **cell)
        for column, values in (colors or {}).items()
    )
    return unit_overrides(units or {}) + tuple(colored)
