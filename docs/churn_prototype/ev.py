# ruff: noqa
# mypy: ignore-errors
RAW = {
    "dte": -0.6,
    "termlen": -0.3,
    "mrr": -0.2,
    "seats": -0.3,
    "tot": -0.2,
    "per_user": -0.1,
    "change": -0.3,
    "since": 0.3,
    "types": -0.2,
    "tenure": -0.1,
}
import sys, numpy as np, pandas as pd
from sklearn.metrics import roc_auc_score

sys.path.insert(0, "/work/shared/churnsim")
from observations import observations

NB = 16
H = int(sys.argv[2]) if len(sys.argv) > 2 else 90
SIM_END = pd.Timestamp("2024-01-01")


def X_of(f, which):
    d = f.date
    dte = ((f.term_end - d).dt.days).clip(lower=0)
    tl = (f.term_end - f.term_start).dt.days.clip(lower=1)
    cols = {}
    cols["dte"] = np.log1p(dte)
    cols["termlen"] = np.log(tl)
    cols["ends_h"] = (dte <= H).astype(float)
    cols["mrr"] = np.log1p(f.mrr)
    cols["seats"] = np.log1p(f.seats)
    cols["tot"] = np.log1p(f.tot28)
    cols["per_user"] = np.log1p(f.tot28 / f.users28.clip(lower=1))
    cols["change"] = np.log1p(f.tot28) - np.log1p(f.tot_prev)
    since = (d - f["last"]).dt.days
    cols["since"] = np.log1p(since.fillna(365))
    cols["types"] = np.log1p(f.types28)
    cols["tenure"] = np.log1p((d - f["first"]).dt.days)
    cols["util"] = (f.users28 / f.seats.clip(lower=1)).clip(upper=2)
    cols["days_active"] = np.log1p(f.days_active)
    for b in range(NB):
        cols[f"u{b}"] = np.log1p(f[f"u{b}"])
    X = pd.DataFrame(cols)
    return X[which].to_numpy(float)


BASE = [
    "dte",
    "termlen",
    "mrr",
    "seats",
    "tot",
    "per_user",
    "change",
    "since",
    "types",
    "tenure",
    "util",
]
BUCK = [f"u{b}" for b in range(NB)]
PRIOR_STD = {
    "dte": -1.0,
    "termlen": -0.5,
    "mrr": -0.3,
    "seats": -0.3,
    "tot": -0.3,
    "per_user": -0.2,
    "since": 0.3,
    "types": -0.2,
    "change": -0.1,
}


def sig(z):
    return 1 / (1 + np.exp(-z))


def fit_map(X, y, b0, w0, lam, iters=8):
    """Newton: min sum logloss + lam/2 |w - w0|^2 (intercept unpenalised, prior b0 weak)."""
    n, p = X.shape
    A = np.hstack([np.ones((n, 1)), X])
    theta = np.concatenate([[b0], w0])
    prior = theta.copy()
    P = np.full(p + 1, lam)
    P[0] = 1e-3
    for _ in range(iters):
        mu = sig(A @ theta)
        g = A.T @ (mu - y) + P * (theta - prior)
        Hm = (A * (mu * (1 - mu))[:, None]).T @ A + np.diag(P)
        theta = theta - np.linalg.solve(Hm, g)
    return theta[0], theta[1:]


def run(
    f,
    subs,
    which,
    learner,
    interval=14,
    buffer=20000,
    refit_every=1,
    lam=30.0,
    verbose=False,
    delay=True,
):
    span = subs.groupby("account_id").agg(start=("start", "min"), end=("end", "max"))
    f = f.merge(span, left_on="account_id", right_index=True)
    f = f[(f.start <= f.date) & (f.end > f.date)].copy()
    X = X_of(f, which)
    f["i"] = np.arange(len(f))
    # training snapshots: every `interval` days per account from its first day (grid 7d)
    days_since = (f.date - f.start).dt.days
    snap = f[
        (days_since >= interval) & (((f.date - pd.Timestamp("2023-01-04")).dt.days) % interval == 0)
    ].copy()
    cancel = snap.end.where(snap.end < SIM_END)
    pos = cancel.notna() & (cancel <= snap.date + pd.Timedelta(days=H))
    snap["y"] = pos.astype(int)
    snap["known"] = (
        (snap.date + pd.Timedelta(days=H))
        if delay
        else np.where(pos, cancel, snap.date + pd.Timedelta(days=H))
    )
    snap = snap[snap.known < SIM_END]
    obs = observations(subs[["account_id", "start_date", "end_date"]])
    o = obs.merge(
        f[["account_id", "date", "i"]],
        left_on=["account_id", "obs_date"],
        right_on=["account_id", "date"],
    )
    preds = np.full(len(o), np.nan)
    w0r = np.array([RAW.get(c, 0.0) for c in which])
    b0 = -2.2
    for od, idx in o.groupby("obs_date").groups.items():
        seen = f[f.date <= od]
        Xs = X[seen.i.to_numpy()]
        mu, sd = Xs.mean(0), Xs.std(0) + 1e-9
        tr = snap[snap.known <= od].sort_values("known").tail(buffer)
        Xo = (X[o.loc[idx, "i"].to_numpy()] - mu) / sd
        w0 = w0r * sd
        if learner == "prior" or len(tr) < 20 or tr.y.nunique() < 2:
            z = b0 + Xo @ w0
        else:
            Xt = (X[tr.i.to_numpy()] - mu) / sd
            yt = tr.y.to_numpy()
            if learner == "map":
                b, w = fit_map(Xt, yt, b0, w0, lam)
                z = b + Xo @ w
            elif learner == "lr":
                from sklearn.linear_model import LogisticRegression

                m = LogisticRegression(C=0.1, max_iter=500).fit(Xt, yt)
                z = m.decision_function(Xo)
            elif learner == "gbm":
                from sklearn.ensemble import HistGradientBoostingClassifier

                if len(tr) < 300:
                    z = b0 + Xo @ w0
                else:
                    m = HistGradientBoostingClassifier(
                        max_iter=100, learning_rate=0.05, max_depth=3, random_state=0
                    ).fit(Xt, yt)
                    z = m.decision_function(Xo)
        preds[np.asarray([o.index.get_loc(k) for k in idx])] = z
    y = o.label.to_numpy()
    first = (o.obs_date < "2023-07-01").to_numpy()
    return (
        roc_auc_score(y, preds),
        roc_auc_score(y[first], preds[first]),
        roc_auc_score(y[~first], preds[~first]),
        len(o),
        y.sum(),
    )


if __name__ == "__main__":
    setn = sys.argv[1]
    f = pd.read_parquet(f"{setn}.parquet")
    subs = pd.read_parquet(
        f"/work/shared/churnsim/{setn}/subscriptions.parquet"
        if setn == "A"
        else f"/work/churnsim-extra/{setn}/subscriptions.parquet"
    )
    subs["start"] = pd.to_datetime(subs.start_date)
    subs["end"] = pd.to_datetime(subs.end_date)
    # single-feature AUCs
    import itertools

    for name, which, learner, kw in [
        ("prior base", BASE, "prior", {}),
        ("map base+buck lam100", BASE + BUCK, "map", {"lam": 100.0}),
        ("map base+buck lam30", BASE + BUCK, "map", {"lam": 30.0}),
        ("map base+buck lam100 i28", BASE + BUCK, "map", {"lam": 100.0, "interval": 28}),
    ]:
        r = run(f, subs, which, learner, **kw)
        print(
            f"{name:20s} H={H} auc={r[0]:.3f} first={r[1]:.3f} second={r[2]:.3f} n={r[3]} pos={r[4]}",
            flush=True,
        )
