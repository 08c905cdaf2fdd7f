"""Hypothesis strategies: random but valid event histories of one account."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from schemas.events import Event
from tests.unit.scoring.factory import make

_FIELDS: dict[str, Any] = {
    "feature_used": lambda i: {
        "user_id": f"u{i % 7}",
        "feature": f"f{i % 5}",
        "quantity": float(i % 4),
    },
    "ticket_opened": lambda i: {
        "ticket_id": f"T{i % 4}",
        "priority": ["low", "normal", "high", "urgent"][i % 4],
    },
    "ticket_escalated": lambda i: {"ticket_id": f"T{i % 4}"},
    "ticket_resolved": lambda i: {
        "ticket_id": f"T{i % 4}",
        "handling_minutes": float(10 * (i % 9)),
    },
    "ticket_reopened": lambda i: {"ticket_id": f"T{i % 4}"},
    "csat_response": lambda i: {"score": 1 + i % 5},
    "nps_response": lambda i: {"score": i % 11},
    "feedback_submitted": lambda i: {"sentiment": ["positive", "neutral", "negative"][i % 3]},
    "subscription_started": lambda i: {
        "plan": "growth",
        "mrr": 100.0 * (1 + i % 9),
        "seats": 1 + i % 12,
    },
    "subscription_changed": lambda i: {
        "plan": ["starter", "growth"][i % 2],
        "mrr": 50.0 * (1 + i % 13),
        "seats": 1 + i % 20,
        "segment": ["default", "enterprise", None][i % 3],
    },
    "subscription_cancelled": lambda i: {},
    "invoice_paid": lambda i: {"invoice_id": f"I{i % 6}", "amount": 100.0},
    "invoice_failed": lambda i: {"invoice_id": f"I{i % 6}", "amount": 100.0},
    "credit_issued": lambda i: {"amount": float(i % 50)},
    "discount_applied": lambda i: {"amount": float(i % 30), "months": 1 + i % 3},
    "goal_defined": lambda i: {"goal_id": f"G{i % 3}", "desired_outcome": "outcome"},
    "milestone_planned": lambda i: {
        "milestone_id": f"M{i % 5}",
        "due": float(i % 90),
        "expansion": i % 4 == 0,
    },
    "milestone_completed": lambda i: {"milestone_id": f"M{i % 5}"},
    "fit_assessed": lambda i: {
        "fit": ["technical", "functional", "resource", "competence", "experience", "cultural"][
            i % 6
        ],
        "holds": i % 5 != 0,
    },
    "sponsor_engaged": lambda i: {"seniority": ["executive", "manager", "individual"][i % 3]},
    "meeting_held": lambda i: {"duration_minutes": float(15 * (i % 5))},
    "importance_set": lambda i: {
        "tier": [None, "must_have", "want_to_have", "nice_to_have"][i % 4]
    },
}
KINDS = sorted(_FIELDS)


@st.composite
def histories(draw: st.DrawFn, max_size: int = 60, max_day: float = 120.0) -> list[Event]:
    """Events of one account in event-time order, each with a unique id."""
    raw = draw(
        st.lists(
            st.tuples(
                st.sampled_from(KINDS),
                st.floats(0, max_day, allow_nan=False),
                st.integers(0, 10**6),
            ),
            min_size=1,
            max_size=max_size,
        )
    )
    events = [
        make(kind, day, event_id=f"h{n}", **_FIELDS[kind](i))
        for n, (kind, day, i) in enumerate(raw)
    ]
    events.sort(key=lambda e: e.ts)
    return events
