"""A fast, deterministic stream of realistic mixed-family events, pre-serialized.

`EventStream(accounts, seed)` yields `(family, key, value)` triples: `key` is
the account id (bytes), `value` the event's JSON (orjson bytes), valid per
`schemas.decode.decode_event`. The first `accounts` events onboard every
account (`subscription_started`); after that, account activity is skewed
(a few busy accounts, a long tail) and the type mix is roughly what a SaaS
business produces: ~82% product usage, ~9% support, ~4% billing, ~5% success.

Event time starts at `start` and grows by `step_seconds` per event, so an
account's events are always in event-time order. For a pre-loaded run keep
the whole span (`n * step_seconds`) under the scoring config's allowed
lateness (48 h): the worker drains the four family topics at different
speeds, and nothing must become `too_late` because of that.

`event_id` is `<prefix><seq>` (`seq` counts from 0 over the whole stream), so
a score's `event_id` maps back to the event's position without a lookup table.
Generation runs at several hundred thousand events per second.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from schemas.events import FAMILY_BY_TYPE, Family

FEATURES = ("dashboards", "reports", "alerts", "exports", "api", "sso", "workflows", "audit")
PLANS = (("starter", 99.0, 5), ("growth", 490.0, 25), ("enterprise", 2900.0, 120))
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)

# type -> weight in the steady mix (per 1000 events after onboarding)
MIX: dict[str, int] = {
    "feature_used": 820,
    "ticket_opened": 20,
    "ticket_escalated": 4,
    "ticket_resolved": 20,
    "ticket_reopened": 2,
    "csat_response": 18,
    "nps_response": 18,
    "feedback_submitted": 8,
    "invoice_paid": 20,
    "invoice_failed": 3,
    "credit_issued": 5,
    "discount_applied": 2,
    "subscription_changed": 5,
    "meeting_held": 20,
    "milestone_planned": 6,
    "milestone_completed": 6,
    "fit_assessed": 10,
    "sponsor_engaged": 6,
    "goal_defined": 3,
    "importance_set": 2,
    "subscription_cancelled": 0,  # cancellations would stop accounts; not in the bench mix
}
_TABLE_BITS = 16

Builder = Callable[[random.Random, int, float], dict[str, Any]]


def account_id(index: int) -> str:
    return f"acct-{index:06d}"


def _iso(ts: float) -> str:
    return (EPOCH + timedelta(seconds=ts)).isoformat(timespec="milliseconds")


def _lookup_table(weights: list[float], rng: random.Random) -> list[int]:
    """`2**_TABLE_BITS` indices drawn by weight: `table[getrandbits(bits)]` is a weighted pick."""
    total = sum(weights)
    table: list[int] = []
    size = 1 << _TABLE_BITS
    for i, w in enumerate(weights):
        table.extend([i] * round(w / total * size))
    while len(table) < size:
        table.append(rng.randrange(len(weights)))
    rng.shuffle(table)
    return table[:size]


def _payloads() -> dict[str, Builder]:
    """Per type, the fields after the envelope (rng, account index, ts)."""

    def pick(seq: tuple[Any, ...]) -> Callable[[random.Random], Any]:
        return lambda r: seq[r.getrandbits(8) % len(seq)]

    feature = pick(FEATURES)
    priority = pick(("normal", "normal", "high", "urgent", "low"))
    sentiment = pick(("positive", "neutral", "negative"))
    fit = pick(("technical", "functional", "resource", "competence", "experience", "cultural"))
    kind = pick(("check_in", "check_in", "qbr", "training", "onboarding"))
    tier = pick(("must_have", "want_to_have", "nice_to_have"))

    def ticket(r: random.Random) -> str:
        return f"t{r.getrandbits(10)}"

    def plan(r: random.Random, a: int) -> dict[str, Any]:
        name, mrr, seats = PLANS[a % 3]
        return {"plan": name, "mrr": mrr, "seats": seats}

    return {
        "feature_used": lambda r, a, ts: {
            "user_id": f"u{r.getrandbits(5)}",
            "feature": feature(r),
            "quantity": float(1 + r.getrandbits(2)),
        },
        "ticket_opened": lambda r, a, ts: {"ticket_id": ticket(r), "priority": priority(r)},
        "ticket_escalated": lambda r, a, ts: {"ticket_id": ticket(r)},
        "ticket_resolved": lambda r, a, ts: {
            "ticket_id": ticket(r),
            "handling_minutes": float(10 + r.getrandbits(7)),
        },
        "ticket_reopened": lambda r, a, ts: {"ticket_id": ticket(r)},
        "csat_response": lambda r, a, ts: {"score": 1 + r.getrandbits(8) % 5},
        "nps_response": lambda r, a, ts: {"score": r.getrandbits(8) % 11},
        "feedback_submitted": lambda r, a, ts: {"sentiment": sentiment(r)},
        "invoice_paid": lambda r, a, ts: {
            "invoice_id": f"i{r.getrandbits(16)}",
            "amount": PLANS[a % 3][1],
        },
        "invoice_failed": lambda r, a, ts: {
            "invoice_id": f"i{r.getrandbits(16)}",
            "amount": PLANS[a % 3][1],
        },
        "credit_issued": lambda r, a, ts: {"amount": float(10 + r.getrandbits(6))},
        "discount_applied": lambda r, a, ts: {"amount": 20.0, "months": 3},
        "subscription_started": lambda r, a, ts: {
            **plan(r, a),
            "segment": "enterprise" if a % 3 == 2 else "default",
        },
        "subscription_changed": lambda r, a, ts: plan(r, a + r.getrandbits(1)),
        "meeting_held": lambda r, a, ts: {
            "kind": kind(r),
            "duration_minutes": float(15 * (1 + r.getrandbits(2))),
        },
        "milestone_planned": lambda r, a, ts: {
            "milestone_id": f"m{r.getrandbits(3)}",
            "due": _iso(ts + 86_400 * (7 + r.getrandbits(5))),
            "expansion": r.getrandbits(3) == 0,
        },
        "milestone_completed": lambda r, a, ts: {"milestone_id": f"m{r.getrandbits(3)}"},
        "fit_assessed": lambda r, a, ts: {"fit": fit(r), "holds": r.getrandbits(3) != 0},
        "sponsor_engaged": lambda r, a, ts: {"seniority": "executive"},
        "goal_defined": lambda r, a, ts: {
            "goal_id": f"g{r.getrandbits(2)}",
            "desired_outcome": "cut month-end close from 10 days to 3",
        },
        "importance_set": lambda r, a, ts: {"tier": tier(r)},
    }


class EventStream:
    """An endless, seeded event stream; `take(n)` continues where the last call stopped."""

    def __init__(
        self,
        accounts: int,
        seed: int = 7,
        *,
        start: datetime = DEFAULT_START,
        step_seconds: float = 0.1,
        id_prefix: str = "e",
        skew: float = 0.8,
    ) -> None:
        if accounts < 1:
            raise ValueError("accounts must be >= 1")
        rng = random.Random(seed)
        self.accounts = accounts
        self.seq = 0
        self.id_prefix = id_prefix
        self.start_ts = (start - EPOCH).total_seconds()
        self.step_seconds = step_seconds
        self._rng = rng
        self._ids = [account_id(i) for i in range(accounts)]
        self._keys = [a.encode() for a in self._ids]
        # Log-normal activity: the busiest accounts send ~20x the median one's events.
        # (beyond 16k accounts a 64k-entry table is too coarse: pick uniformly)
        activity = [rng.lognormvariate(0.0, skew) for _ in range(accounts)]
        self._account_table: list[int] | None = (
            _lookup_table(activity, rng) if accounts * 4 <= 1 << _TABLE_BITS else None
        )
        types = [t for t, w in MIX.items() if w > 0]
        self._type_table = [types[i] for i in _lookup_table([MIX[t] for t in types], rng)]
        self._payload = _payloads()
        self._family = {t: FAMILY_BY_TYPE[t] for t in (*types, "subscription_started")}

    def ts_of(self, seq: int) -> float:
        """The event time (epoch seconds) of the event at position `seq`."""
        return self.start_ts + seq * self.step_seconds

    def take(self, n: int) -> list[tuple[Family, bytes, bytes]]:
        """The next `n` events as (family, key, value), in event-time order."""
        rng, payload, family, ids, keys = (
            self._rng,
            self._payload,
            self._family,
            self._ids,
            self._keys,
        )
        getrandbits, types, bits = rng.getrandbits, self._type_table, _TABLE_BITS
        table, accounts = self._account_table, self.accounts
        users, features = [f"u{i}" for i in range(32)], FEATURES
        usage = family["feature_used"]
        dumps, prefix_id, start, step = (
            orjson.dumps,
            self.id_prefix,
            self.start_ts,
            self.step_seconds,
        )
        second, date = -1, ""
        out: list[tuple[Family, bytes, bytes]] = []
        append = out.append
        for seq in range(self.seq, self.seq + n):
            ts = start + seq * step
            whole = int(ts)
            if whole != second:  # format the date once per second of event time
                second = whole
                date = (EPOCH + timedelta(seconds=whole)).strftime("%Y-%m-%dT%H:%M:%S")
            stamp = f"{date}.{int((ts - whole) * 1000):03d}+00:00"
            if seq < accounts:  # onboarding: every account starts a subscription
                a, type_ = seq, "subscription_started"
            else:
                a = table[getrandbits(bits)] if table is not None else rng.randrange(accounts)
                type_ = types[getrandbits(bits)]
            if type_ == "feature_used":  # the hot path: 82% of the mix
                value = dumps(
                    {
                        "event_id": f"{prefix_id}{seq}",
                        "account_id": ids[a],
                        "ts": stamp,
                        "type": type_,
                        "schema_version": "1.0",
                        "user_id": users[getrandbits(5)],
                        "feature": features[getrandbits(3)],
                        "quantity": float(1 + getrandbits(2)),
                    }
                )
                append((usage, keys[a], value))
                continue
            event = {
                "event_id": f"{prefix_id}{seq}",
                "account_id": ids[a],
                "ts": stamp,
                "type": type_,
                "schema_version": "1.0",
            }
            event.update(payload[type_](rng, a, ts))
            append((family[type_], keys[a], dumps(event)))
        self.seq += n
        return out

    def iter(self, n: int, chunk: int = 10_000) -> Iterator[tuple[Family, bytes, bytes]]:
        """The next `n` events, generated `chunk` at a time."""
        while n > 0:
            batch = self.take(min(n, chunk))
            n -= len(batch)
            yield from batch


def seq_of(event_id: str, id_prefix: str = "e") -> int | None:
    """The stream position encoded in an `event_id` made by `EventStream`."""
    if not event_id.startswith(id_prefix):
        return None
    try:
        return int(event_id[len(id_prefix) :])
    except ValueError:
        return None
