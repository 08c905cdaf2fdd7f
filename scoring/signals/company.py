"""Company happiness: is the relationship good for us too? (seed 002, -1..1)

* margin: (revenue - cost to serve) / max(revenue, cost to serve), where
  revenue is the MRR and the monthly cost to serve is
  support handling hours x support cost/hour + CSM meeting hours x CSM
  cost/hour (both as decayed monthly rates) + credits (decayed, so a
  one-off credit is spread over the following months) + active discounts
  + base_cost_share x MRR.
* payment: 1 - failed_invoice_penalty x outstanding failed invoices
  (a failed invoice is settled by a later payment of the same invoice).

Weighted mean of the known parts.

Commitment (a signal of its own, 0..1): the share of the next
`windows.commitment_days` the current subscription term still covers. A B2B
customer can leave only at the end of a term, so an account early in an annual
term is committed for months, a monthly one never for more than a month, and
any account nearing its renewal is at its moment of decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from scoring.config import ScoringConfig
from scoring.decay import DAYS_PER_MONTH, EMPTY, Series, day_of
from scoring.facts import BillingFacts


class CompanyParts(NamedTuple):
    margin: float | None
    payment: float | None
    revenue: float
    cost: float


def outstanding_failed(billing: BillingFacts) -> int:
    """Failed invoices with no later payment."""
    paid = billing.paid
    return sum(1 for key, f in billing.failed.items() if paid.get(key, float("-inf")) < f.ts)


def outstanding_ids(billing: BillingFacts) -> tuple[str, ...]:
    """The ids of the failed invoices with no later payment, sorted."""
    paid = billing.paid
    return tuple(
        sorted(key for key, f in billing.failed.items() if paid.get(key, float("-inf")) < f.ts)
    )


def active_discounts(billing: BillingFacts, now_day: int) -> float:
    """Monthly amount of the discounts running on `now_day`."""
    total = 0.0
    for d in billing.discounts.values():
        start = day_of(d.ts)
        if start <= now_day < start + d.months * DAYS_PER_MONTH:
            total += d.amount
    return total


def cost_to_serve(
    billing: BillingFacts, series: Mapping[str, Series], now_day: int, config: ScoringConfig
) -> float:
    """Monthly cost of serving the account."""
    c, h = config.company, config.half_lives_days.cost
    per_month = DAYS_PER_MONTH
    support_hours = series.get("handling_minutes", EMPTY).rate(now_day, 0, h) * per_month / 60.0
    csm_hours = series.get("meeting_minutes", EMPTY).rate(now_day, 0, h) * per_month / 60.0
    credits = series.get("credits", EMPTY).rate(now_day, 0, h) * per_month
    mrr = billing.terms.mrr if billing.terms else 0.0
    return (
        support_hours * c.support_cost_per_hour
        + csm_hours * c.csm_cost_per_hour
        + credits
        + active_discounts(billing, now_day)
        + c.base_cost_share * mrr
    )


def company_parts(
    billing: BillingFacts, series: Mapping[str, Series], now_day: int, config: ScoringConfig
) -> CompanyParts:
    cost = cost_to_serve(billing, series, now_day, config)
    revenue = billing.terms.mrr if billing.terms else 0.0
    margin: float | None = None
    if billing.terms is not None:
        scale = max(revenue, cost)
        margin = (revenue - cost) / scale if scale > 0.0 else 0.0
    payment: float | None = None
    if billing.invoices_seen:
        payment = max(
            -1.0, 1.0 - config.company.failed_invoice_penalty * outstanding_failed(billing)
        )
    return CompanyParts(margin, payment, revenue, cost)


def commitment(billing: BillingFacts, now_day: int, config: ScoringConfig) -> float | None:
    """min(1, whole days until the term's end / commitment_days), 0 once it has passed;
    unknown without terms or a term end."""
    terms = billing.terms
    if terms is None or terms.term_end is None:
        return None
    days_left = day_of(terms.term_end) - now_day
    if days_left <= 0:
        return 0.0
    return min(1.0, days_left / config.windows.commitment_days)


def company_happiness(parts: CompanyParts, config: ScoringConfig) -> float | None:
    w = config.company.weights
    num = den = 0.0
    for value, weight in ((parts.margin, w.margin), (parts.payment, w.payment)):
        if value is not None and weight > 0.0:
            num += weight * value
            den += weight
    return None if den == 0.0 else num / den
