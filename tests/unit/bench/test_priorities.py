"""bench.priorities: the report's rates and verdicts from measured figures (no run)."""

from __future__ import annotations

import argparse
from typing import Any

from bench.priorities import per_account_month, report


def _run(alerts: int, not_must_have: int = 0, max_changes: int = 1, after: int = 0) -> Any:
    return {
        "accounts": 2000,
        "mrr_p90": 2900.0,
        "top_decile": {
            "accounts": 668,
            "not_must_have": not_must_have,
            "churn_risk_min": 0.01,
            "churn_risk_max": 0.9,
            "churn_risk_high": 3,
            "scores": 100,
            "scores_not_must_have": not_must_have,
        },
        "tier_changes": {
            "total": 10,
            "mean": 0.5,
            "max": max_changes,
            "accounts_changed": 10,
            "moves": [("nice_to_have", "must_have", 10)],
        },
        "alerts": {
            "total": alerts,
            "kind": {"health_drop": alerts},
            "severity": {"low": alerts // 2, "critical": alerts - alerts // 2},
            "tier": {"must_have": alerts},
            "kind_severity": [("health_drop", "low", alerts)],
        },
        "cancelled": {
            "accounts": 5,
            "alerts_on_them": after,
            "alerts_after": after,
            "accounts_alerted_after": min(after, 5),
            "after_by_kind": {"payment_failed": after} if after else {},
        },
    }


ARGS = argparse.Namespace(accounts=2000, days=60, seed=7)


def test_alerts_per_account_per_month_counts_thirty_day_months() -> None:
    assert per_account_month(7018, 2000, 60) == 7018 / 2000 / 2


def test_each_done_when_check_passes_or_fails_on_its_own_figure() -> None:
    good = report({"now": _run(2000), "old": _run(6000)}, "old", ARGS, "abc", {})
    assert "3.00x below the pre-issue-19 figure (pass: at least 3x)" in good
    assert good.count("(pass)") == 4  # (a) and (d) of both runs
    bad = report(
        {"now": _run(2100, not_must_have=2, max_changes=3, after=1), "old": _run(6000)},
        "old",
        ARGS,
        "abc",
        {},
    )
    assert "(FAIL: at least 3x)" in bad
    assert "**2** not must-have (FAIL)" in bad
    assert "FAIL: fewer than 2" in bad
    assert "**1** at or after the cancellation on 1 accounts (FAIL): payment_failed 1" in bad


def test_without_a_baseline_the_issue_figure_is_quoted() -> None:
    text = report({"now": _run(2000)}, None, ARGS, "abc", {})
    assert "the issue's figure, not measured here" in text
    assert f"{7018 / 2000 / 2 / (2000 / 2000 / 2):.2f}x below" in text
