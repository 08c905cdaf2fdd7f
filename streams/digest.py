"""`healthscore digest`: one day's alerts per tier, read from ClickHouse.

The alerts a team does not want one by one (a one-to-many book of accounts, or the
severities below the webhook's minimum) still deserve a look once a day. The digest
groups one UTC day of the `alerts` table by importance tier (whose engagement
approach says who owns the account: one-to-one, one-to-some, one-to-many), counts
them by severity and kind, and lists the accounts most severe first. It takes the
same route as the webhook (minimum severity, set of kinds), so a team can send
itself everything below the webhook's bar, or all of it.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from schemas.events import Tier
from schemas.outputs import Severity
from scoring.classify import ENGAGEMENT
from streams.alert_route import SEVERITY_ORDER, AlertRoute, parse_kinds

TIERS = (Tier.MUST_HAVE, Tier.WANT_TO_HAVE, Tier.NICE_TO_HAVE)


@dataclass(frozen=True, slots=True)
class DigestLine:
    account_id: str
    ts: datetime
    kind: str
    severity: Severity
    message: str


@dataclass(slots=True)
class TierDigest:
    tier: Tier
    severities: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    accounts: set[str] = field(default_factory=set)
    lines: list[DigestLine] = field(default_factory=list)

    @property
    def alerts(self) -> int:
        return sum(self.severities.values())


@dataclass(frozen=True, slots=True)
class Digest:
    day: date
    route: AlertRoute
    tiers: tuple[TierDigest, ...]

    @property
    def alerts(self) -> int:
        return sum(t.alerts for t in self.tiers)


def _rank(line: DigestLine) -> tuple[int, float, str]:
    return (-SEVERITY_ORDER.index(line.severity), line.ts.timestamp(), line.account_id)


def build_digest(rows: list[dict[str, Any]], day: date, route: AlertRoute) -> Digest:
    """The digest of `rows` (alerts of `day`: account_id, ts, kind, severity, tier, message)."""
    by_tier = {t: TierDigest(t) for t in TIERS}
    for r in rows:
        severity = Severity(r["severity"])
        if not route.admits(r["kind"], severity):
            continue
        d = by_tier[Tier(r["tier"])]
        d.severities[severity.value] += 1
        d.kinds[r["kind"]] += 1
        d.accounts.add(r["account_id"])
        d.lines.append(DigestLine(r["account_id"], r["ts"], r["kind"], severity, r["message"]))
    for d in by_tier.values():
        d.lines.sort(key=_rank)
    return Digest(day, route, tuple(by_tier.values()))


def read_digest(ch: Any, day: date, route: AlertRoute) -> Digest:
    """The digest of `day` (UTC) from the `alerts` table of ClickHouse client `ch`."""
    rows = ch.query_dicts(
        f"SELECT account_id, ts, kind, severity, tier, message FROM {ch.database}.alerts FINAL "
        "WHERE toDate(ts) = toDate(%(day)s) ORDER BY ts, account_id",
        {"day": day.isoformat()},
    )
    return build_digest(rows, day, route)


def latest_day(ch: Any) -> date | None:
    """The UTC day of the newest alert, if any."""
    ((count, newest),) = ch.query(f"SELECT count(), max(ts) FROM {ch.database}.alerts")
    return newest.date() if count else None


def render(digest: Digest, limit: int = 10) -> str:
    """The digest as text: per tier, counts by severity and kind, then the accounts."""
    route = digest.route
    kinds = "every kind" if route.kinds is None else ", ".join(sorted(route.kinds))
    out = [
        f"Alert digest for {digest.day.isoformat()} (UTC): {digest.alerts:,} alerts, "
        f"severity {route.min_severity.value} and above, {kinds}"
    ]
    for d in digest.tiers:
        out.append("")
        out.append(
            f"{d.tier.value} ({ENGAGEMENT[d.tier].value}): {d.alerts:,} alerts on "
            f"{len(d.accounts):,} accounts"
        )
        if not d.alerts:
            continue
        out.append(
            "  by severity: "
            + ", ".join(
                f"{s.value} {d.severities[s.value]:,}"
                for s in reversed(SEVERITY_ORDER)
                if d.severities[s.value]
            )
        )
        out.append("  by kind: " + ", ".join(f"{k} {n:,}" for k, n in d.kinds.most_common()))
        for line in d.lines[:limit]:
            out.append(f"  {line.severity.value:<8} {line.account_id}  {line.kind}: {line.message}")
        if len(d.lines) > limit:
            out.append(f"  ... and {len(d.lines) - limit:,} more")
    return "\n".join(out)


def _digest(args: argparse.Namespace) -> int:
    from streams.clickhouse import connect
    from streams.settings import load_settings

    settings = load_settings()
    min_severity = Severity(args.min_severity) if args.min_severity else Severity.LOW
    route = AlertRoute(min_severity, parse_kinds(args.kinds))
    with connect(settings) as ch:
        day = args.day or latest_day(ch)
        if day is None:
            print("no alerts in ClickHouse yet")
            return 0
        print(render(read_digest(ch, day, route), args.limit))
    return 0


def build_parser(sub: Any) -> None:
    p = sub.add_parser(
        "digest",
        help="summarise one day's alerts per tier from ClickHouse (most severe first)",
    )
    p.add_argument(
        "--day",
        type=date.fromisoformat,
        help="UTC day, YYYY-MM-DD (default: the day of the newest alert)",
    )
    p.add_argument(
        "--min-severity",
        choices=[s.value for s in SEVERITY_ORDER],
        help="leave out alerts below this severity (default: low, every alert)",
    )
    p.add_argument("--kinds", default="all", help="comma-separated alert kinds (default: all)")
    p.add_argument("--limit", type=int, default=10, help="accounts listed per tier (10)")
    p.set_defaults(func=_digest)
