"""Churn risk: who is most likely to cancel and why, and how good the model has been."""

from __future__ import annotations

from dashboards.build.boards.base import (
    BAND_COLORS,
    SUCCESS_COLORS,
    TIER_COLORS,
    TIERS,
    Board,
    drivers_text,
    per_ten_points,
    rows,
)
from dashboards.build.scatter import Axis, Series, scatter
from dashboards.build.variables import ACCOUNT_SCOPE, DB
from dashboards.build.visuals import PanelSpec

TRACK_RECORD = f"{DB}.churn_track_record FINAL"
LATEST_VERSION = f"model_version = (SELECT argMax(model_version, computed_at) FROM {TRACK_RECORD})"


TOP_ACCOUNTS = PanelSpec(
    "Highest churn risk",
    [
        "account_id",
        "churn_risk",
        "tier",
        "segment",
        "health",
        "band",
        "quadrant",
        "mrr",
        "churn_drivers",
    ],
    f"""
    SELECT account_id, churn_risk, tier, segment, health, band,
           success_quadrant AS quadrant, mrr,
           {drivers_text("churn_drivers")} AS churn_drivers
    FROM {DB}.latest_score FINAL
    WHERE cancelled = 0 AND churn_risk IS NOT NULL AND {ACCOUNT_SCOPE}
    ORDER BY churn_risk DESC, mrr DESC
    LIMIT 50
    """,
    (16, 12),
    "The 50 active accounts most likely to cancel within the model's horizon. "
    "`churn_drivers`: each signal's contribution in log-odds (negative lowers the risk).",
).table(
    units={"churn_risk": "percentunit", "health": "none", "mrr": "currencyUSD"},
    colors={"tier": TIER_COLORS, "band": BAND_COLORS, "quadrant": SUCCESS_COLORS},
)


DISTRIBUTION = PanelSpec(
    "Churn risk distribution",
    ["churn_risk", *TIER_COLORS],
    per_ten_points(
        "churn_risk",
        "churn_risk * 100",
        "tier",
        TIERS,
        f"cancelled = 0 AND churn_risk IS NOT NULL AND {ACCOUNT_SCOPE}",
        percent=True,
    ),
    (8, 12),
    "Active accounts per 10 % of churn risk, stacked by tier.",
).barchart(series_colors=TIER_COLORS)


QUALITY_OVER_TIME = PanelSpec(
    "Model track record: AUC and Brier score per version",
    ["time", "auc", "brier"],
    f"""
    SELECT computed_at AS time, auc, brier
    FROM {TRACK_RECORD}
    ORDER BY time
    """,
    (12, 9),
    "One point per model version, at the time its record was computed. AUC: "
    "ranking quality (0.5 is chance, higher is better). Brier: mean squared error of the "
    "probabilities (lower is better).",
).timeseries(unit="none", soft_range=(0.0, 1.0))


VERSIONS = PanelSpec(
    "Model versions",
    [
        "model_version",
        "computed_at",
        "examples",
        "positives",
        "auc",
        "auc_previous",
        "auc_fell",
        "brier",
    ],
    f"""
    SELECT model_version, computed_at, examples, positives, auc, auc_previous, auc_fell,
           brier
    FROM {TRACK_RECORD}
    ORDER BY computed_at DESC
    """,
    (12, 9),
    "The churn model's record per version against the outcomes the service "
    "observed (cancellations, and survival past the horizon). `auc_fell` = 1: this "
    "version's AUC is below the previous version's by more than HEALTHSCORE_CHURN_AUC_DROP "
    "(roll back: docs/operations.md, The churn model).",
).table(units={"computed_at": "dateTimeAsIso"})


CALIBRATION = scatter(
    "Calibration of the latest model: predicted vs observed churn",
    description="Each point is a probability bin of the latest model version (size: "
    "examples in the bin). On the grey diagonal, predictions match what happened.",
    axes=(
        Axis("predicted", "predicted churn probability", (0.0, 1.0)),
        Axis("observed", "observed churn rate", (0.0, 1.0)),
    ),
    series=[
        Series(
            "latest model version",
            "blue",
            f"""
            SELECT predicted, observed, examples, bin_start
            FROM {TRACK_RECORD}
            ARRAY JOIN bin_lower AS bin_start, bin_predicted AS predicted,
                       bin_observed AS observed, bin_count AS examples
            WHERE {LATEST_VERSION} AND examples > 0
            """,
            ("predicted", "observed", "examples", "bin_start"),
        )
    ],
    guides=["SELECT arrayJoin([0.0, 1.0]) AS predicted, predicted AS observed"],
    size=(12, 10),
    bubble="examples",
)


BINS = PanelSpec(
    "Calibration bins of the latest model",
    ["model_version", "bin_start", "predicted", "observed", "examples"],
    f"""
    SELECT model_version, bin_start, predicted, observed, examples
    FROM {TRACK_RECORD}
    ARRAY JOIN bin_lower AS bin_start, bin_predicted AS predicted,
               bin_observed AS observed, bin_count AS examples
    WHERE {LATEST_VERSION}
    ORDER BY bin_start
    """,
    (12, 10),
).table(units={"bin_start": "percentunit", "predicted": "percentunit", "observed": "percentunit"})


def board() -> Board:
    return Board(
        uid="hs-churn-risk",
        title="healthscore · Churn risk",
        description="Accounts most likely to cancel with their drivers, and the churn model's "
        "own track record (AUC, Brier, calibration) per model version.",
        tags=("churn",),
        rows=rows(
            [TOP_ACCOUNTS, DISTRIBUTION],
            [QUALITY_OVER_TIME, VERSIONS],
            [CALIBRATION, BINS],
        ),
    )
