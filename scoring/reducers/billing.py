"""Billing reducers: subscription terms and status, invoices, credits, discounts.

Each invoice is in at most one of two maps, its status: `failed` (outstanding: its
latest failure is newer than any payment) or `paid` (settled). The status is a
function of the invoice's events, whatever their order: outstanding when the newest
failure is newer than the newest payment. Outstanding invoices are capped at
`limits.max_invoices` (the oldest failure is forgotten first); settled ones are
forgotten once paid longer than the allowed lateness ago (exactly: see
`_settled_since`), and capped at `limits.max_invoices` against a flood of payments
within the lateness (the oldest payment goes first). So a payment never moves out
of memory while its failure stays: eviction cannot bring a failed invoice back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas import events as ev
from scoring.bounded import put_max, put_stamped
from scoring.facts import Money, Stamped, Status, Terms
from scoring.scratch import Reducer, Scratch, newer, rebuild


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


def _settled_since(paid: Mapping[str, float], cutoff: float) -> Mapping[str, float]:
    """The settled invoices paid at or after `cutoff` (`paid` itself when none is older).

    A settled invoice paid before `event ts - allowed lateness` is forgotten exactly: any
    event still accepted about it is newer than its payment, so it alone decides whether
    the invoice is outstanding (a newer failure) or settled (a newer payment)."""
    if all(t >= cutoff for t in paid.values()):
        return paid
    return {k: t for k, t in paid.items() if t >= cutoff}


def _invoice_paid(s: Scratch, e: ev.InvoicePaid, ts: float, day: int, h: int) -> str:
    """Settle the invoice, unless its latest failure is newer than this payment."""
    b = s.billing
    failed, paid = b.failed, _settled_since(b.paid, ts - s.config.lateness_seconds)
    failure = failed.get(e.invoice_id)
    if failure is None or failure.ts <= ts:
        if failure is not None:
            failed = {k: v for k, v in failed.items() if k != e.invoice_id}
        paid = put_max(paid, e.invoice_id, ts, s.config.limits.max_invoices)
    _billing(s, failed=failed, paid=paid, invoices_seen=b.invoices_seen + 1)
    return "billing"


def _invoice_failed(s: Scratch, e: ev.InvoiceFailed, ts: float, day: int, h: int) -> str:
    """Make the invoice outstanding, unless it was paid at or after this failure."""
    b = s.billing
    failed: Mapping[str, Any] = b.failed
    paid = _settled_since(b.paid, ts - s.config.lateness_seconds)
    settled = paid.get(e.invoice_id)
    if settled is None or settled < ts:
        if settled is not None:
            paid = {k: v for k, v in paid.items() if k != e.invoice_id}
        entry = Money(ts, h, e.amount, 0)
        failed = put_stamped(failed, e.invoice_id, entry, s.config.limits.max_invoices)
    _billing(s, failed=failed, paid=paid, invoices_seen=b.invoices_seen + 1)
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
