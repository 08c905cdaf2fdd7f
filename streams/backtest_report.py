"""The comparison a backtest prints and draws, accumulated while it runs.

The parent process feeds it, day by day in event time, each account's daily
close (the score after the last event of the day it had events) under each
config, and the alerts and transitions of that day. Everything it holds is
bounded by accounts (latest closes, cancellation days) or by accounts times
observation points (the AUC observations), never by events.

Definitions (docs/backtest.md):

* Observation points: the end of every `observe_every` days from the first
  day of the data (first day + k * every, k >= 1, up to the last day). At a
  point, every account whose latest base close is not cancelled is observed
  with its latest close under each config.
* Label: the account cancels (a base close with `cancelled` after one
  without, or its first close cancelled) on a day c with point < c <= point
  + horizon (the base config's `churn.horizon_days`). Without such a
  cancellation the observation is negative when point + horizon <= the last
  day of the data, and left out (censored) otherwise.
* Health AUC is the AUC of 100 - health, churn AUC that of churn_risk
  (observations without a churn risk left out), by `scoring.track.roc_auc`.
* The portfolio: each account's latest close at or before the as-of day
  (default: the last day). Band and quadrant migrations are the cross-tab of
  base against compare over the portfolio; the accounts that change most
  are ranked by |health(compare) - health(base)| there.
* Alerts per kind per account per month: alerts of the kind (by the month
  of their time) divided by account-months, an account-month being a month
  in which the account has at least one close.
"""

from __future__ import annotations

import base64
import html
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from scoring.track import roc_auc

BANDS = ("green", "yellow", "red")
SUCCESS = ("customer_success", "work_to_keep:flight_risk", "work_to_keep:unprofitable", "reassess")
READINESS = ("achiever", "soldier", "dreamer", "wanderer")
TOP_CHANGES = 10
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def day_name(day: int) -> str:
    return (EPOCH + timedelta(days=day)).date().isoformat()


def month_of_day(day: int) -> str:
    return day_name(day)[:7]


@dataclass(frozen=True, slots=True)
class Close:
    """What the comparison keeps of one daily close (a ScoreRecord)."""

    day: int
    health: float
    band: str
    churn_risk: float | None
    success_quadrant: str | None
    readiness_quadrant: str | None
    cancelled: bool
    customer_happiness: float | None
    company_happiness: float | None
    goal_clarity: float | None
    priority: float | None


def close_of(day: int, record: Any) -> Close:
    """The Close of a ScoreRecord (or of its JSON document as a dict)."""
    get = record.get if isinstance(record, dict) else lambda k: getattr(record, k)
    signals = get("signals") or {}

    def text(value: Any) -> str | None:
        return None if value is None else str(value)

    return Close(
        day,
        float(get("health")),
        str(get("band")),
        get("churn_risk"),
        text(get("success_quadrant")),
        text(get("readiness_quadrant")),
        bool(get("cancelled")),
        signals.get("customer_happiness"),
        signals.get("company_happiness"),
        signals.get("goal_clarity"),
        signals.get("priority"),
    )


class Comparison:
    """Accumulates the comparison of one or two configs over the same events."""

    def __init__(
        self, sides: Sequence[str], horizon_days: float, observe_every: int, as_of_day: int | None
    ) -> None:
        self.sides = tuple(sides)
        self.horizon = horizon_days
        self.every = observe_every
        self.as_of_day = as_of_day
        self.latest: list[dict[str, Close]] = [{} for _ in self.sides]
        self.portfolio: list[dict[str, Close]] = [{} for _ in self.sides]
        self.cancel_days: dict[str, list[int]] = {}
        self.first_day: int | None = None
        self.last_day: int | None = None
        self.next_point: int | None = None
        self.observations: list[tuple[str, int, tuple[Close | None, ...]]] = []
        self.alerts: list[Counter[tuple[str, str]]] = [Counter() for _ in self.sides]
        self.transitions: list[Counter[str]] = [Counter() for _ in self.sides]
        self.account_months: Counter[str] = Counter()
        self._last_month: dict[str, str] = {}
        self.day_pairs = 0
        self.day_band_changes = 0

    def _observe_until(self, day: int) -> None:
        """Take the observations of every point before `day` (closes so far)."""
        while self.next_point is not None and self.next_point < day:
            point = self.next_point
            for account, close in self.latest[0].items():
                if not close.cancelled:
                    closes = tuple(side.get(account) for side in self.latest)
                    self.observations.append((account, point, closes))
            self.next_point = point + self.every

    def add_day(
        self,
        day: int,
        closes: Sequence[Sequence[tuple[str, Close]]],
        alerts: Sequence[Sequence[tuple[str, str]]],
        transitions: Sequence[Sequence[str]],
    ) -> None:
        """One day of event time: per side, the (account, close) pairs, (kind, month) of each
        alert and the kind of each transition. Days come in increasing order."""
        if self.first_day is None:
            self.first_day = day
            self.next_point = day + self.every
        self._observe_until(day)
        self.last_day = day
        base_latest = self.latest[0]
        for account, close in closes[0]:
            previous = base_latest.get(account)
            if close.cancelled and (previous is None or not previous.cancelled):
                self.cancel_days.setdefault(account, []).append(day)
            month = month_of_day(day)
            if self._last_month.get(account) != month:
                self._last_month[account] = month
                self.account_months[month] += 1
        for side, side_closes in enumerate(closes):
            latest = self.latest[side]
            for account, close in side_closes:
                latest[account] = close
                if self.as_of_day is None or day <= self.as_of_day:
                    self.portfolio[side][account] = close
            for kind, month in alerts[side]:
                self.alerts[side][(kind, month)] += 1
            self.transitions[side].update(transitions[side])
        if len(self.sides) == 2:
            compare = dict(closes[1])
            for account, close in closes[0]:
                other = compare.get(account)
                if other is not None:
                    self.day_pairs += 1
                    self.day_band_changes += close.band != other.band

    def finish(self) -> dict[str, Any]:
        """The comparison as a JSON-ready document (comparison.json)."""
        if self.last_day is not None:
            self._observe_until(self.last_day + 1)
        last = self.last_day
        labels: list[bool | None] = []
        for account, point, _ in self.observations:
            cancels = self.cancel_days.get(account, ())
            if any(point < c <= point + self.horizon for c in cancels):
                labels.append(True)
            elif last is not None and point + self.horizon <= last:
                labels.append(False)
            else:
                labels.append(None)
        auc: dict[str, dict[str, float | None]] = {}
        for i, side in enumerate(self.sides):
            health_scores, health_labels, churn_scores, churn_labels = [], [], [], []
            for (_, _, closes), label in zip(self.observations, labels, strict=True):
                close = closes[i]
                if label is None or close is None:
                    continue
                health_scores.append(100.0 - close.health)
                health_labels.append(label)
                if close.churn_risk is not None:
                    churn_scores.append(close.churn_risk)
                    churn_labels.append(label)
            auc[side] = {
                "health": roc_auc(health_scores, health_labels),
                "churn": roc_auc(churn_scores, churn_labels),
            }
        labelled = [y for y in labels if y is not None]
        account_months = sum(self.account_months.values())
        kinds = sorted({k for c in self.alerts for k, _ in c})
        months = sorted(self.account_months)
        alerts_rate = {
            side: {
                kind: sum(n for (k, _), n in self.alerts[i].items() if k == kind)
                / max(1, account_months)
                for kind in kinds
            }
            for i, side in enumerate(self.sides)
        }
        alerts_monthly = {
            side: {
                month: sum(n for (_, m), n in self.alerts[i].items() if m == month)
                / max(1, self.account_months[month])
                for month in months
            }
            for i, side in enumerate(self.sides)
        }
        doc: dict[str, Any] = {
            "sides": list(self.sides),
            "first_day": None if self.first_day is None else day_name(self.first_day),
            "last_day": None if last is None else day_name(last),
            "as_of": day_name(self.as_of_day if self.as_of_day is not None else last or 0),
            "accounts": len(self.latest[0]),
            "portfolio_accounts": len(self.portfolio[0]),
            "observations": {
                "every_days": self.every,
                "horizon_days": self.horizon,
                "taken": len(self.observations),
                "labelled": len(labelled),
                "positive": sum(labelled),
            },
            "auc": auc,
            "account_months": account_months,
            "alerts_total": {
                side: sum(self.alerts[i].values()) for i, side in enumerate(self.sides)
            },
            "alerts_per_account_month": alerts_rate,
            "alerts_per_account_by_month": alerts_monthly,
            "transitions": {
                side: dict(sorted(self.transitions[i].items())) for i, side in enumerate(self.sides)
            },
            "portfolio": {
                side: {
                    "band": _count(p, "band"),
                    "success_quadrant": _count(p, "success_quadrant"),
                    "readiness_quadrant": _count(p, "readiness_quadrant"),
                    "mean_health": (sum(c.health for c in p.values()) / len(p)) if p else None,
                }
                for side, p in zip(self.sides, self.portfolio, strict=True)
            },
        }
        if len(self.sides) == 2:
            base, compare = self.portfolio
            both = sorted(set(base) & set(compare))
            doc["migrations"] = {
                field: _crosstab(
                    [(getattr(base[a], field), getattr(compare[a], field)) for a in both]
                )
                for field in ("band", "success_quadrant", "readiness_quadrant")
            }
            doc["account_days"] = {
                "compared": self.day_pairs,
                "band_differs": self.day_band_changes,
            }
            ranked = sorted(
                both,
                key=lambda a: (-abs(compare[a].health - base[a].health), a),
            )[:TOP_CHANGES]
            doc["changes_most"] = [
                {
                    "account_id": a,
                    "health": [base[a].health, compare[a].health],
                    "band": [base[a].band, compare[a].band],
                    "churn_risk": [base[a].churn_risk, compare[a].churn_risk],
                    "success_quadrant": [base[a].success_quadrant, compare[a].success_quadrant],
                }
                for a in ranked
            ]
        return doc


def _count(portfolio: dict[str, Close], field: str) -> dict[str, int]:
    counts = Counter(str(getattr(c, field)) for c in portfolio.values())
    return dict(sorted(counts.items()))


def _crosstab(pairs: Sequence[tuple[Any, Any]]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for a, b in pairs:
        row = table.setdefault(str(a), {})
        row[str(b)] = row.get(str(b), 0) + 1
    return {k: dict(sorted(v.items())) for k, v in sorted(table.items())}


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def describe(doc: dict[str, Any], labels: Sequence[str]) -> list[str]:
    """The comparison as printed: `labels` names each side (e.g. its config version)."""
    sides = doc["sides"]
    obs = doc["observations"]
    w = max(22, *(len(label) + 2 for label in labels))
    head = "".join(f"{label:>{w}}" for label in labels)
    lines = [
        f"portfolio as of {doc['as_of']}: {doc['portfolio_accounts']:,} accounts "
        f"(data {doc['first_day']} .. {doc['last_day']})",
        f"{'':<34}{head}",
        f"{'health AUC (100 - health)':<34}"
        + "".join(f"{_fmt(doc['auc'][s]['health']):>{w}}" for s in sides),
        f"{'churn AUC (churn_risk)':<34}"
        + "".join(f"{_fmt(doc['auc'][s]['churn']):>{w}}" for s in sides),
        f"  over {obs['labelled']:,} observations (every {obs['every_days']} days, "
        f"{obs['positive']:,} cancel within {obs['horizon_days']:g} days; "
        f"{obs['taken'] - obs['labelled']:,} censored)",
        f"{'mean health':<34}"
        + "".join(f"{_fmt(doc['portfolio'][s]['mean_health'], '.1f'):>{w}}" for s in sides),
        f"{'alerts (total)':<34}" + "".join(f"{doc['alerts_total'][s]:>{w},}" for s in sides),
        f"alerts per account per month ({doc['account_months']:,} account-months)",
    ]
    kinds = sorted({k for s in sides for k in doc["alerts_per_account_month"][s]})
    for kind in kinds:
        lines.append(
            f"  {kind:<32}"
            + "".join(f"{doc['alerts_per_account_month'][s].get(kind, 0.0):>{w}.4f}" for s in sides)
        )
    kinds = sorted({k for s in sides for k in doc["transitions"][s]})
    lines.append("transitions")
    for kind in kinds:
        lines.append(
            f"  {kind:<32}" + "".join(f"{doc['transitions'][s].get(kind, 0):>{w},}" for s in sides)
        )
    if len(sides) == 1:
        for field in ("band", "success_quadrant", "readiness_quadrant"):
            counts = doc["portfolio"][sides[0]][field]
            lines.append(f"{field}: " + ", ".join(f"{k} {n:,}" for k, n in counts.items()))
        return lines
    for field, order in (
        ("band", BANDS),
        ("success_quadrant", SUCCESS),
        ("readiness_quadrant", READINESS),
    ):
        table = doc["migrations"][field]
        keys = [k for k in (*order, "None") if k in table or any(k in r for r in table.values())]
        keys += sorted(({k for r in table.values() for k in r} | set(table)) - set(keys))
        moved = sum(n for a, r in table.items() for b, n in r.items() if a != b)
        lines.append(
            f"{field} migrations at {doc['as_of']}: {moved:,} accounts move "
            f"(rows {labels[0]}, columns {labels[1]})"
        )
        cw = max(8, *(len(_short(k)) + 2 for k in keys))
        lines.append(f"  {'':<26}" + "".join(f"{_short(k):>{cw}}" for k in keys))
        for a in keys:
            if a in table:
                row = table[a]
                lines.append(
                    f"  {_short(a):<26}" + "".join(f"{row.get(b, 0):>{cw},}" for b in keys)
                )
    days = doc["account_days"]
    share = days["band_differs"] / days["compared"] if days["compared"] else 0.0
    lines.append(
        f"band differs on {days['band_differs']:,} of {days['compared']:,} account-days "
        f"({share:.1%})"
    )
    lines.append(f"accounts that change most at {doc['as_of']} (health, band, churn risk)")
    for c in doc["changes_most"]:
        h, b, r = c["health"], c["band"], c["churn_risk"]
        lines.append(
            f"  {c['account_id']:<24} {h[0]:6.1f} -> {h[1]:6.1f}  {b[0]:>6} -> {b[1]:<6} "
            f"{_fmt(r[0], '.2f')} -> {_fmt(r[1], '.2f')}"
        )
    return lines


def _short(name: str) -> str:
    return name.replace("work_to_keep:", "wtk:")


def draw(
    doc: dict[str, Any],
    portfolios: Sequence[dict[str, Close]],
    labels: Sequence[str],
    thresholds: Sequence[tuple[float, float, float, float]],
    text: Sequence[str],
    out: Path,
) -> tuple[list[Path], Path]:
    """PNG per side (the demo's quadrant charts of the portfolio) and one for the alerts per
    account per month, and an HTML page with them and the printed comparison."""
    from streams.charts import AccountPoint, readiness_chart, render, success_chart

    pngs = []
    for side, portfolio, (cust, comp, clarity, prio) in zip(
        doc["sides"], portfolios, thresholds, strict=True
    ):
        points = [
            AccountPoint(
                a,
                c.customer_happiness,
                c.company_happiness,
                c.success_quadrant,
                c.goal_clarity,
                c.priority,
                c.readiness_quadrant,
            )
            for a, c in sorted(portfolio.items())
        ]
        png = out / f"portfolio_{side}.png"
        render(points, success_chart(cust, comp), readiness_chart(clarity, prio), png)
        pngs.append(png)
    pngs.append(_alerts_chart(doc, labels, out / "alerts_per_month.png"))
    page = out / "report.html"
    images = "".join(
        f"<h2>{html.escape(p.stem.replace('_', ' '))}</h2><img alt='{html.escape(p.stem)}' "
        f"style='max-width:100%' src='data:image/png;base64,"
        f"{base64.b64encode(p.read_bytes()).decode()}'>"
        for p in pngs
    )
    page.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>healthscore backtest</title>"
        "<style>body{font-family:sans-serif;margin:2em}pre{font-size:13px}</style></head>"
        f"<body><h1>healthscore backtest: {' vs '.join(html.escape(x) for x in labels)}</h1>"
        f"<pre>{html.escape(chr(10).join(text))}</pre>{images}</body></html>",
        encoding="utf-8",
    )
    return pngs, page


def _alerts_chart(doc: dict[str, Any], labels: Sequence[str], png: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4))
    months: list[str] = []
    for side, label in zip(doc["sides"], labels, strict=True):
        series = doc["alerts_per_account_by_month"][side]
        months = list(series)
        ax.plot(range(len(months)), list(series.values()), marker="o", label=label)
    ax.set_xticks(range(len(months)), months)
    ax.set_title("alerts per account per month")
    ax.set_ylabel("alerts / account")
    ax.tick_params(axis="x", labelrotation=45)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return png
