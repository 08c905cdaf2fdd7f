"""Account: one account's score, signals, quadrants, transitions and alerts over time."""

from __future__ import annotations

from textwrap import dedent

from dashboards.build.boards.base import (
    BAND_COLORS,
    HAPPINESS_COLORS,
    READINESS_COLORS,
    SUCCESS_COLORS,
    TIER_COLORS,
    Board,
    drivers_text,
    per_interval,
    rows,
)
from dashboards.build.panels import Panel
from dashboards.build.variables import DB, ONE_ACCOUNT
from dashboards.build.visuals import PanelSpec
from scoring.names import MILESTONE_COMPLETION, SIGNALS

LATEST = f"{DB}.latest_score FINAL"
HISTORY = f"{DB}.score_history"
IN_RANGE = f"{ONE_ACCOUNT} AND $__timeFilter(ts)"
SHADOW = f"{DB}.shadow_scores"


def _over_time(select: str, source: str = HISTORY) -> str:
    """SQL: `select` (naming `time`) over the account's rows of `source` in the time range,
    one row per interval."""
    return per_interval(f"{dedent(select).strip()}\nFROM {source}\nWHERE {IN_RANGE}")


def _latest(table: str, select: str) -> str:
    """SQL: `select` over the account's newest 200 rows of `table` in the time range."""
    return f"{dedent(select).strip()}\nFROM {DB}.{table} FINAL\nWHERE {IN_RANGE}\n" + (
        "ORDER BY ts DESC\nLIMIT 200"
    )


NOW = PanelSpec(
    "Now",
    [
        "health",
        "band",
        "churn_risk",
        "success_quadrant",
        "readiness_quadrant",
        "happiness_band",
        "tier",
        "engagement",
        "coverage",
        "freshness_days",
    ],
    f"""
    SELECT health, band, churn_risk, success_quadrant, readiness_quadrant, happiness_band,
           tier, engagement, coverage, freshness_days
    FROM {LATEST}
    WHERE {ONE_ACCOUNT}
    """,
    (24, 4),
    "The latest score. Coverage: share of the scorecard's weight resting on "
    "known signals; freshness: age in days of the newest data behind it.",
).stat(
    units={
        "churn_risk": "percentunit",
        "coverage": "percentunit",
        "freshness_days": "d",
        "health": "none",
    },
    colors={
        "band": BAND_COLORS,
        "success_quadrant": SUCCESS_COLORS,
        "readiness_quadrant": READINESS_COLORS,
        "happiness_band": HAPPINESS_COLORS,
        "tier": TIER_COLORS,
    },
)


HEALTH = PanelSpec(
    "Health score",
    ["time", "health", "trend_7d", "trend_30d"],
    _over_time("""
    SELECT $__timeInterval(ts) AS time, argMax(health, ts) AS health,
           argMax(trend_7d, ts) AS trend_7d, argMax(trend_30d, ts) AS trend_30d
    """),
    (12, 9),
    "Health (0-100) and its 7 and 30 day trends, last value per interval.",
).timeseries(unit="none")


CHURN_AND_COVERAGE = PanelSpec(
    "Churn risk and coverage",
    ["time", "churn_risk", "coverage"],
    _over_time("""
    SELECT $__timeInterval(ts) AS time, argMax(churn_risk, ts) AS churn_risk,
           argMax(coverage, ts) AS coverage
    """),
    (12, 9),
).timeseries(unit="percentunit", soft_range=(0.0, 1.0))


SIGNALS_OVER_TIME = PanelSpec(
    "Signals",
    ["time", *SIGNALS],
    _over_time(
        "SELECT $__timeInterval(ts) AS time,\n"
        + ",\n".join(f"       argMax(signals['{s}'], ts) AS {s}" for s in SIGNALS)
    ),
    (24, 9),
    "The signals (velocity and both happiness signals on -1..1, the rest "
    f"0..1); a gap is an unknown signal, not zero. `{MILESTONE_COMPLETION}` is where "
    "milestones show: the schema keeps no list of milestones or tickets.",
).timeseries(unit="none", soft_range=(-1.0, 1.0))


TIMELINE = PanelSpec(
    "Quadrant timeline",
    ["time", "success_quadrant", "readiness_quadrant", "band", "happiness_band"],
    _over_time("""
    SELECT $__timeInterval(ts) AS time,
           argMax(success_quadrant, ts) AS success_quadrant,
           argMax(readiness_quadrant, ts) AS readiness_quadrant,
           argMax(band, ts) AS band,
           argMax(happiness_band, ts) AS happiness_band
    """),
    (24, 7),
).state_timeline(colors={**SUCCESS_COLORS, **READINESS_COLORS, **BAND_COLORS, **HAPPINESS_COLORS})


TRANSITIONS = PanelSpec(
    "Transitions",
    ["time", "kind", "from_value", "to_value", "drivers", "event_id"],
    _latest(
        "transitions",
        f"""
        SELECT ts AS time, kind, from_value, to_value, {drivers_text("drivers")} AS drivers,
               event_id
        """,
    ),
    (12, 9),
    "Every change of quadrant, band, tier or success potential, with the signals that moved it.",
).table(colors={"to_value": {**SUCCESS_COLORS, **READINESS_COLORS, **BAND_COLORS}})


ALERTS = PanelSpec(
    "Alerts",
    ["time", "kind", "severity", "message", "tier", "engagement", "dedupe_key"],
    _latest("alerts", "SELECT ts AS time, kind, severity, message, tier, engagement, dedupe_key"),
    (12, 9),
).table(
    colors={"severity": {"critical": "dark-red", "high": "red", "medium": "orange", "low": "blue"}}
)


def _drivers(title: str, column: str, description: str) -> Panel:
    return PanelSpec(
        title,
        ["signal", "value", "weight", "effect"],
        f"""
        SELECT JSONExtractString(d, 'signal') AS signal,
               JSONExtract(d, 'value', 'Nullable(Float64)') AS value,
               JSONExtractFloat(d, 'weight') AS weight,
               JSONExtractFloat(d, 'effect') AS effect
        FROM {LATEST}
        ARRAY JOIN JSONExtractArrayRaw({column}) AS d
        WHERE {ONE_ACCOUNT}
        """,
        (8, 8),
        description,
    ).table()


FITS = PanelSpec(
    "Success potential: the six fits",
    ["fit", "status", "potential"],
    f"""
    SELECT fit, multiIf(holds IS NULL, 'unknown', holds = 1, 'holds', 'missing') AS status,
           multiIf(success_potential IS NULL, 'unknown', success_potential = 1, 'yes', 'no')
               AS potential
    FROM {LATEST}
    ARRAY JOIN mapKeys(fits) AS fit, mapValues(fits) AS holds
    WHERE {ONE_ACCOUNT}
    ORDER BY fit
    """,
    (8, 8),
    "Seed 004: success potential holds only when all six fits hold.",
).table(colors={"status": {"holds": "green", "missing": "red", "unknown": "#8e8e8e"}})


LIVE_VS_SHADOW = PanelSpec(
    "Live vs shadow health",
    ["time", "live_health", "shadow_health"],
    _over_time(
        """
        SELECT $__timeInterval(ts) AS time, argMax(live_health, ts) AS live_health,
               argMax(health, ts) AS shadow_health
        """,
        SHADOW,
    ),
    (24, 8),
    "With `shadow_scorecard` set: the live health and what the shadow "
    "scorecard gives for the same state, at each published score. Empty when no shadow "
    "runs; after a change of shadow scorecard, both scorecards' rows are in range.",
).timeseries(unit="none")


def board() -> Board:
    return Board(
        uid="hs-account",
        title="healthscore · Account",
        description="One account: its score and signal history, quadrant timeline, "
        "transitions, alerts, drivers and fits.",
        tags=("account",),
        one_account=True,
        rows=rows(
            [NOW],
            [HEALTH, CHURN_AND_COVERAGE],
            [SIGNALS_OVER_TIME],
            [TIMELINE],
            [TRANSITIONS, ALERTS],
            [
                _drivers(
                    "Health drivers now",
                    "drivers",
                    "What the latest health score rests on: effect in points.",
                ),
                _drivers(
                    "Churn drivers now",
                    "churn_drivers",
                    "What the churn risk rests on: effect in log-odds.",
                ),
                FITS,
            ],
            [LIVE_VS_SHADOW],
        ),
    )
