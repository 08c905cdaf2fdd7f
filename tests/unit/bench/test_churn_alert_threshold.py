"""bench.churn_alert_threshold: the churn_risk_high rule replayed on daily risks."""

from __future__ import annotations

import pandas as pd

from bench.churn_alert_threshold import measure, replay


def _risks(account: str, start: str, values: list[float]) -> pd.DataFrame:
    days = pd.date_range(start, periods=len(values), freq="D")
    return pd.DataFrame({"account_id": account, "day": days, "risk": values})


def test_replay_holds_the_condition_inside_the_hysteresis_band() -> None:
    # up (alert), dips inside the band (holds: no new edge), back up, falls out, up (alert)
    df = _risks("a", "2023-03-01", [0.1, 0.3, 0.22, 0.3, 0.1, 0.3])
    alerts = replay(df, pd.Series(dtype="datetime64[ns]"), 0.25, 0.05, 1)
    assert list(alerts.day) == [pd.Timestamp("2023-03-02"), pd.Timestamp("2023-03-06")]


def test_replay_raises_no_edge_within_the_cooldown() -> None:
    values = [0.1, 0.3, 0.1, 0.3, 0.1] + [0.1] * 14 + [0.3]
    df = _risks("a", "2023-03-01", values)
    alerts = replay(df, pd.Series(dtype="datetime64[ns]"), 0.25, 0.05, 14)
    assert list(alerts.day) == [pd.Timestamp("2023-03-02"), pd.Timestamp("2023-03-20")]


def test_replay_raises_nothing_from_the_cancellation_on() -> None:
    df = _risks("a", "2023-03-01", [0.1, 0.1, 0.9, 0.9])
    cancel = pd.Series({"a": pd.Timestamp("2023-03-03")})
    assert replay(df, cancel, 0.5, 0.05, 14).empty


def test_measure_counts_precision_against_the_horizon_and_recall_of_cancellations() -> None:
    df = pd.concat(
        [
            _risks("leaver", "2023-01-01", [0.1] * 59 + [0.6]),  # alert 2023-03-01
            _risks("stayer", "2023-01-01", [0.1] * 59 + [0.6]),
        ]
    )
    cancel = pd.Series({"leaver": pd.Timestamp("2023-04-10")})
    alerts = replay(df, cancel, 0.5, 0.05, 14)
    m = measure(df, alerts, cancel, horizon=90)
    assert m["alerts"] == 2
    assert m["precision"] == 0.5
    assert m["recall"] == 1.0
    assert m["median_lead_days"] == 40
