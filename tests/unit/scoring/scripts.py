"""Scripted account histories for engine tests (built with the schemas models)."""

from __future__ import annotations

from tests.unit.scoring.factory import Events


def healthy(account: str = "acct-1", days: int = 40, segment: str | None = None) -> Events:
    """A customer on an annual starter plan using every feature daily, happy, profitable."""
    ev = Events(account)
    ev.add(
        "subscription_started",
        0,
        plan="starter",
        mrr=2000.0,
        seats=4,
        segment=segment,
        term_end=365,
    )
    ev.add("goal_defined", 0.1, goal_id="G1", desired_outcome="close the books in 3 days")
    for i in range(3):
        ev.add("milestone_planned", 0.2, milestone_id=f"M{i}", due=10 + 10 * i)
    ev.add("sponsor_engaged", 0.3, seniority="executive")
    for day in range(days):
        for user in range(4):
            for feature in range(6):
                ev.add(
                    "feature_used", day + 0.4, user_id=f"u{user}", feature=f"f{feature}", quantity=2
                )
        if day % 14 == 0:
            ev.add("meeting_held", day + 0.5, kind="check_in", duration_minutes=30)
            ev.add("sponsor_engaged", day + 0.5, seniority="executive")
        if day % 30 == 0:
            ev.add("invoice_paid", day + 0.6, invoice_id=f"I{day}", amount=2000.0)
    ev.add("milestone_completed", 5, milestone_id="M0")
    ev.add("milestone_completed", 15, milestone_id="M1")
    ev.add("nps_response", 20, score=10)
    ev.add("csat_response", 21, score=5)
    ev.items.sort(key=lambda e: e.ts)
    return ev
