"""A deterministic synthetic portfolio where churners behave differently from survivors.

Churners: usage falls and invoices fail in the 100 days before they cancel,
while they keep answering NPS politely (silent churn). Survivors: steady
usage and paid invoices, but half of them are "grumpy loyalists" who answer
NPS low and open many tickets. The default coefficients read grumpiness as
churn risk; a model that learns from outcomes should learn that in this
product usage and payments tell, and NPS does not.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from schemas.events import Event
from tests.unit.scoring.factory import make

END_DAY = 420


def account_events(rng: random.Random, account: str) -> Iterator[Event]:
    n = 0

    def ev(kind: str, day: float, **fields: object) -> Event:
        nonlocal n
        n += 1
        return make(kind, day, account=account, event_id=f"{account}-{n}", **fields)

    start = rng.uniform(0, 60)
    churner = rng.random() < 0.3
    grumpy = not churner and rng.random() < 0.5
    cancel = start + rng.uniform(120, 340) if churner else None
    end = cancel if cancel is not None else END_DAY
    decline = (cancel - 100) if cancel is not None else END_DAY + 1
    mrr = rng.uniform(200, 2000)
    yield ev("subscription_started", start, plan="growth", mrr=mrr, seats=8)
    day = start + 0.01
    while day < end:
        falling = day >= decline
        activity = 0.15 if falling else 0.9
        if rng.random() < activity:
            yield ev(
                "feature_used",
                day,
                user_id=f"u{rng.randrange(6)}",
                feature=f"f{rng.randrange(8)}",
                quantity=float(rng.randint(1, 5)),
            )
        if grumpy and rng.random() < 0.5:
            yield ev("ticket_opened", day + 0.1, ticket_id=f"T{n}", priority="high")
        if rng.random() < 2 / 30:
            kind = "invoice_failed" if falling and rng.random() < 0.7 else "invoice_paid"
            yield ev(kind, day + 0.2, invoice_id=f"I{n}", amount=mrr)
        if rng.random() < 2 / 45:
            score = rng.randint(0, 4) if grumpy else rng.randint(7, 10)
            yield ev("nps_response", day + 0.3, score=score)
        day += 2.0
    if cancel is not None:
        yield ev("subscription_cancelled", cancel, reason="synthetic")


def portfolio(seed: int, accounts: int) -> list[Event]:
    """Every event of `accounts` synthetic accounts, in event-time order."""
    rng = random.Random(seed)
    events = [e for i in range(accounts) for e in account_events(rng, f"s{seed}-a{i:04d}")]
    events.sort(key=lambda e: e.ts)
    return events
