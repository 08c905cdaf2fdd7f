"""Portfolio: where every account stands on the two 2x2s, and what moved this week."""

from __future__ import annotations

from dataclasses import dataclass

from dashboards.build.boards.base import (
    BAND_COLORS,
    READINESS_COLORS,
    SUCCESS_COLORS,
    TIER_COLORS,
    Board,
    count_by,
    count_by_tier,
    per_ten_points,
    rows,
)
from dashboards.build.panels import Panel, pretty
from dashboards.build.scatter import Axis, Series, scatter
from dashboards.build.variables import ACCOUNT_SCOPE, ACCOUNTS_IN_SCOPE, DB
from dashboards.build.visuals import PanelSpec

LATEST = f"{DB}.latest_score FINAL"
ACTIVE = f"cancelled = 0 AND {ACCOUNT_SCOPE}"
"""Active accounts in the selected segments, tiers and accounts."""


@dataclass(frozen=True, slots=True)
class QuadrantLines:
    """Where the quadrant borders are drawn; the scoring config's thresholds
    (`success_quadrant.*_threshold`, `readiness.*_threshold`; a unit test keeps them equal)."""

    customer: float = 0.0
    company: float = 0.0
    clarity: float = 0.5
    priority: float = 0.5


@dataclass(frozen=True, slots=True)
class Quadrant:
    """A 2x2 of two signals: the column holding each account's quadrant, the two axes, and
    each quadrant's value with its legend label (top right, top left, bottom right, bottom
    left)."""

    column: str
    axes: tuple[Axis, Axis]
    labels: tuple[tuple[str, str], ...]


SUCCESS = Quadrant(
    "success_quadrant",
    (
        Axis(
            "customer_happiness",
            "customer happiness (walkaway angry … gushing promoter)",
            (-1.0, 1.0),
        ),
        Axis("company_happiness", "company happiness (profitability)", (-1.0, 1.0)),
    ),
    (
        ("customer_success", "↗ customer success: happy and profitable"),
        ("work_to_keep:flight_risk", "↖ work to keep: flight risk (profitable, unhappy)"),
        ("work_to_keep:unprofitable", "↘ work to keep: unprofitable (happy, costly)"),
        ("reassess", "↙ reassess: unhappy and costly"),
    ),
)
READINESS = Quadrant(
    "readiness_quadrant",
    (Axis("goal_clarity", "goal clarity", (0.0, 1.0)), Axis("priority", "priority", (0.0, 1.0))),
    (
        ("achiever", "↗ achiever: clear goals, high priority"),
        ("soldier", "↖ soldier: high priority, unclear goals"),
        ("dreamer", "↘ dreamer: clear goals, low priority"),
        ("wanderer", "↙ wanderer: neither"),
    ),
)
QUADRANT_COLORS = {**SUCCESS_COLORS, **READINESS_COLORS}


def _points(x: str, y: str, column: str, value: str, label: str) -> Series:
    """The accounts of one quadrant, placed by two of their signals."""
    sql = f"""
        SELECT account_id, signals['{x}'] AS {x}, signals['{y}'] AS {y}, mrr, health, tier
        FROM {LATEST}
        WHERE {column} = '{value}' AND cancelled = 0
          AND signals['{x}'] IS NOT NULL AND signals['{y}'] IS NOT NULL
          AND {ACCOUNT_SCOPE}
    """
    return Series(label, QUADRANT_COLORS[value], sql, ("account_id", x, y, "mrr", "health", "tier"))


def _guides(x: Axis, y: Axis, at_x: float, at_y: float) -> list[str]:
    """A vertical line at x = at_x and a horizontal one at y = at_y across the plot."""
    (x_low, x_high), (y_low, y_high) = x.soft_range, y.soft_range
    return [
        f"SELECT toFloat64({at_x}) AS {x.column}, arrayJoin([{y_low}, {y_high}]) AS {y.column}",
        f"SELECT arrayJoin([{x_low}, {x_high}]) AS {x.column}, toFloat64({at_y}) AS {y.column}",
    ]


def _quadrant(title: str, description: str, quadrant: Quadrant, at: tuple[float, float]) -> Panel:
    """Each account (size: MRR) placed by the quadrant's two signals, coloured by the
    quadrant the scoring core assigned, with grey lines at the borders `at` (x, y)."""
    x, y = quadrant.axes
    return scatter(
        title,
        quadrant.axes,
        [_points(x.column, y.column, quadrant.column, q, label) for q, label in quadrant.labels],
        _guides(x, y, *at),
        (12, 13),
        bubble="mrr",
        description=description,
    )


def success_quadrant(lines: QuadrantLines) -> Panel:
    return _quadrant(
        "Success quadrant: customer happiness vs company happiness",
        "Seed 002. Each point is an account (size: MRR), coloured by the quadrant "
        "the scoring core assigned (with hysteresis, so a point just across a grey line may "
        "keep its old colour). Top right: customer success; top left: flight risk; bottom "
        "right: unprofitable; bottom left: reassess.",
        SUCCESS,
        (lines.customer, lines.company),
    )


def readiness_quadrant(lines: QuadrantLines) -> Panel:
    return _quadrant(
        "Readiness quadrant: goal clarity vs priority",
        "Seed 000. Each point is an account (size: MRR). Top right: achievers; "
        "top left: soldiers; bottom right: dreamers; bottom left: wanderers.",
        READINESS,
        (lines.clarity, lines.priority),
    )


def _counts(title: str, column: str, description: str) -> Panel:
    return PanelSpec(
        title,
        [column, *TIER_COLORS],
        f"""
        SELECT ifNull({column}, 'unknown') AS {column}, {count_by_tier()}
        FROM {LATEST}
        WHERE {ACTIVE}
        GROUP BY {column}
        ORDER BY {column}
        """,
        (8, 8),
        description,
    ).barchart(series_colors=TIER_COLORS)


MOVEMENTS = PanelSpec(
    "Movements between quadrants in the last 7 days",
    ["kind", "from_quadrant", "to_quadrant", "movements", "accounts"],
    f"""
    SELECT kind,
           ifNull(from_value, '(first score)') AS from_quadrant,
           ifNull(to_value, '(none)') AS to_quadrant,
           count() AS movements,
           uniqExact(account_id) AS accounts
    FROM {DB}.transitions FINAL
    WHERE kind IN ('success_quadrant', 'readiness_quadrant')
      AND ts > $__toTime - INTERVAL 7 DAY AND ts <= $__toTime
      AND {ACCOUNTS_IN_SCOPE}
    GROUP BY kind, from_quadrant, to_quadrant
    ORDER BY movements DESC
    """,
    (12, 9),
    "Quadrant transitions in the 7 days up to the end of the time range (event time).",
).table(
    colors={
        "from_quadrant": {**SUCCESS_COLORS, **READINESS_COLORS},
        "to_quadrant": {**SUCCESS_COLORS, **READINESS_COLORS},
    }
)


HEALTH_DISTRIBUTION = PanelSpec(
    "Health distribution",
    ["health", *BAND_COLORS],
    per_ten_points("health", "health", "band", BAND_COLORS, ACTIVE),
    (12, 9),
    "Accounts per 10 points of health, split by band (green / yellow / red).",
).barchart(series_colors=BAND_COLORS)


SHADOW_NOW = f"""
    SELECT account_id,
           argMax(live_band, (ts, events_applied)) AS live,
           argMax(band, (ts, events_applied)) AS shadow,
           argMax(health - live_health, (ts, events_applied)) AS difference
    FROM {DB}.shadow_scores
    WHERE ts <= $__toTime
      AND account_id IN (SELECT account_id FROM {LATEST}
                         WHERE {ACTIVE})
    GROUP BY account_id"""
"""Each active account's latest shadow row up to the end of the time range."""


SHADOW_BANDS = PanelSpec(
    "Shadow scorecard: accounts per live band, by shadow band",
    ["live_band", *BAND_COLORS],
    f"""
    SELECT live AS live_band,
           {count_by("shadow", BAND_COLORS)}
    FROM ({SHADOW_NOW})
    GROUP BY live
    ORDER BY indexOf({list(BAND_COLORS)!r}, live)
    """,
    (12, 8),
    "With `shadow_scorecard` set: each active account's latest live band, "
    "split by the band the shadow scorecard gives it. A bar of one colour: the shadow "
    "moves no account out of that band.",
).barchart(series_colors=BAND_COLORS)


SHADOW_MIGRATIONS = PanelSpec(
    "Shadow scorecard: band migrations live → shadow",
    ["live_band", "shadow_band", "accounts", "mean_difference", "mean_abs_difference"],
    f"""
    SELECT live AS live_band, shadow AS shadow_band, count() AS accounts,
           round(avg(difference), 2) AS mean_difference,
           round(avg(abs(difference)), 2) AS mean_abs_difference
    FROM ({SHADOW_NOW})
    GROUP BY live, shadow
    ORDER BY indexOf({list(BAND_COLORS)!r}, live), indexOf({list(BAND_COLORS)!r}, shadow)
    """,
    (12, 8),
    "Accounts per (live band, shadow band) at their latest score, and the "
    "mean shadow minus live health (points). Shadow bands start their hysteresis from "
    "the live band, so a migration here is a move clearly across a border.",
).table(colors={"live_band": BAND_COLORS, "shadow_band": BAND_COLORS})


def board(lines: QuadrantLines | None = None) -> Board:
    lines = lines or QuadrantLines()
    return Board(
        uid="hs-portfolio",
        title="healthscore · Portfolio",
        description="Every account on the success and readiness quadrants, counts per "
        "quadrant, tier and band, the health distribution and this week's movements.",
        tags=("portfolio",),
        rows=rows(
            [success_quadrant(lines), readiness_quadrant(lines)],
            [
                _counts(
                    "Accounts per success quadrant and tier",
                    "success_quadrant",
                    "Current success quadrant of each active account, stacked by tier. "
                    + ", ".join(pretty(q) for q in SUCCESS_COLORS)
                    + ".",
                ),
                _counts(
                    "Accounts per readiness quadrant and tier",
                    "readiness_quadrant",
                    "Current readiness quadrant of each active account, stacked by tier.",
                ),
                _counts(
                    "Accounts per health band and tier",
                    "band",
                    "Current health band of each active account, stacked by tier.",
                ),
            ],
            [HEALTH_DISTRIBUTION, MOVEMENTS],
            [SHADOW_BANDS, SHADOW_MIGRATIONS],
        ),
    )
