"""The two simple anchors of a ChurnSim set: ROC AUC of minus MRR and of minus 28-day activity.

usage: python bench/churnsim_anchors.py SET_DIR [SET_DIR ...] [--protocol DIR]

Observation points and labels are those of the protocol's observations.py
(--protocol, default ../shared/churnsim): every 14 days from 2023-02-15,
accounts live for 28+ days, label 1 when the account's last subscription ends
within 56 days (and before 2024-01-01). At each observation date d:

* MRR = sum of the mrr of the account's subscription rows with start <= d < end;
* 28-day activity = sum of the usage quantity over the days d-28 <= day < d.

Needs pandas, pyarrow and scikit-learn.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from sklearn.metrics import roc_auc_score

WINDOW = pd.Timedelta(days=28)


def anchors(set_dir: Path, observations) -> dict[str, float]:
    subs = pd.read_parquet(set_dir / "subscriptions.parquet")
    obs = observations(subs)
    subs["start"] = pd.to_datetime(subs.start_date)
    subs["end"] = pd.to_datetime(subs.end_date)
    m = obs.merge(subs[["account_id", "start", "end", "mrr"]], on="account_id", suffixes=("", "_s"))
    live = (m.start_s <= m.obs_date) & (m.end > m.obs_date)
    mrr = m[live].groupby(["account_id", "obs_date"]).mrr.sum()

    u = pd.read_parquet(set_dir / "usage.parquet", columns=["account_id", "day", "quantity"])
    daily = u.groupby(["account_id", "day"]).quantity.sum().reset_index()
    act = []
    for od, grp in obs.groupby("obs_date"):
        w = daily[(daily.day >= od - WINDOW) & (daily.day < od)]
        s = w.groupby("account_id").quantity.sum()
        act.append(
            pd.DataFrame(
                {
                    "account_id": grp.account_id.to_numpy(),
                    "obs_date": od,
                    "activity": grp.account_id.map(s).fillna(0).to_numpy(),
                }
            )
        )
    act = pd.concat(act, ignore_index=True)
    o = obs.merge(act, on=["account_id", "obs_date"], how="left")
    o["mrr"] = pd.MultiIndex.from_frame(o[["account_id", "obs_date"]]).map(mrr.to_dict())
    o["mrr"] = o.mrr.fillna(0.0)
    y = o.label.to_numpy()
    return {
        "accounts": int(subs.account_id.nunique()),
        "obs": len(o),
        "pos": int(y.sum()),
        "auc_minus_mrr": roc_auc_score(y, -o.mrr.to_numpy(dtype=float)),
        "auc_minus_activity28": roc_auc_score(y, -o.activity.to_numpy(dtype=float)),
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sets", type=Path, nargs="+")
    ap.add_argument("--protocol", type=Path, default=Path("../shared/churnsim"))
    a = ap.parse_args(argv)
    sys.path.insert(0, str(a.protocol))
    from observations import observations

    print("| set | accounts | obs | pos | AUC -MRR | AUC -28d activity |")
    print("|---|---|---|---|---|---|")
    for d in a.sets:
        r = anchors(d, observations)
        print(
            f"| {d.name} | {r['accounts']} | {r['obs']} | {r['pos']} | "
            f"{r['auc_minus_mrr']:.3f} | {r['auc_minus_activity28']:.3f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
