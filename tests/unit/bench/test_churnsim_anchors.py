"""bench.churnsim_anchors: the batch anchors of a ChurnSim set, on a tiny synthetic set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.churnsim_anchors import (
    anchor_frame,
    anchors,
    batch_models,
    batch_scores,
    counts_28d,
    in_test_half,
    out_of_fold,
)
from bench.quality import auc, compare_on_test_half, sample

D1 = pd.Timestamp("2023-03-01")
D2 = pd.Timestamp("2023-03-15")


def test_the_split_is_a_deterministic_half_by_account_id() -> None:
    ids = list(range(1, 1001))
    t = in_test_half(ids)
    assert 430 < t.sum() < 570  # about half
    assert (in_test_half(ids[::-1]) == t[::-1]).all()  # each account's side depends on its id only
    assert (in_test_half([7, 7, 7]) == in_test_half([7])[0]).all()
    # not the hash `bench.quality --accounts` takes its subsample by
    chosen = sample(pd.Series(ids), 500)
    assert 180 < sum(t[i - 1] for i in chosen) < 320


def test_further_splits_are_other_halves() -> None:
    ids = list(range(1, 1001))
    halves = [in_test_half(ids, k) for k in range(4)]
    for k, t in enumerate(halves):
        assert 430 < t.sum() < 570, k
        assert (in_test_half(ids[::-1], k) == t[::-1]).all()
    for a in range(4):
        for b in range(a + 1, 4):
            agree = int((halves[a] == halves[b]).sum())
            assert 400 < agree < 600, (a, b)  # neither the same halves nor swapped


def test_counts_per_event_type_over_the_28_days_before_the_observation() -> None:
    usage = pd.DataFrame(
        [
            # account, day, event type, user, quantity
            (1, D1 - pd.Timedelta(days=28), 0, 1, 5),  # first day of the window
            (1, D1 - pd.Timedelta(days=29), 0, 1, 100),  # before it
            (1, D1, 0, 1, 1000),  # the observation's own day: after it (12:00Z)
            (1, D1 - pd.Timedelta(days=1), 2, 1, 3),
            (1, D1 - pd.Timedelta(days=1), 2, 2, 4),  # users summed
            (1, D1 - pd.Timedelta(days=1), 9, 1, 50),  # not a listed event type
            (2, D2 - pd.Timedelta(days=3), 1, 1, 6),
        ],
        columns=["account_id", "day", "event_type_id", "user_id", "quantity"],
    )
    obs = pd.DataFrame({"account_id": [1, 2, 2, 3], "obs_date": [D1, D1, D2, D2]})
    x = counts_28d(usage, obs, [0, 1, 2])
    assert x.tolist() == [[5, 0, 7], [0, 0, 0], [0, 6, 0], [0, 0, 0]]


def _separable(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Leavers use event type 1 little; event types 0 and 2 are noise."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 5 == 0).astype(int)
    x = rng.poisson(20, size=(n, 3)).astype(float)
    x[:, 1] = np.where(y == 1, rng.poisson(2, n), rng.poisson(40, n))
    return x, y


def test_batch_models_learn_from_the_train_rows_only() -> None:
    x, y = _separable()
    train = np.arange(len(y)) % 2 == 0
    s = batch_scores(x, y, train)
    for name in ("batch_lr", "batch_gbm"):
        assert auc(y[~train], s[name][~train]) > 0.95, name
    # the test rows' labels are never seen: turning them upside down changes no score
    flipped = np.where(train, y, 1 - y)
    s2 = batch_scores(x, flipped, train)
    for name in ("batch_lr", "batch_gbm"):
        assert np.array_equal(s[name], s2[name]), name


def test_out_of_fold_scores_no_row_by_its_own_label() -> None:
    x, y = _separable()
    test = np.arange(len(y)) % 2 == 1
    s = out_of_fold(x, y, test)
    for half in (test, ~test):
        flipped = np.where(half, 1 - y, y)  # this half's labels upside down
        s2 = out_of_fold(x, flipped, test)
        for name in ("batch_lr", "batch_gbm"):
            assert np.array_equal(s[name][half], s2[name][half]), name
            assert auc(y[half], s[name][half]) > 0.95, name


def test_logistic_regression_sees_the_log_counts_standardised_on_its_train_rows() -> None:
    x, y = _separable()
    train = np.arange(len(y)) % 2 == 0
    z = np.log1p(x)
    lr, _ = batch_models(z[train], y[train])
    scaler = lr[0]
    assert scaler.mean_ == pytest.approx(z[train].mean(axis=0))
    assert scaler.scale_ == pytest.approx(z[train].std(axis=0))
    # and batch_scores is that model on log1p of the counts
    s = batch_scores(x, y, train)["batch_lr"]
    assert s == pytest.approx(lr.decision_function(z))


def _observations(subs: pd.DataFrame) -> pd.DataFrame:
    """The protocol in miniature: two dates, accounts live at the date, label = the
    last subscription ends within 56 days."""
    s = subs.assign(
        start_date=pd.to_datetime(subs.start_date), end_date=pd.to_datetime(subs.end_date)
    )
    span = s.groupby("account_id").agg(start=("start_date", "min"), end=("end_date", "max"))
    out = []
    for od in (D1, D2):
        live = span[(span.start <= od) & (span.end > od)]
        lab = (live.end <= od + pd.Timedelta(days=56)).astype(int)
        out.append(pd.DataFrame({"account_id": live.index, "obs_date": od, "label": lab.values}))
    return pd.concat(out, ignore_index=True)


def _write_set(root: Path, n: int = 120) -> Path:
    rng = np.random.default_rng(1)
    subs, usage = [], []
    for a in range(1, n + 1):
        leaves = a % 4 == 0
        end = pd.Timestamp("2023-04-10") if leaves else pd.Timestamp("2024-01-01")
        subs.append((a, "users", pd.Timestamp("2023-01-01"), end, 100.0 + a))
        for day in pd.date_range("2023-01-20", "2023-03-14"):
            usage.append((a, day, 0, 1, int(rng.poisson(5))))
            usage.append((a, day, 1, 1, int(rng.poisson(1 if leaves else 12))))
    d = root / "S"
    d.mkdir()
    pd.DataFrame(
        subs, columns=["account_id", "product", "start_date", "end_date", "mrr"]
    ).to_parquet(d / "subscriptions.parquet")
    pd.DataFrame(
        usage, columns=["account_id", "day", "event_type_id", "user_id", "quantity"]
    ).to_parquet(d / "usage.parquet")
    pd.DataFrame({"event_type_id": [0, 1, 2], "event_type_name": ["a", "b", "c"]}).to_parquet(
        d / "event_types.parquet"
    )
    return d


def test_anchor_frame_on_a_tiny_set(tmp_path: Path) -> None:
    d = _write_set(tmp_path)
    f = anchor_frame(d, _observations)
    assert len(f) == 240 and f.label.sum() == 60
    assert (f.test.to_numpy() == in_test_half(f.account_id)).all()
    assert (f.minus_mrr == -(100.0 + f.account_id)).all()
    assert f.minus_activity28.max() < 0  # everyone used the product
    r = anchors(d, _observations)
    assert r["accounts"] == 120 and r["obs"] == 240 and r["pos"] == 60
    assert r["test_obs"] == int(f.test.sum())
    assert r["auc_batch_lr"] > 0.95 and r["auc_batch_gbm"] > 0.95


def test_the_comparison_is_on_the_scored_test_half(tmp_path: Path) -> None:
    d = _write_set(tmp_path)
    obs = _observations(pd.read_parquet(d / "subscriptions.parquet"))
    obs = obs[obs.account_id <= 80].reset_index(drop=True)  # a subsample was scored
    test = in_test_half(obs.account_id)
    y = obs.label.to_numpy()
    # a churn risk right on the test half and wrong on the train half; health the reverse
    risk = np.where(test, y, 1 - y).astype(float)
    m = pd.DataFrame(
        {
            "acct": obs.account_id,
            "obs_date": obs.obs_date,
            "label": y,
            "churn_risk": risk,
            "health": 100.0 * risk,  # ranks leavers as healthy
        }
    )
    lines = compare_on_test_half(m, d, _observations, np.ones(len(m), dtype=bool))
    first = dict(kv.split("=") for kv in lines[0].split(": ", 1)[1].split())
    assert int(first["obs"]) == int(test.sum()) and int(first["pos"]) == int(y[test].sum())
    assert float(first["churn_auc"]) == 1.0 and float(first["health_auc"]) == 0.0
    assert float(first["batch_lr"]) > 0.9
    both = dict(kv.split("=") for kv in lines[1].split(": ", 1)[1].split())
    assert int(both["obs"]) == len(m)
    assert float(both["churn_auc"]) == pytest.approx(auc(y, risk))
    assert float(both["batch_gbm"]) > 0.9
    assert "whole set's test half" in lines[2]

    lines = compare_on_test_half(m, d, _observations, np.ones(len(m), bool), 3)
    assert lines[2].startswith("  over 3 splits")
    per_split = [
        dict(kv.split("=") for kv in line.split(": ", 1)[1].split()) for line in lines[3:6]
    ]
    assert [int(p["obs"]) for p in per_split] == [
        int(in_test_half(obs.account_id, k).sum()) for k in range(3)
    ]
    assert per_split[0]["batch_lr"] == first["batch_lr"]
    assert float(per_split[0]["churn_auc"]) == 1.0  # split 0 is the anchors' test half
    assert float(per_split[1]["churn_auc"]) < 1.0  # another half: right and wrong accounts
    assert "whole set's test half" in lines[6]  # the 40 accounts not scored trained it too
