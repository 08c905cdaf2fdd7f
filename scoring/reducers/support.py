"""Support reducers: tickets, CSAT, NPS and feedback (customer happiness).

Open tickets are counted from each ticket's status (last writer wins by ts over
opened, reopened and resolved; a resolution wins a tie), not from event counts:
resolving a ticket twice closes it once, and resolving an id never opened closes
nothing (it is remembered as resolved, so its opening, if that arrives later with
an older time, does not count as open). A resolved ticket is forgotten once
resolved longer than the allowed lateness ago: exactly, as any event still accepted
about it is newer and decides its status alone. Open tickets are capped at
`MAX_OPEN_TICKETS` (the oldest is forgotten first), and resolved ones still within
the lateness at `MAX_RESOLVED_TICKETS` (against a flood).
"""

from __future__ import annotations

from collections.abc import Mapping

from schemas import events as ev
from scoring.bounded import id_hash
from scoring.facts import Stamped, Ticket
from scoring.scratch import Reducer, Scratch, newer, rebuild

MAX_OPEN_TICKETS = 16
"""Open tickets remembered per account (above `happiness.open_ticket_cap`, the most the
open-ticket penalty counts)."""
MAX_RESOLVED_TICKETS = 16
"""Tickets resolved within the allowed lateness remembered per account."""


def ticket_key(ticket_id: str) -> str:
    """A ticket as kept in `SupportFacts.tickets`: its 48-bit id hash in hex (tickets are
    counted, never shown, so 12 characters whatever the id's length)."""
    return f"{id_hash(ticket_id):012x}"


def _oldest(tickets: dict[str, Ticket], is_open: bool) -> str:
    return min((k for k, t in tickets.items() if t.open is is_open), key=lambda k: (tickets[k], k))


def _wins(new: Ticket, old: Ticket | None) -> bool:
    """Last writer wins by ts; at the same ts a resolution wins (True > False, inverted)."""
    return old is None or (new.ts, not new.open) > (old.ts, not old.open)


def _with_status(
    tickets: Mapping[str, Ticket], ticket_id: str, status: Ticket, cutoff: float
) -> Mapping[str, Ticket]:
    """`tickets` with `status` merged in (last writer wins), the resolved ones older than
    `cutoff` forgotten and both kinds capped; `tickets` itself when nothing changes."""
    stale = any(not t.open and t.ts < cutoff for t in tickets.values())
    wins = _wins(status, tickets.get(ticket_id))
    if not stale and not wins:
        return tickets
    out = {k: t for k, t in tickets.items() if t.open or t.ts >= cutoff}
    if wins:
        out[ticket_id] = status
    opened = sum(1 for t in out.values() if t.open)
    for _ in range(opened - MAX_OPEN_TICKETS):
        del out[_oldest(out, True)]
    for _ in range(len(out) - min(opened, MAX_OPEN_TICKETS) - MAX_RESOLVED_TICKETS):
        del out[_oldest(out, False)]
    return out


def _support(
    s: Scratch,
    ticket_id: str,
    status: Ticket,
    opened: int = 0,
    resolved: int = 0,
    reopened: int = 0,
) -> None:
    p = s.support
    cutoff = status.ts - s.config.lateness_seconds
    s.support = rebuild(
        p,
        opened=p.opened + opened,
        resolved=p.resolved + resolved,
        reopened=p.reopened + reopened,
        tickets=_with_status(p.tickets, ticket_key(ticket_id), status, cutoff),
    )


def _ticket_opened(s: Scratch, e: ev.TicketOpened, ts: float, day: int, h: int) -> str:
    _support(s, e.ticket_id, Ticket(ts, True), opened=1)
    s.add("tickets", day, getattr(s.config.happiness.ticket_priority_weights, e.priority.value))
    return "support"


def _ticket_escalated(s: Scratch, e: ev.TicketEscalated, ts: float, day: int, h: int) -> str:
    s.add("escalations", day, 1.0)
    return "support"


def _ticket_resolved(s: Scratch, e: ev.TicketResolved, ts: float, day: int, h: int) -> str:
    _support(s, e.ticket_id, Ticket(ts, False), resolved=1)
    s.add("handling_minutes", day, e.handling_minutes)
    return "support"


def _ticket_reopened(s: Scratch, e: ev.TicketReopened, ts: float, day: int, h: int) -> str:
    _support(s, e.ticket_id, Ticket(ts, True), reopened=1)
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
