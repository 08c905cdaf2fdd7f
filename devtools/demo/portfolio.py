"""A seedable synthetic portfolio: accounts with personas and their events.

Each persona is a small script of behaviour (usage rate, happiness, cost to
serve, success planning) chosen so that the portfolio lands in every
readiness and success quadrant, with some accounts that cancel. Events come
out in event-time order, as a business would produce them.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

FEATURES = ("dashboards", "reports", "alerts", "exports", "api", "sso", "workflows", "audit")
PLANS = {"starter": (99.0, 5), "growth": (490.0, 25), "enterprise": (2900.0, 120)}


@dataclass(frozen=True)
class Persona:
    name: str
    usage_per_day: float  # feature_used events per day per account
    users: int
    nps: tuple[int, int]  # range of NPS answers
    tickets_per_month: float
    handling_minutes: float
    credits: float  # credits per month as a share of MRR
    goals: bool  # a desired outcome is recorded (else milestones only: low clarity)
    priority: bool  # sponsor and meetings
    cancels: bool = False
    weight: float = 1.0
    later: Persona | None = None  # how the account behaves after `switch` of the period
    switch: float = 0.5


_UNHAPPY = dict(nps=(0, 4), tickets_per_month=8, handling_minutes=90)
_HAPPY = dict(nps=(9, 10), tickets_per_month=1, handling_minutes=20)


def _turned(p: Persona, name: str, **changes: object) -> Persona:
    return Persona(**{**p.__dict__, "name": name, "later": None, **changes})  # type: ignore[arg-type]


_ACHIEVER = Persona("achiever", 3, 18, (9, 10), 1, 20, 0.0, True, True, weight=3)
_FLIGHT = Persona("flight_risk", 1, 6, (0, 4), 6, 60, 0.0, True, False, weight=1.2)

PERSONAS = (
    _ACHIEVER,
    Persona("soldier", 2.5, 14, (7, 9), 2, 30, 0.0, False, True, weight=1.2),
    Persona("dreamer", 0.8, 4, (7, 9), 1, 30, 0.0, True, False, weight=1.2),
    Persona("wanderer", 0.4, 2, (6, 8), 1, 30, 0.0, False, False, weight=1),
    _FLIGHT,
    Persona("unprofitable", 2.5, 15, (9, 10), 14, 240, 0.9, True, True, weight=1),
    Persona("reassess", 0.5, 2, (0, 3), 10, 240, 0.9, False, False, weight=0.7),
    Persona("churner", 0.8, 2, (0, 4), 5, 90, 0.2, False, False, cancels=True, weight=0.8),
    # accounts that change course half-way: drift into work to keep, or recover
    Persona(**{**_ACHIEVER.__dict__, "name": "drifter", "weight": 1.0,
               "later": _turned(_ACHIEVER, "drifted", **_UNHAPPY)}),  # type: ignore[arg-type]
    Persona(**{**_FLIGHT.__dict__, "name": "recovering", "weight": 0.8,
               "later": _turned(_FLIGHT, "recovered", priority=True, **_HAPPY), "switch": 0.25}),  # type: ignore[arg-type]
)  # fmt: skip


def generate(
    accounts: int = 200,
    days: int = 60,
    seed: int = 7,
    start: datetime | None = None,
    personas: dict[str, str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield event dicts for `accounts` accounts over `days` days, in time order.

    `personas`, when given, is filled with each account's persona name.
    """
    rng = random.Random(seed)
    start = start or datetime(2026, 1, 1, tzinfo=UTC)
    picked = [(rng.random(), _pick(rng)) for _ in range(accounts)]
    if personas is not None:
        personas.update({account_id(i): p.name for i, (_, p) in enumerate(picked)})
    streams = [_account_events(r, i, p, days, start) for i, (r, p) in enumerate(picked)]
    yield from heapq.merge(*streams, key=lambda e: e["ts"])


def account_id(index: int) -> str:
    return f"acct-{index:05d}"


def _pick(rng: random.Random) -> Persona:
    return rng.choices(PERSONAS, weights=[p.weight for p in PERSONAS])[0]


def _account_events(
    seed: float, index: int, p: Persona, days: int, start: datetime
) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    account = account_id(index)
    plan = rng.choice(list(PLANS))
    mrr, seats = PLANS[plan]
    events: list[dict[str, Any]] = []
    counter = 0

    def add(ts: datetime, type_: str, **fields: Any) -> None:
        nonlocal counter
        counter += 1
        events.append(
            {"event_id": f"{account}-{counter:06d}", "account_id": account, "ts": ts,
             "type": type_, "schema_version": "1.0", **fields}
        )  # fmt: skip

    t0 = start + timedelta(hours=rng.uniform(0, 48))
    segment = "enterprise" if plan == "enterprise" else "default"
    add(t0, "subscription_started", plan=plan, mrr=mrr, seats=seats, segment=segment)
    add(t0 + timedelta(days=1), "meeting_held", kind="kickoff", duration_minutes=60.0)
    if not p.priority:  # a kickoff with a junior contact, then silence: low priority
        add(t0 + timedelta(days=1, hours=1), "sponsor_engaged", seniority="individual")
    for fit in ("technical", "functional", "resource", "competence", "experience", "cultural"):
        holds = not (p.name in ("reassess", "churner") and fit == "resource")
        add(t0 + timedelta(hours=1), "fit_assessed", fit=fit, holds=holds)
    if p.goals:
        add(t0 + timedelta(days=2), "goal_defined", goal_id="g1",
            desired_outcome="cut month-end close from 10 days to 3")  # fmt: skip
    planned = rng.randint(1, 4) if p.goals else rng.randint(0, 2)
    for m in range(planned):
        add(t0 + timedelta(days=3), "milestone_planned", milestone_id=f"m{m}",
            due=t0 + timedelta(days=14 + 14 * m),
            expansion=(m == planned - 1 and m > 0))  # fmt: skip
        if p.priority:
            add(t0 + timedelta(days=10 + 14 * m), "milestone_completed", milestone_id=f"m{m}")
    cancel_day = rng.randint(days // 2, days - 1) if p.cancels else None
    first = p
    for day in range(days):
        if cancel_day is not None and day > cancel_day:
            break
        p = first.later if first.later is not None and day >= days * first.switch else first
        t = t0 + timedelta(days=day)
        if cancel_day is not None:
            fade = max(0.1, 1 - day / cancel_day)
        elif not p.priority:  # a low-priority initiative slowly loses momentum
            fade = 1.0 - 0.6 * day / days
        else:
            fade = 1.0
        for _ in range(_poisson(rng, p.usage_per_day * fade)):
            add(t + timedelta(seconds=rng.uniform(0, 86_000)), "feature_used",
                user_id=f"u{rng.randrange(p.users)}",
                feature=rng.choice(FEATURES[: 3 + p.users % 6]),
                quantity=float(rng.randint(1, 5)))  # fmt: skip
        if rng.random() < p.tickets_per_month / 30:
            tid = f"t{day}"
            add(t + timedelta(hours=9), "ticket_opened", ticket_id=tid,
                priority=rng.choice(["normal", "high", "urgent"]))  # fmt: skip
            if p.nps[1] <= 4 and rng.random() < 0.4:
                add(t + timedelta(hours=12), "ticket_escalated", ticket_id=tid)
            add(t + timedelta(hours=30), "ticket_resolved", ticket_id=tid,
                handling_minutes=p.handling_minutes * rng.uniform(0.5, 1.5))  # fmt: skip
        if day % 15 == 5:
            add(t + timedelta(hours=15), "nps_response", score=rng.randint(*p.nps))
            add(t + timedelta(hours=16), "csat_response",
                score=max(1, min(5, round(1 + rng.randint(*p.nps) / 2.5))))  # fmt: skip
        if day % 30 == 0:
            if p.name == "churner" and day > 0:
                add(t + timedelta(hours=2), "invoice_failed", invoice_id=f"i{day}", amount=mrr)
            else:
                add(t + timedelta(hours=2), "invoice_paid", invoice_id=f"i{day}", amount=mrr)
            if p.credits:
                add(t + timedelta(hours=3), "credit_issued", amount=round(mrr * p.credits, 2))
        cadence = 28 if plan == "starter" else 7  # a starter plan cannot pay for weekly calls
        if p.priority and day % cadence == 1:
            add(t + timedelta(hours=14), "meeting_held", kind="check_in", duration_minutes=30.0)
            if day % 28 == 1:
                add(t + timedelta(hours=14, minutes=30), "sponsor_engaged", seniority="executive")
    if cancel_day is not None:
        add(t0 + timedelta(days=cancel_day, hours=20), "subscription_cancelled", reason="budget")
    events.sort(key=lambda e: e["ts"])
    for e in events:
        e["ts"] = e["ts"].isoformat()
        if isinstance(e.get("due"), datetime):
            e["due"] = e["due"].isoformat()
    yield from events


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, lam**0.5)))
    count, limit, product = 0, pow(2.718281828459045, -lam), rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
