# ruff: noqa
# mypy: ignore-errors
"""Prototype: per-account features at dates, from a ChurnSim set (only data <= date)."""

import sys, zlib
import numpy as np, pandas as pd

sys.path.insert(0, "/work/shared/churnsim")
from observations import observations

NB = 16


def bucket(name, nb=NB):
    return zlib.crc32(name.encode()) % nb


def load(set_dir):
    u = pd.read_parquet(f"{set_dir}/usage.parquet")
    names = (
        pd.read_parquet(f"{set_dir}/event_types.parquet").set_index("event_type_id").event_type_name
    )
    u["day"] = pd.to_datetime(u.day).dt.normalize()
    u = u[u.day < "2024-01-01"]
    u["b"] = u.event_type_id.map(names).map(bucket)
    s = pd.read_parquet(f"{set_dir}/subscriptions.parquet")
    s["start"] = pd.to_datetime(s.start_date)
    s["end"] = pd.to_datetime(s.end_date)
    return u, s


def terms_at(s, dates):
    """base-plan term in force at each date (as the service sees: last term started <= d)."""
    base = s[s.units == "users"].sort_values("start")
    out = []
    for d in dates:
        b = base[base.start <= d].groupby("account_id").tail(1)
        live = s[(s.start <= d) & (s.end > d)].groupby("account_id").mrr.sum()
        first = base.groupby("account_id").start.min()
        df = pd.DataFrame(
            {
                "account_id": b.account_id.values,
                "date": d,
                "term_start": b.start.values,
                "term_end": b.end.values,
                "seats": b.quantity.values,
                "product": b["product"].values,
            }
        )
        df["mrr"] = df.account_id.map(live).fillna(0).values
        df["first"] = df.account_id.map(first).values
        out.append(df)
    return pd.concat(out, ignore_index=True)


def usage_at(u, dates, nb=NB):
    rows = []
    for d in dates:
        w = u[(u.day < d + pd.Timedelta(days=1)) & (u.day > d - pd.Timedelta(days=56))]
        rec = w[w.day > d - pd.Timedelta(days=28)]
        old = w[w.day <= d - pd.Timedelta(days=28)]
        g = (
            rec.groupby(["account_id", "b"])
            .quantity.sum()
            .unstack(fill_value=0)
            .reindex(columns=range(nb), fill_value=0)
        )
        g.columns = [f"u{c}" for c in g.columns]
        g["tot28"] = rec.groupby("account_id").quantity.sum()
        g["tot_prev"] = old.groupby("account_id").quantity.sum()
        g["users28"] = rec[rec.user_id >= 0].groupby("account_id").user_id.nunique()
        g["types28"] = rec.groupby("account_id").event_type_id.nunique()
        g["days_active"] = rec.groupby("account_id").day.nunique()
        g = g.reset_index()
        g["date"] = d
        rows.append(g)
    allu = pd.concat(rows, ignore_index=True)
    # days since last activity (any time before)
    last = []
    for d in dates:
        l = u[u.day <= d].groupby("account_id").day.max()
        last.append(pd.DataFrame({"account_id": l.index, "date": d, "last": l.values}))
    return allu, pd.concat(last, ignore_index=True)


def build(set_dir, dates):
    u, s = load(set_dir)
    t = terms_at(s, dates)
    allu, last = usage_at(u, dates)
    f = t.merge(allu, on=["account_id", "date"], how="left").merge(
        last, on=["account_id", "date"], how="left"
    )
    f = f.fillna({c: 0 for c in allu.columns if c not in ("account_id", "date")})
    return f, s


if __name__ == "__main__":
    set_dir, out = sys.argv[1], sys.argv[2]
    dates = list(pd.date_range("2023-01-04", "2023-12-31", freq="7D"))
    obs_dates = list(
        pd.date_range("2023-02-15", pd.Timestamp("2024-01-01") - pd.Timedelta(days=56), freq="14D")
    )
    dates = sorted(set(dates) | set(obs_dates))
    f, s = build(set_dir, dates)
    f.to_parquet(out)
    print(f.shape)
