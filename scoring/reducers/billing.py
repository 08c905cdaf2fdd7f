"""Billing reducers: subscription terms and status, invoices, credits, discounts."""

from __future__ import annotations

from typing import Any

from schemas import events as ev
from scoring.bounded import put_max, put_stamped
from scoring.scratch import Reducer, Scratch, newer, rebuild
from scoring.state import Money, Stamped, Status, Terms


def _billing(s: Scratch, **changes: Any) -> None:
    s.billing = rebuild(s.billing, **changes)


def _subscription(s: Scratch, e: ev.SubscriptionTerms, ts: float, day: int, h: int) -> str:
    b = s.billing
    changes: dict[str, Any] = {}
    if newer(ts, h, b.terms):
        term_end = e.term_end.timestamp() if e.term_end else None
        changes["terms"] = Terms(ts, h, e.plan, e.mrr, e.seats, term_end)
    if newer(ts, h, b.status):
        changes["status"] = Status(ts, h, True)
    if e.segment is not None and newer(ts, h, b.segment):
        changes["segment"] = Stamped(ts, h, e.segment)
    if isinstance(e, ev.SubscriptionStarted) and (b.started_ts is None or ts < b.started_ts):
        changes["started_ts"] = ts
    if changes:
        _billing(s, **changes)
    return "billing"


def _cancelled(s: Scratch, e: ev.SubscriptionCancelled, ts: float, day: int, h: int) -> str:
    if newer(ts, h, s.billing.status):
        _billing(s, status=Status(ts, h, False))
    return "billing"


def _invoice_paid(s: Scratch, e: ev.InvoicePaid, ts: float, day: int, h: int) -> str:
    b = s.billing
    paid = put_max(b.paid, e.invoice_id, ts, s.config.limits.max_invoices)
    _billing(s, paid=paid, invoices_seen=b.invoices_seen + 1)
    return "billing"


def _invoice_failed(s: Scratch, e: ev.InvoiceFailed, ts: float, day: int, h: int) -> str:
    b = s.billing
    failed = put_stamped(
        b.failed, e.invoice_id, Money(ts, h, e.amount, 0), s.config.limits.max_invoices
    )
    _billing(s, failed=failed, invoices_seen=b.invoices_seen + 1)
    return "billing"


def _credit(s: Scratch, e: ev.CreditIssued, ts: float, day: int, h: int) -> str:
    s.add("credits", day, e.amount)
    return "billing"


def _discount(s: Scratch, e: ev.DiscountApplied, ts: float, day: int, h: int) -> str:
    entry = Money(ts, h, e.amount, e.months)
    discounts = put_stamped(s.billing.discounts, f"{h:x}", entry, s.config.limits.max_discounts)
    _billing(s, discounts=discounts)
    return "billing"


REDUCERS: dict[str, Reducer] = {
    "subscription_started": _subscription,
    "subscription_changed": _subscription,
    "subscription_cancelled": _cancelled,
    "invoice_paid": _invoice_paid,
    "invoice_failed": _invoice_failed,
    "credit_issued": _credit,
    "discount_applied": _discount,
}
