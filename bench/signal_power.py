"""Observed predictive power of health and of each signal: do they rank leavers below stayers?

usage: python -m bench.signal_power EVENTS.jsonl SCORES.jsonl [--horizon 56] [--every 14]
                                    [--min-age 28] [--first 2023-02-15]

EVENTS is what was scored (only its subscription events are read: they give each
account's subscribed spans and its cancellations), SCORES what `healthscore
score-file --cadence 1d` wrote. The protocol is ChurnSim's (`../shared/churnsim/
observations.py`), computed from the events themselves: every `--every` days from
`--first` (default: the first event's day + `--min-age`), each account subscribed for
at least `--min-age` days and not cancelled is observed; its label is 1 when it
cancels within `--horizon` days. Observations whose horizon runs past the last event
are left out (their outcome is not known yet). Each observation takes the account's
latest score at or before the observation (no later information).

For health and for every signal it prints the ROC AUC of the value as a ranking of
stayers above leavers: 0.5 is no information, below 0.5 the signal points the wrong
way on these accounts (a weight a team should look at), and the share of
observations where the signal was known (AUC over those only). `signal_power` is
the function the quality bench calls.
"""

from __future__ import annotations

import argparse
import bisect
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from scoring.names import SIGNALS

DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Observation:
    account_id: str
    ts: float
    """Epoch seconds: the latest score at or before it is the one observed."""
    label: bool
    """The account cancelled within the horizon."""


@dataclass(frozen=True, slots=True)
class Power:
    name: str
    """`health` or a signal name."""
    known: float
    """Share of the scored observations where the value was known."""
    auc: float | None
    """P(a stayer's value > a leaver's), ties counted half; None without both labels."""


def auc(values: Sequence[float], labels: Sequence[bool]) -> float | None:
    """ROC AUC of `values` as a ranking of the False labels (stayers) above the True ones
    (Mann-Whitney with average ranks for ties)."""
    pairs = sorted(zip(values, labels, strict=True))
    stayers = sum(1 for _, y in pairs if not y)
    leavers = len(pairs) - stayers
    if not stayers or not leavers:
        return None
    rank_sum = 0.0  # sum of the stayers' ranks (1-based, ties averaged)
    i = 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        mean_rank = (i + 1 + j) / 2.0
        rank_sum += mean_rank * sum(1 for _, y in pairs[i:j] if not y)
        i = j
    return (rank_sum - stayers * (stayers + 1) / 2.0) / (stayers * leavers)


def signal_power(
    observations: Iterable[Observation], scores: Iterable[Mapping[str, Any]]
) -> list[Power]:
    """Health and per-signal power over the observations that have a score (dicts as in
    a ScoreRecord's JSON: `account_id`, `ts`, `health`, `signals`)."""
    by_account: dict[str, tuple[list[float], list[Mapping[str, Any]]]] = {}
    for record in sorted(scores, key=lambda r: _epoch(r["ts"])):
        times, records = by_account.setdefault(str(record["account_id"]), ([], []))
        times.append(_epoch(record["ts"]))
        records.append(record)
    seen: list[tuple[Mapping[str, Any], bool]] = []
    for obs in observations:
        found = by_account.get(obs.account_id)
        if found is None:
            continue
        i = bisect.bisect_right(found[0], obs.ts)
        if i:
            seen.append((found[1][i - 1], obs.label))
    names = ("health", *SIGNALS)
    out = []
    for name in names:
        values, labels = [], []
        for record, label in seen:
            v = record["health"] if name == "health" else record["signals"].get(name)
            if v is not None:
                values.append(float(v))
                labels.append(label)
        known = len(values) / len(seen) if seen else 0.0
        out.append(Power(name, known, auc(values, labels) if values else None))
    return out


def _epoch(ts: str | datetime) -> float:
    if isinstance(ts, datetime):
        return ts.timestamp()
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


_SUBSCRIPTION = (b'"subscription_started"', b'"subscription_changed"', b'"subscription_cancelled"')


def observations_from_events(
    events: Path, horizon_days: float, every_days: float, min_age_days: float, first: float | None
) -> list[Observation]:
    """The ChurnSim protocol over the subscription events of a JSONL events file."""
    starts: dict[str, float] = {}
    cancels: dict[str, list[float]] = {}
    restarts: dict[str, list[float]] = {}
    lo = hi = None
    with events.open("rb") as f:
        for line in f:
            if not any(t in line for t in _SUBSCRIPTION):
                continue
            e = orjson.loads(line)
            ts = _epoch(e["ts"])
            lo = ts if lo is None or ts < lo else lo
            hi = ts if hi is None or ts > hi else hi
            account = e["account_id"]
            if e["type"] == "subscription_cancelled":
                cancels.setdefault(account, []).append(ts)
            else:
                starts[account] = min(ts, starts.get(account, ts))
                restarts.setdefault(account, []).append(ts)
    if lo is None or hi is None:
        return []
    step, horizon = every_days * DAY, horizon_days * DAY
    t = first if first is not None else (lo // DAY) * DAY + min_age_days * DAY
    out = []
    while t + horizon <= hi:
        for account, start in starts.items():
            if start > t - min_age_days * DAY or _cancelled_at(account, t, cancels, restarts):
                continue
            label = any(t < c <= t + horizon for c in cancels.get(account, ()))
            out.append(Observation(account, t, label))
        t += step
    return out


def _cancelled_at(
    account: str, t: float, cancels: dict[str, list[float]], restarts: dict[str, list[float]]
) -> bool:
    """The account's latest subscription event at or before t is a cancellation."""
    last_cancel = max((c for c in cancels.get(account, ()) if c <= t), default=None)
    if last_cancel is None:
        return False
    return not any(last_cancel < s <= t for s in restarts.get(account, ()))


def format_table(powers: Sequence[Power], observations: int, positives: int) -> str:
    lines = [
        f"observations={observations} leavers={positives}",
        f"  {'':24s} {'known':>6s} {'AUC':>6s}  (AUC of the value ranking stayers above leavers)",
    ]
    for p in powers:
        value = "-" if p.auc is None else f"{p.auc:.3f}"
        flag = "  <- points the wrong way" if p.auc is not None and p.auc < 0.5 else ""
        lines.append(f"  {p.name:24s} {p.known:6.2f} {value:>6s}{flag}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("events", type=Path)
    ap.add_argument("scores", type=Path)
    ap.add_argument("--horizon", type=float, default=56.0, help="label horizon, days (56)")
    ap.add_argument("--every", type=float, default=14.0, help="days between observations (14)")
    ap.add_argument("--min-age", type=float, default=28.0, help="days subscribed to observe (28)")
    ap.add_argument("--first", help="first observation date (YYYY-MM-DD)")
    a = ap.parse_args(argv)
    first = None
    if a.first:
        first = datetime.fromisoformat(a.first).replace(tzinfo=UTC).timestamp()
    obs = observations_from_events(a.events, a.horizon, a.every, a.min_age, first)
    with a.scores.open("rb") as f:
        scores = [orjson.loads(line) for line in f if line.strip()]
    covered = {r["account_id"] for r in scores}
    obs = [o for o in obs if o.account_id in covered]
    print(format_table(signal_power(obs, scores), len(obs), sum(o.label for o in obs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
