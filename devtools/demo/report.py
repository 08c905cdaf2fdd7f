"""The demo's ending: a summary read back from ClickHouse, and the portfolio picture."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import orjson

import scoring
from streams.charts import AccountPoint, readiness_chart, render, success_chart, write_html
from streams.clickhouse import connect
from streams.settings import Settings

SUCCESS = ("customer_success", "work_to_keep:flight_risk", "work_to_keep:unprofitable", "reassess")
READINESS = ("achiever", "soldier", "dreamer", "wanderer")
TIERS = ("must_have", "want_to_have", "nice_to_have")
BANDS = ("green", "yellow", "red")


@dataclass(frozen=True)
class Portfolio:
    """What ClickHouse holds after the run."""

    accounts: list[dict]
    history_rows: int
    transitions: int
    alerts: int
    dead_letters: int


def read_portfolio(settings: Settings) -> Portfolio:
    with connect(settings) as ch:
        db = ch.database
        accounts = ch.query_dicts(
            f"SELECT account_id, health, band, success_quadrant, readiness_quadrant, tier, "
            f"engagement, churn_risk, drivers, signals FROM {db}.latest_score FINAL "
            f"ORDER BY account_id"
        )

        def count(table: str) -> int:
            return int(ch.query(f"SELECT count() FROM {db}.{table}")[0][0])

        return Portfolio(
            accounts,
            count("score_history"),
            count("transitions"),
            count("alerts"),
            count("dead_letters"),
        )


def write_picture(portfolio: Portfolio, out: Path) -> tuple[Path, Path]:
    config = scoring.load_config()
    points = [
        AccountPoint(
            a["account_id"],
            a["signals"].get("customer_happiness"),
            a["signals"].get("company_happiness"),
            a["success_quadrant"],
            a["signals"].get("goal_clarity"),
            a["signals"].get("priority"),
            a["readiness_quadrant"],
        )
        for a in portfolio.accounts
    ]
    png, html = out / "portfolio.png", out / "portfolio.html"
    counts = render(
        points,
        success_chart(
            config.success_quadrant.customer_threshold, config.success_quadrant.company_threshold
        ),
        readiness_chart(config.readiness.clarity_threshold, config.readiness.priority_threshold),
        png,
    )
    write_html(png, counts, summary_lines(portfolio), html)
    return png, html


def _line(label: str, counter: Counter[str], keys: tuple[str, ...]) -> str:
    return f"  {label:<20}" + " | ".join(f"{k} {counter[k]:,}" for k in keys)


def summary_lines(p: Portfolio) -> list[str]:
    accounts = p.accounts
    n = max(1, len(accounts))
    health = sum(a["health"] for a in accounts) / n
    high_risk = sum(1 for a in accounts if (a["churn_risk"] or 0) >= 0.5)
    return [
        f"accounts {len(accounts):,} | score_history rows {p.history_rows:,} | transitions "
        f"{p.transitions:,} | alerts {p.alerts:,} | dead letters {p.dead_letters:,}",
        f"  {'health':<20}average {health:.1f} | "
        + " | ".join(f"{b} {sum(1 for a in accounts if a['band'] == b):,}" for b in BANDS),
        _line("success quadrant", Counter(a["success_quadrant"] for a in accounts), SUCCESS),
        _line("readiness quadrant", Counter(a["readiness_quadrant"] for a in accounts), READINESS),
        _line("tier", Counter(a["tier"] for a in accounts), TIERS),
        f"  {'churn risk >= 0.5':<20}{high_risk:,} accounts",
    ]


def print_summary(
    settings: Settings,
    portfolio: Portfolio,
    elapsed: float,
    events: int,
    personas: dict[str, str],
    picture: tuple[Path, Path],
) -> None:
    print(
        f"\nhealthscore demo: {len(portfolio.accounts):,} accounts, {events:,} events scored in "
        f"{elapsed:.0f} s, read back from ClickHouse ({settings.safe_summary()['clickhouse']}, "
        f"database {settings.clickhouse_database})"
    )
    for line in summary_lines(portfolio):
        print(line)
    by_persona: dict[str, Counter[str]] = defaultdict(Counter)
    for a in portfolio.accounts:
        by_persona[personas.get(a["account_id"], "?")][a["success_quadrant"] or "unknown"] += 1
    print("\n  generator persona -> where the model placed the account (success quadrant)")
    for persona, placed in sorted(by_persona.items()):
        print(f"    {persona:<14}" + ", ".join(f"{q} {c}" for q, c in placed.most_common(3)))
    work_to_keep = sorted(
        (a for a in portfolio.accounts if (a["success_quadrant"] or "").startswith("work_to_keep")),
        key=lambda a: -(a["churn_risk"] or 0),
    )
    print(f"\n  work to keep: {len(work_to_keep):,} accounts; highest churn risk first")
    for a in work_to_keep[:5]:
        drivers = ", ".join(
            f"{d['signal']} {d['effect']:+.1f}" for d in orjson.loads(a["drivers"])[:3]
        )
        print(
            f"    {a['account_id']}  {a['success_quadrant'].split(':')[1]:<12} health "
            f"{a['health']:5.1f}  churn {a['churn_risk'] or 0:.2f}  {a['tier']:<12} "
            f"{a['engagement']:<11} drivers: {drivers}"
        )
    print(f"\n  picture: {picture[0]}\n  page:    {picture[1]}")
