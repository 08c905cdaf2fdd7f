"""Work to keep: the accounts in either work-to-keep quadrant, and what to do about them."""

from __future__ import annotations

from dashboards.build.boards.base import (
    SUCCESS_COLORS,
    TIER_COLORS,
    Board,
    count_by_tier,
    drivers_text,
    per_interval,
    rows,
    tier_order,
)
from dashboards.build.variables import ACCOUNT_SCOPE, ACCOUNTS_IN_SCOPE, DB
from dashboards.build.visuals import PanelSpec

IN_WORK_TO_KEEP = "success_quadrant LIKE 'work_to_keep:%' AND cancelled = 0"
WORK_TO_KEEP_COLORS = {k: v for k, v in SUCCESS_COLORS.items() if k.startswith("work_to_keep:")}


TOTALS = PanelSpec(
    "In work to keep now",
    ["flight_risk", "unprofitable", "mrr_at_stake"],
    f"""
    SELECT countIf(success_quadrant = 'work_to_keep:flight_risk') AS flight_risk,
           countIf(success_quadrant = 'work_to_keep:unprofitable') AS unprofitable,
           sum(mrr) AS mrr_at_stake
    FROM {DB}.latest_score FINAL
    WHERE {IN_WORK_TO_KEEP} AND {ACCOUNT_SCOPE}
    """,
    (8, 6),
    "Active accounts in each work-to-keep quadrant and the MRR they bring.",
).stat(units={"mrr_at_stake": "currencyUSD"})


BY_TIER = PanelSpec(
    "Work to keep by tier",
    ["quadrant", *TIER_COLORS],
    f"""
    SELECT success_quadrant AS quadrant, {count_by_tier()}
    FROM {DB}.latest_score FINAL
    WHERE {IN_WORK_TO_KEEP} AND {ACCOUNT_SCOPE}
    GROUP BY quadrant
    ORDER BY quadrant
    """,
    (8, 6),
).barchart(series_colors=TIER_COLORS)


ENTRIES = PanelSpec(
    "Moves into work to keep",
    ["time", "flight_risk", "unprofitable"],
    per_interval(f"""
    SELECT $__timeInterval(ts) AS time,
           countIf(to_value = 'work_to_keep:flight_risk') AS flight_risk,
           countIf(to_value = 'work_to_keep:unprofitable') AS unprofitable
    FROM {DB}.transitions FINAL
    WHERE kind = 'success_quadrant' AND to_value LIKE 'work_to_keep:%'
      AND $__timeFilter(ts) AND {ACCOUNTS_IN_SCOPE}
    """),
    (8, 6),
    "Success-quadrant transitions into either work-to-keep quadrant (event time).",
).timeseries(bars=True)


ACCOUNTS = PanelSpec(
    "Accounts to work on",
    [
        "account_id",
        "quadrant",
        "since",
        "tier",
        "churn_risk",
        "health",
        "mrr",
        "approach",
        "focus",
        "drivers",
    ],
    f"""
    SELECT l.account_id AS account_id,
           l.success_quadrant AS quadrant,
           s.since AS since,
           l.tier AS tier,
           l.churn_risk AS churn_risk,
           l.health AS health,
           l.mrr AS mrr,
           l.engagement AS approach,
           multiIf(l.success_quadrant = 'work_to_keep:flight_risk',
                   'make them happier: find and fix what hurts',
                   'lower the cost to serve: self-serve, training, pricing') AS focus,
           {drivers_text("l.drivers")} AS drivers
    FROM (
        SELECT account_id, success_quadrant, tier, churn_risk, health, mrr, engagement,
               drivers
        FROM {DB}.latest_score FINAL
        WHERE {IN_WORK_TO_KEEP} AND {ACCOUNT_SCOPE}
    ) AS l
    LEFT JOIN (
        SELECT account_id, to_value, max(ts) AS since
        FROM {DB}.transitions FINAL
        WHERE kind = 'success_quadrant' AND to_value LIKE 'work_to_keep:%'
        GROUP BY account_id, to_value
    ) AS s ON s.account_id = l.account_id AND s.to_value = l.success_quadrant
    ORDER BY {tier_order("l.tier")}, l.churn_risk DESC
    SETTINGS join_use_nulls = 1
    """,
    (24, 14),
    "Every active account in either work-to-keep quadrant, must-haves first. "
    "`since`: when it entered its current quadrant (the latest transition into it). "
    "`approach`: the engagement its importance tier calls for (seed 003). `drivers`: the "
    "signals behind its health score, in points.",
).table(
    units={
        "churn_risk": "percentunit",
        "health": "none",
        "mrr": "currencyUSD",
        "since": "dateTimeAsIso",
    },
    colors={"quadrant": WORK_TO_KEEP_COLORS, "tier": TIER_COLORS},
)


def board() -> Board:
    return Board(
        uid="hs-work-to-keep",
        title="healthscore · Work to keep",
        description="Accounts that are profitable but unhappy (flight risk) or happy but "
        "costly (unprofitable): since when, how important, how likely to churn, why, and "
        "how to engage.",
        tags=("work-to-keep",),
        rows=rows([TOTALS, BY_TIER, ENTRIES], [ACCOUNTS]),
    )
