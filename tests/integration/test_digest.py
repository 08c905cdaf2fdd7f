"""`healthscore digest`: one day's alerts per tier, read back from the embedded ClickHouse."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from schemas.events import Tier
from schemas.outputs import Alert, Severity
from scoring.classify import ENGAGEMENT
from streams.alert_route import AlertRoute
from streams.clickhouse import connect, migrate
from streams.clickhouse.rows import ALERT_COLUMNS, alert_row
from streams.digest import latest_day, read_digest, render

pytestmark = pytest.mark.integration


def _alert(n: int, account: str, day: int, kind: str, severity: str, tier: Tier) -> Alert:
    return Alert(
        alert_id=f"a{n}",
        account_id=account,
        ts=datetime(2026, 3, day, 9, n, tzinfo=UTC),
        kind=kind,
        severity=Severity(severity),
        dedupe_key=f"{account}:{kind}",
        message=f"{kind} on {account}",
        tier=tier,
        engagement=ENGAGEMENT[tier],
        event_id=f"e{n}",
        config_version="test",
    )


ALERTS = [
    _alert(1, "big-1", 2, "churn_risk_high", "critical", Tier.MUST_HAVE),
    _alert(2, "big-2", 2, "milestone_overdue", "medium", Tier.MUST_HAVE),
    _alert(3, "mid-1", 2, "entered_work_to_keep", "high", Tier.WANT_TO_HAVE),
    _alert(4, "small-1", 2, "milestone_overdue", "low", Tier.NICE_TO_HAVE),
    _alert(5, "small-2", 2, "health_drop", "low", Tier.NICE_TO_HAVE),
    _alert(6, "small-1", 3, "health_drop", "medium", Tier.NICE_TO_HAVE),  # the next day
]


@pytest.fixture
def ch(tmp_path):
    from streams.settings import load_settings

    with connect(load_settings(data_dir=tmp_path, clickhouse_database="hs_digest")) as client:
        migrate(client)
        client.insert("alerts", [alert_row(a) for a in ALERTS], ALERT_COLUMNS)
        yield client


def test_a_days_alerts_are_counted_per_tier_most_severe_first(ch) -> None:
    digest = read_digest(ch, date(2026, 3, 2), AlertRoute())
    assert digest.alerts == 5
    must, want, nice = digest.tiers
    assert (must.tier, must.alerts, dict(must.severities)) == (
        Tier.MUST_HAVE,
        2,
        {"critical": 1, "medium": 1},
    )
    assert [line.account_id for line in must.lines] == ["big-1", "big-2"]
    assert (want.alerts, nice.alerts, len(nice.accounts)) == (1, 2, 2)
    assert dict(nice.kinds) == {"milestone_overdue": 1, "health_drop": 1}
    text = render(digest)
    assert "must_have (one_to_one): 2 alerts on 2 accounts" in text
    assert "nice_to_have (one_to_many): 2 alerts on 2 accounts" in text
    assert text.index("big-1") < text.index("big-2")


def test_the_digest_takes_the_route_of_the_webhook(ch) -> None:
    digest = read_digest(ch, date(2026, 3, 2), AlertRoute(Severity.MEDIUM))
    assert [t.alerts for t in digest.tiers] == [2, 1, 0]
    only = read_digest(ch, date(2026, 3, 2), AlertRoute(kinds=frozenset({"milestone_overdue"})))
    assert [t.alerts for t in only.tiers] == [1, 0, 1]


def test_the_default_day_is_the_day_of_the_newest_alert(ch) -> None:
    assert latest_day(ch) == date(2026, 3, 3)
    (_, _, nice) = read_digest(ch, date(2026, 3, 3), AlertRoute()).tiers
    assert [line.account_id for line in nice.lines] == ["small-1"]
