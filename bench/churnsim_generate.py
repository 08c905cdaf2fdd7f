"""Generate a ChurnSim data set in the format of ../shared/churnsim/A, without a database.

ChurnSim (PyPI ``fightchurn``, the simulator of Carl Gold's "Fighting Churn With
Data") normally writes each simulated customer into PostgreSQL. This script runs
the package's own ``ChurnSimulation`` unchanged, except that the three methods
that talk to the database are replaced by ones that keep the customer's account
row, subscriptions and events in memory. The random calls are the package's, in
the package's order, and the seeding is that of its ``run_churn_simulation``
entry point (``random.seed(seed)`` once, ``np.random.seed(seed)`` in each
behaviour model), so a seed gives the same set as the package's own run with the
same library versions. Set A is not reproduced bit for bit here: with fightchurn
1.2.0 and numpy 2.4, seed 42 gives A's account 0 exactly (every usage row and
term) and account 1's channel, birth date, country and first plan, but account
1's events differ from its first day on, and so does everything after it
(presumably another numpy/LAPACK build draws the customers' behaviour rates,
a multivariate normal, differently).

Output, in OUT_DIR:

* ``usage.parquet``: account_id, day, event_type_id, user_id, quantity: the
  simulator's events counted per account, day, event type and user (-1 when the
  model has no users; crm5 has users, so there it is always >= 0). Event values
  (``*_value`` behaviours) are not kept, as in set A.
* ``event_types.parquet``: event_type_id -> event_type_name, as the package
  inserts them.
* ``subscriptions.parquet``: the package's subscription rows (one per product
  per billing term): account_id, product, start_date, end_date, mrr, quantity,
  units, bill_period_months, discount.
* ``accounts.parquet``: id, channel, date_of_birth, country (null for none).

Run it with a Python that has ``fightchurn`` (it pins old dependencies, so give
it a venv of its own), pandas and pyarrow, e.g.::

    python3 -m venv .venv-churnsim
    .venv-churnsim/bin/pip install fightchurn==1.2.0 pandas pyarrow
    .venv-churnsim/bin/python bench/churnsim_generate.py OUT_DIR --seed 1

Defaults are those of set A: model crm5 (the package's conf/crm5.yaml over
conf/default.yaml), 600 initial customers, 2023-01-01 to 2024-01-01. ``--acausal
0`` turns off the random (utility-independent) churn. The script does not import
anything of this repository, so it runs from any directory. One set takes
about two minutes of CPU.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd


def load_config(
    model: str, seed: int, init_customers: int, start: str, end: str, acausal: float | None
):
    """The package's hydra config for MODEL (default.yaml, then MODEL.yaml) with overrides."""
    import fightchurn.churnsim.churnsim as cs
    from omegaconf import OmegaConf

    conf = Path(cs.__file__).parent / "conf"
    base = OmegaConf.load(conf / "default.yaml")
    own = OmegaConf.load(conf / f"{model}.yaml")
    base.pop("hydra", None)
    own.pop("defaults", None)
    cfg = OmegaConf.merge(base, own)
    cfg.model = model
    cfg.random_seed = seed
    cfg.init_customers = init_customers
    cfg.start_date = start
    cfg.end_date = end
    cfg.force = True
    cfg.dev = False
    cfg.n_parallel = 1
    cfg.live_sim = False
    if acausal is not None:
        cfg.acausal_churn = acausal
    return cfg


def fast_generate_events(self, start_date, end_date):
    """``Customer.generate_events`` of fightchurn 1.2.0 with its random calls in the same order.

    The package's version walks ``behavior_rates.iterrows()`` for every simulated
    day and builds a datetime for every event; this one reads the rows once and
    keeps only the event's day (the time of day is still drawn, to keep the random
    stream, but not used: the sets count events per day). Same numbers, several
    times faster; ``--package-events`` runs the package's own method instead.
    """
    from datetime import timedelta
    from math import ceil
    from random import randint, randrange

    from fightchurn.churnsim.customer import Customer
    from numpy import random as nprandom

    delta = end_date - start_date
    events = []
    if self.event_counts is None:
        self.reset_event_counts()
    rows = [
        (idx, r["daily_rate"], r["behavior"], r["mean_value"])
        for idx, r in self.behavior_rates.iterrows()
    ]
    limits = self.limits
    limit_counts = {b: 0 for b in limits}
    counts = self.event_counts
    has_users = self.users is not None
    poisson = nprandom.poisson
    for i in range(delta.days):
        the_date = start_date + timedelta(days=i)
        dow_multiplier = Customer.get_day_multiplier(the_date, self.args)
        if not has_users:
            todays_users = 1
        else:
            todays_users = int(round(dow_multiplier * poisson(self.users)))  # noqa: RUF046
            if "users" in limits:
                todays_users = min(todays_users, limits["users"])
        for idx, rate, behavior_name, mean_value in rows:
            new_count = int(round(dow_multiplier * poisson(rate) * todays_users))  # noqa: RUF046
            if behavior_name in limits:
                new_count = min(new_count, limits[behavior_name] - limit_counts[behavior_name])
                limit_counts[behavior_name] = limit_counts[behavior_name] + new_count
            for _ in range(0, new_count):
                randrange(24), randrange(60), randrange(60)  # the event's time of day
                user_id = 0
                if has_users:
                    user_id = randint(0, todays_users - 1)
                if mean_value is not None:
                    event_value = round(np.exp(np.random.normal(np.log(mean_value))), 2)
                    counts[idx] += event_value
                else:
                    event_value = None
                    counts[idx] += 1
                events.append((the_date, idx, user_id, event_value))
        if has_users:
            counts[-1] += todays_users
    if has_users:
        counts[-1] = int(ceil(counts[-1] / delta.days))  # noqa: RUF046
    self.events.extend(events)
    return self.event_counts


def simulate(cfg, package_events: bool = False) -> dict[str, pd.DataFrame]:
    from fightchurn.churnsim.churnsim import ChurnSimulation
    from fightchurn.churnsim.customer import Customer

    if not package_events:
        Customer.generate_events = fast_generate_events

    accounts: list[tuple] = []
    subs: list[tuple] = []
    usage: list[pd.DataFrame] = []

    class InMemorySimulation(ChurnSimulation):
        def first_sim_setup(self, force):
            self.remove_tmp_files()

        def sim_rate_debug_query(self):
            pass

        def add_customer_to_database(self, customer):
            country = None if customer.country == "None" else str(customer.country)
            accounts.append((customer.id, customer.channel, customer.date_of_birth, country))

        def customer_events_subs_to_database(self, customer):
            for s in customer.subscriptions:
                # plan, start, end, mrr, quantity, units, bill period, discount
                subs.append(
                    (
                        customer.id,
                        s[0],
                        s[1],
                        s[2],
                        float(s[3]),
                        None if s[4] is None else float(s[4]),
                        None if s[5] is None else str(s[5]),
                        int(s[6]),
                        float(s[7]),
                    )
                )
            if customer.events:
                ev = customer.events
                day = np.array(
                    [e[0] if type(e[0]) is date else e[0].date() for e in ev], dtype="datetime64[D]"
                )
                etype = np.fromiter((e[1] for e in ev), dtype=np.int64, count=len(ev))
                user = np.fromiter(
                    (-1 if e[2] is None or customer.users is None else e[2] for e in ev),
                    dtype=np.int64,
                    count=len(ev),
                )
                df = pd.DataFrame({"day": day, "event_type_id": etype, "user_id": user})
                g = df.groupby(["day", "event_type_id", "user_id"], sort=True).size()
                g = g.rename("quantity").reset_index()
                g.insert(0, "account_id", customer.id)
                usage.append(g)
            customer.clear_history()

    # as fightchurn.churnsim.churnsim.run_churn_simulation
    if cfg.random_seed is not None:
        random.seed(cfg.random_seed)
    sim = InMemorySimulation(cfg)
    names = sim.behavior_models[next(iter(sim.behavior_models))].behave_names
    sim.run_simulation(force=True)
    sim.remove_tmp_files()

    u = pd.concat(usage, ignore_index=True)
    u = u.sort_values(["account_id", "day", "event_type_id", "user_id"], kind="stable")
    u = pd.DataFrame(
        {
            "account_id": u.account_id.astype("int32").to_numpy(),
            "day": pd.to_datetime(u.day.to_numpy()).astype("datetime64[ns]"),
            "event_type_id": u.event_type_id.astype("int8").to_numpy(),
            "user_id": u.user_id.astype("int32").to_numpy(),
            "quantity": u.quantity.astype("int32").to_numpy(),
        }
    )
    event_types = pd.DataFrame(
        {
            "event_type_id": np.arange(len(names), dtype="int64"),
            "event_type_name": [str(n) for n in names],
        }
    )
    sub = pd.DataFrame(
        subs,
        columns=[
            "account_id",
            "product",
            "start_date",
            "end_date",
            "mrr",
            "quantity",
            "units",
            "bill_period_months",
            "discount",
        ],
    )
    sub["account_id"] = sub.account_id.astype("int64")
    sub["bill_period_months"] = sub.bill_period_months.astype("int64")
    acc = pd.DataFrame(accounts, columns=["id", "channel", "date_of_birth", "country"])
    acc["id"] = acc.id.astype("int64")
    acc = acc.sort_values("id").reset_index(drop=True)
    return {"usage": u, "event_types": event_types, "subscriptions": sub, "accounts": acc}


def write(tables: dict[str, pd.DataFrame], out: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        t = pa.Table.from_pandas(df, preserve_index=False)
        if name in ("subscriptions", "accounts"):
            cols = {"start_date", "end_date", "date_of_birth"}
            t = t.cast(
                pa.schema(
                    [pa.field(f.name, pa.date32()) if f.name in cols else f for f in t.schema],
                    metadata=t.schema.metadata,
                )
            )
        tmp = out / f"{name}.parquet.part"
        if name == "usage":
            pq.write_table(t, tmp, compression="zstd", row_group_size=1_000_000)
        else:
            pq.write_table(t, tmp)
        tmp.replace(out / f"{name}.parquet")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--model", default="crm5")
    ap.add_argument("--init-customers", type=int, default=600)
    ap.add_argument("--start", default="2023-01-01")
    ap.add_argument("--end", default="2024-01-01")
    ap.add_argument(
        "--acausal",
        type=float,
        default=None,
        help="random churn share per month (crm5.yaml: 0.015)",
    )
    ap.add_argument(
        "--package-events",
        action="store_true",
        help="simulate events with the package's own (slow) Customer.generate_events",
    )
    a = ap.parse_args(argv)

    # ChurnSim numbers customers through a file in the temp dir and writes copies of
    # its config under CHURN_OUT_DIR: give each run its own of both, so runs can overlap.
    work = Path(tempfile.mkdtemp(prefix="churnsim-"))
    os.environ["TMPDIR"] = str(work)
    tempfile.tempdir = str(work)
    os.environ["CHURN_OUT_DIR"] = str(work)
    t0 = time.time()
    cfg = load_config(a.model, a.seed, a.init_customers, a.start, a.end, a.acausal)
    tables = simulate(cfg, a.package_events)
    write(tables, a.out)
    s, u = tables["subscriptions"], tables["usage"]
    ends = pd.to_datetime(s.groupby("account_id").end_date.max())
    cancels = int((ends < pd.Timestamp(a.end)).sum())
    print(
        f"{a.out}: accounts={len(tables['accounts'])} cancels={cancels} "
        f"usage_rows={len(u)} subscriptions={len(s)} in {time.time() - t0:.0f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
