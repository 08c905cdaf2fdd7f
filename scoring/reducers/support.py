"""Support reducers: tickets, CSAT, NPS and feedback (customer happiness)."""

from __future__ import annotations

from schemas import events as ev
from scoring.scratch import Reducer, Scratch, newer, rebuild
from scoring.state import Stamped


def _support(s: Scratch, opened: int = 0, resolved: int = 0, reopened: int = 0) -> None:
    p = s.support
    s.support = rebuild(
        p, opened=p.opened + opened, resolved=p.resolved + resolved, reopened=p.reopened + reopened
    )


def _ticket_opened(s: Scratch, e: ev.TicketOpened, ts: float, day: int, h: int) -> str:
    _support(s, opened=1)
    s.add("tickets", day, getattr(s.config.happiness.ticket_priority_weights, e.priority.value))
    return "support"


def _ticket_escalated(s: Scratch, e: ev.TicketEscalated, ts: float, day: int, h: int) -> str:
    s.add("escalations", day, 1.0)
    return "support"


def _ticket_resolved(s: Scratch, e: ev.TicketResolved, ts: float, day: int, h: int) -> str:
    _support(s, resolved=1)
    s.add("handling_minutes", day, e.handling_minutes)
    return "support"


def _ticket_reopened(s: Scratch, e: ev.TicketReopened, ts: float, day: int, h: int) -> str:
    _support(s, reopened=1)
    s.add("reopenings", day, 1.0)
    return "support"


def _csat(s: Scratch, e: ev.CsatResponse, ts: float, day: int, h: int) -> str:
    s.add("csat_sum", day, float(e.score))
    s.add("csat_count", day, 1.0)
    return "support"


def _nps(s: Scratch, e: ev.NpsResponse, ts: float, day: int, h: int) -> str:
    s.add("nps_responses", day, 1.0)
    if e.score >= 9:
        s.add("nps_promoters", day, 1.0)
    elif e.score <= 6:
        s.add("nps_detractors", day, 1.0)
    if newer(ts, h, s.support.last_nps):
        s.support = rebuild(s.support, last_nps=Stamped(ts, h, e.score))
    return "support"


_SENTIMENT = {"negative": 0.0, "neutral": 1.0, "positive": 2.0}


def _feedback(s: Scratch, e: ev.FeedbackSubmitted, ts: float, day: int, h: int) -> str:
    s.add("feedback_sum", day, _SENTIMENT[e.sentiment])
    s.add("feedback_count", day, 1.0)
    return "support"


REDUCERS: dict[str, Reducer] = {
    "ticket_opened": _ticket_opened,
    "ticket_escalated": _ticket_escalated,
    "ticket_resolved": _ticket_resolved,
    "ticket_reopened": _ticket_reopened,
    "csat_response": _csat,
    "nps_response": _nps,
    "feedback_submitted": _feedback,
}
