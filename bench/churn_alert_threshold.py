"""How often `churn_risk_high` would fire at a threshold, and how often it is right.

usage: python -m bench.churn_alert_threshold SET_DIR SCORES.jsonl [--thresholds 0.5,0.3,...]
                                             [--lifts 2,3] [--alerts ALERTS.jsonl]

SCORES.jsonl: daily scores of the set (`bench.quality`'s backtest output,
`<work>/<set>-<n>.backtest/base/scores.jsonl`). For each candidate threshold
T it replays the alert's own rule on each account's daily churn risk: the
condition holds from risk >= T until risk < T - hysteresis, each rising edge
is an alert unless one was raised in the kind's cooldown (the config's
`alerts.churn_risk_hysteresis` and `kinds.churn_risk_high.cooldown_days`), and
a cancelled account raises nothing after its cancellation. Then:

* accounts alerted, alerts, alerts per 1,000 account-days;
* precision: share of alerts whose account cancels within the churn horizon
  (`churn.horizon_days`) after the alert, against the base rate (share of live
  account-days followed by a cancellation within the horizon), and their ratio (lift);
* recall: share of the cancellations (after the first 28 days of data) with an
  alert in the horizon before them, and the median lead time in days.

Thresholds: absolute (`--thresholds`), `k x churn.prior_risk` (`--lifts`), and,
for reference with hindsight, the risk's 90th percentile over the run
(top decile). Cancellations are the set's (`subscriptions.parquet`: the last
term's end before 2024-01-01, as `to_events.py` emits them).
Needs pandas and pyarrow.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

import scoring

SIM_END = pd.Timestamp("2024-01-01")


def read_risk(path: Path) -> pd.DataFrame:
    acct, day, risk = [], [], []
    with path.open("rb") as f:
        for line in f:
            r = orjson.loads(line)
            if r.get("churn_risk") is None:
                continue
            acct.append(r["account_id"])
            day.append(r["ts"][:10])
            risk.append(r["churn_risk"])
    df = pd.DataFrame({"account_id": acct, "day": pd.to_datetime(day), "risk": risk})
    return df.sort_values(["account_id", "day"], kind="stable").reset_index(drop=True)


def cancellations(set_dir: Path) -> pd.Series:
    subs = pd.read_parquet(set_dir / "subscriptions.parquet", columns=["account_id", "end_date"])
    end = pd.to_datetime(subs.end_date).groupby(subs.account_id).max()
    end = end[end < SIM_END]
    end.index = "acct-" + end.index.astype(str)
    return end.dt.normalize()


def replay(
    df: pd.DataFrame, cancel: pd.Series, threshold: float, hysteresis: float, cooldown: int
) -> pd.DataFrame:
    """The alerts (account_id, day) the rule raises on the daily risks at `threshold`."""
    out_acct, out_day = [], []
    for account, g in df.groupby("account_id", sort=False):
        end = cancel.get(account)
        held = False
        last: pd.Timestamp | None = None
        for day, risk in zip(g.day, g.risk, strict=True):
            if end is not None and day >= end:
                break
            holds = risk >= (threshold - hysteresis if held else threshold)
            if holds and not held and (last is None or (day - last).days >= cooldown):
                out_acct.append(account)
                out_day.append(day)
                last = day
            held = holds
    return pd.DataFrame(
        {"account_id": pd.Series(out_acct, dtype=object), "day": pd.to_datetime(out_day)}
    )


def measure(
    df: pd.DataFrame, alerts: pd.DataFrame, cancel: pd.Series, horizon: int
) -> dict[str, float]:
    h = pd.Timedelta(days=horizon)
    live = df[df.account_id.map(cancel).isna() | (df.day < df.account_id.map(cancel))]
    live_end = live.account_id.map(cancel)
    base = float(((live_end - live.day) <= h).mean()) if len(live) else float("nan")
    a_end = alerts.account_id.map(cancel)
    hit = ((a_end - alerts.day) <= h) & a_end.notna()
    precision = float(hit.mean()) if len(alerts) else float("nan")
    first = df.day.min() + pd.Timedelta(days=28)
    scored = set(df.account_id)
    targets = cancel[(cancel >= first) & cancel.index.isin(scored)]
    caught, leads = 0, []
    for account, end in targets.items():
        mine = alerts.day[(alerts.account_id == account) & (alerts.day < end)]
        mine = mine[mine >= end - h]
        if len(mine):
            caught += 1
            leads.append((end - mine.min()).days)
    return {
        "accounts": float(alerts.account_id.nunique()),
        "alerts": float(len(alerts)),
        "per_1000_account_days": 1000.0 * len(alerts) / max(len(live), 1),
        "precision": precision,
        "base_rate": base,
        "lift": precision / base if base else float("nan"),
        "recall": caught / len(targets) if len(targets) else float("nan"),
        "cancellations": float(len(targets)),
        "median_lead_days": float(np.median(leads)) if leads else float("nan"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("set_dir", type=Path)
    ap.add_argument("scores", type=Path)
    ap.add_argument("--config", type=Path, default=None)
    ap.add_argument("--thresholds", default="0.5,0.3,0.2,0.15,0.1")
    ap.add_argument("--lifts", default="2,3")
    ap.add_argument("--alerts", type=Path, default=None, help="the run's alerts.jsonl: counted")
    a = ap.parse_args(argv)
    config = scoring.load_config(a.config)
    hysteresis = config.alerts.churn_risk_hysteresis
    cooldown = config.alerts.kinds.churn_risk_high.cooldown_days
    horizon = config.churn.horizon_days
    df = read_risk(a.scores)
    cancel = cancellations(a.set_dir)
    q = df.risk.quantile([0.5, 0.9, 0.99])
    print(
        f"daily scores={len(df)} accounts={df.account_id.nunique()} "
        f"risk mean={df.risk.mean():.3f} median={q[0.5]:.3f} p90={q[0.9]:.3f} "
        f"p99={q[0.99]:.3f} max={df.risk.max():.3f} prior_risk={config.churn.prior_risk}"
    )
    if a.alerts is not None:
        n = sum(b'"kind":"churn_risk_high"' in line for line in a.alerts.open("rb"))
        print(f"churn_risk_high alerts the run raised (config threshold): {n}")
    candidates = [(f"{float(t):g}", float(t)) for t in a.thresholds.split(",") if t]
    candidates += [
        (f"{float(k):g} x prior_risk = {float(k) * config.churn.prior_risk:g}",
         float(k) * config.churn.prior_risk)
        for k in a.lifts.split(",") if k
    ]  # fmt: skip
    candidates.append((f"top decile (p90, hindsight) = {q[0.9]:.3f}", float(q[0.9])))
    print(
        "| threshold | accounts alerted | alerts | per 1,000 account-days | precision "
        f"(cancels within {horizon} d) | lift over base | recall | median lead (d) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, t in candidates:
        alerts = replay(df, cancel, t, min(hysteresis, t / 2), cooldown)
        m = measure(df, alerts, cancel, horizon)
        print(
            f"| {label} | {m['accounts']:.0f} | {m['alerts']:.0f} | "
            f"{m['per_1000_account_days']:.2f} | {m['precision']:.3f} | "
            f"{m['lift']:.2f} (base {m['base_rate']:.3f}) | {m['recall']:.3f} of "
            f"{m['cancellations']:.0f} | {m['median_lead_days']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
