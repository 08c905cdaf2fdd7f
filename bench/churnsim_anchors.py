"""The anchors of a ChurnSim set: two single quantities and two batch models with hindsight.

usage: python bench/churnsim_anchors.py SET_DIR [SET_DIR ...] [--protocol DIR]

Observation points and labels are those of the protocol's observations.py
(--protocol, default ../shared/churnsim): every 14 days from 2023-02-15,
accounts live for 28+ days, label 1 when the account's last subscription ends
within 56 days (and before 2024-01-01). At each observation date d:

* MRR = sum of the mrr of the account's subscription rows with start <= d < end;
* 28-day activity = sum of the usage quantity over the days d-28 <= day < d;
* 28-day counts per event type: the same window, one column per event type of
  the set's event_types.parquet (usage is stamped 12:00Z of its day, so day d
  itself is after the observation and left out).

The two batch anchors are those the churnsim README names ("trained with
hindsight on half the accounts"): the accounts are split in two halves by a
hash of the id (`in_test_half`); every observation of a train-half account, its
label included, trains the model; every observation of a test-half account is
scored. Logistic regression (scikit-learn) on the standardised log1p counts,
and HistGradientBoostingClassifier on the same log1p counts. Their AUC is over
the test half only; a score compared with them must be measured on the same
observations (`bench.quality` does). The train half is scored too, by the models
trained on the test half (`out_of_fold`), for a second comparison over both halves.

Needs pandas, pyarrow and scikit-learn.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

WINDOW = pd.Timedelta(days=28)
SPLIT_SALT = "churnsim-anchor-split"
Observations = Callable[[pd.DataFrame], pd.DataFrame]  # the protocol's observations()


def in_test_half(account_ids: Iterable[int], split: int = 0) -> np.ndarray:
    """True for the accounts of the test half of split number `split`.

    Split 0, the anchors' split: odd crc32 of the salted id. Splits 1, 2, ...: the
    low bit of blake2b of the id salted with the split's number (crc32 is linear,
    so salts of one length would give the same or the complementary halves).
    Deterministic, independent of the set's size and order, and not the hash
    `bench.quality --accounts` subsamples by."""
    if split == 0:
        bits = [zlib.crc32(f"{SPLIT_SALT}-{int(i)}".encode()) & 1 for i in account_ids]
    else:
        bits = [
            hashlib.blake2b(f"{SPLIT_SALT}-{split}-{int(i)}".encode(), digest_size=8).digest()[0]
            & 1
            for i in account_ids
        ]
    return np.array(bits, dtype=bool)


def counts_28d(usage: pd.DataFrame, obs: pd.DataFrame, event_types: Iterable[int]) -> np.ndarray:
    """Per observation (rows of obs: account_id, obs_date), the usage quantity of each
    event type over the 28 days d-28 <= day < d; columns in event_types order."""
    types = list(event_types)
    col = {t: j for j, t in enumerate(types)}
    u = usage.assign(day=pd.to_datetime(usage.day))
    u = u[u.event_type_id.isin(col)]
    daily = u.groupby(["day", "account_id", "event_type_id"], as_index=False).quantity.sum()
    out = np.zeros((len(obs), len(types)))
    dates = pd.to_datetime(obs.obs_date)
    for od, rows in obs.groupby(dates).indices.items():
        w = daily[(daily.day >= od - WINDOW) & (daily.day < od)]
        g = w.groupby(["account_id", "event_type_id"]).quantity.sum().unstack(fill_value=0)
        g = g.reindex(columns=types, fill_value=0)
        acc = obs.account_id.to_numpy()[rows]
        out[rows] = g.reindex(acc, fill_value=0).to_numpy(dtype=float)
    return out


def batch_models(z: np.ndarray, y: np.ndarray) -> tuple[Pipeline, HistGradientBoostingClassifier]:
    """The two batch models fitted on log1p counts z and labels y: a logistic regression
    on the standardised z (the scaler fitted on these rows), and gradient boosting."""
    lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(z, y)
    gb = HistGradientBoostingClassifier(random_state=0).fit(z, y)
    return lr, gb


def batch_scores(x: np.ndarray, y: np.ndarray, train: np.ndarray) -> dict[str, np.ndarray]:
    """Fit both batch models on the train rows (hindsight: their labels) and score every row.

    x: raw counts; both models see log1p(x)."""
    z = np.log1p(x)
    lr, gb = batch_models(z[train], y[train])
    return {"batch_lr": lr.decision_function(z), "batch_gbm": gb.decision_function(z)}


def out_of_fold(x: np.ndarray, y: np.ndarray, test: np.ndarray) -> dict[str, np.ndarray]:
    """Both batch models' scores for every row from the model trained on the other half:
    test rows by the models trained on the train half (the README's anchors), train
    rows by the models trained on the test half. No row's own label reaches its score."""
    a = batch_scores(x, y, ~test)
    b = batch_scores(x, y, test)
    return {k: np.where(test, a[k], b[k]) for k in a}


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    return float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else float("nan")


def anchor_frame(set_dir: Path, observations: Observations, splits: int = 1) -> pd.DataFrame:
    """Every observation of the set (account_id, obs_date, label) with `test` (its account
    is in the test half) and the four anchor scores (higher = riskier): minus_mrr,
    minus_activity28, batch_lr, batch_gbm (`out_of_fold`: the test rows' are the README's
    anchors). With splits > 1, also test_k, batch_lr_k and batch_gbm_k for the further
    splits k = 1 .. splits - 1."""
    subs = pd.read_parquet(set_dir / "subscriptions.parquet")
    obs = observations(subs)[["account_id", "obs_date", "label"]].reset_index(drop=True)
    obs["obs_date"] = pd.to_datetime(obs.obs_date)
    s = subs.assign(start=pd.to_datetime(subs.start_date), end=pd.to_datetime(subs.end_date))
    m = obs.reset_index().merge(s[["account_id", "start", "end", "mrr"]], on="account_id")
    live = (m.start <= m.obs_date) & (m.end > m.obs_date)
    mrr = m[live].groupby("index").mrr.sum().reindex(obs.index, fill_value=0.0)

    usage = pd.read_parquet(
        set_dir / "usage.parquet", columns=["account_id", "day", "event_type_id", "quantity"]
    )
    types = sorted(int(t) for t in pd.read_parquet(set_dir / "event_types.parquet").event_type_id)
    x = counts_28d(usage, obs, types)
    y = obs.label.to_numpy()
    test = in_test_half(obs.account_id)
    out = obs.assign(
        test=test,
        minus_mrr=-mrr.to_numpy(dtype=float),
        minus_activity28=-x.sum(axis=1),
    )
    for name, score in out_of_fold(x, y, test).items():
        out[name] = score
    for k in range(1, splits):
        test_k = in_test_half(obs.account_id, k)
        out[f"test_{k}"] = test_k
        for name, score in out_of_fold(x, y, test_k).items():
            out[f"{name}_{k}"] = score
    return out


def anchors(set_dir: Path, observations: Observations) -> dict[str, float]:
    f = anchor_frame(set_dir, observations)
    subs = pd.read_parquet(set_dir / "subscriptions.parquet", columns=["account_id"])
    y = f.label.to_numpy()
    t = f.test.to_numpy()
    return {
        "accounts": int(subs.account_id.nunique()),
        "obs": len(f),
        "pos": int(y.sum()),
        "auc_minus_mrr": _auc(y, f.minus_mrr.to_numpy()),
        "auc_minus_activity28": _auc(y, f.minus_activity28.to_numpy()),
        "test_obs": int(t.sum()),
        "test_pos": int(y[t].sum()),
        "auc_batch_lr": _auc(y[t], f.batch_lr.to_numpy()[t]),
        "auc_batch_gbm": _auc(y[t], f.batch_gbm.to_numpy()[t]),
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sets", type=Path, nargs="+")
    ap.add_argument("--protocol", type=Path, default=Path("../shared/churnsim"))
    a = ap.parse_args(argv)
    sys.path.insert(0, str(a.protocol))
    from observations import observations

    print(
        "| set | accounts | obs | pos | AUC -MRR | AUC -28d activity "
        "| test obs | test pos | batch LR (test half) | batch GBM (test half) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for d in a.sets:
        r = anchors(d, observations)
        print(
            f"| {d.name} | {r['accounts']} | {r['obs']} | {r['pos']} | "
            f"{r['auc_minus_mrr']:.3f} | {r['auc_minus_activity28']:.3f} | "
            f"{r['test_obs']} | {r['test_pos']} | "
            f"{r['auc_batch_lr']:.3f} | {r['auc_batch_gbm']:.3f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
