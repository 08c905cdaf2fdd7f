# ruff: noqa
# mypy: ignore-errors
import sys, numpy as np, pandas as pd

sys.argv = sys.argv[:2] + ["90"]
exec(open(__file__.replace("ev3.py", "ev.py")).read().split("if __name__ == '__main__':")[0])
from sklearn.linear_model import LogisticRegression
from sklearn.ensemble import HistGradientBoostingClassifier

setn = sys.argv[1]
root = "/work/shared/churnsim" if setn == "A" else "/work/churnsim-extra"
f = pd.read_parquet(f"{setn}.parquet")
subs = pd.read_parquet(f"{root}/{setn}/subscriptions.parquet")
subs["start"] = pd.to_datetime(subs.start_date)
subs["end"] = pd.to_datetime(subs.end_date)
out = []
for name, which, learner, kw in [
    ("prior", BASE, "prior", {}),
    ("map lam300 i28", BASE + BUCK, "map", {"lam": 300.0, "interval": 28}),
]:
    r = run(f, subs, which, learner, **kw)
    out.append(f"{name}={r[0]:.3f} (first {r[1]:.3f} second {r[2]:.3f})")
# anchors at observations
obs = observations(subs[["account_id", "start_date", "end_date"]])
o = obs.merge(f, left_on=["account_id", "obs_date"], right_on=["account_id", "date"], how="left")
y = o.label.to_numpy()
out.append(
    f"obs={len(o)} pos={y.sum()} -mrr={roc_auc_score(y, -o.mrr.fillna(0)):.3f} -act28={roc_auc_score(y, -o.tot28.fillna(0)):.3f}"
)
# batch LR / GBM on 28-day counts per event type, trained with hindsight on half the accounts
u = pd.read_parquet(f"{root}/{setn}/usage.parquet")
u["day"] = pd.to_datetime(u.day)
rows = []
for od in sorted(o.obs_date.unique()):
    w = u[(u.day > od - pd.Timedelta(days=28)) & (u.day <= od)]
    g = w.groupby(["account_id", "event_type_id"]).quantity.sum().unstack(fill_value=0)
    g["obs_date"] = od
    rows.append(g.reset_index())
c = pd.concat(rows).fillna(0)
oc = (
    o[["account_id", "obs_date", "label"]]
    .merge(c, on=["account_id", "obs_date"], how="left")
    .fillna(0)
)
Xc = np.log1p(oc.drop(columns=["account_id", "obs_date", "label"]).to_numpy(float))
yc = oc.label.to_numpy()
tr = (oc.account_id % 2 == 0).to_numpy()
lr = LogisticRegression(max_iter=2000).fit(Xc[tr], yc[tr])
gb = HistGradientBoostingClassifier(random_state=0).fit(Xc[tr], yc[tr])
out.append(
    f"batch(hindsight, half the accounts) lr={roc_auc_score(yc[~tr], lr.decision_function(Xc[~tr])):.3f} gbm={roc_auc_score(yc[~tr], gb.decision_function(Xc[~tr])):.3f}"
)
print(setn, " | ".join(out), flush=True)
