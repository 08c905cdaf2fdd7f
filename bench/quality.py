"""Churn and health quality on a ChurnSim set, by its own protocol, streaming.

usage: python -m bench.quality [SET_DIR] [--accounts N] [--work DIR] [--config PATH]
                               [--engine backtest|score-file] [--workers N]

1. converts the set into the service's events (`to_events.py` next to the set),
   optionally only N accounts (a deterministic subsample by a hash of the id);
2. scores them with the real engine and the real `scoring.ChurnLearner`, one
   learner in event-time order, learning online from the outcomes it labels
   itself, no hindsight. `--engine backtest` (default): `healthscore backtest`
   (its Python API), in bounded memory on `--workers` processes, one daily close
   per account per day with events, the model refitted between days.
   `--engine score-file`: `score-file --cadence 1d`, every event in memory
   (~14 GB for a full set), daily ticks of silent accounts, the model refitted
   between events;
3. applies the protocol (`observations.py`: every 14 days from 2023-02-15,
   accounts live 28+ days, label = cancels within 56 days; the latest score at
   or before each observation) and prints churn AUC, health AUC, calibration,
   per-signal AUC, and the anchors: minus MRR and minus 28-day
   activity (one number), both single quantities needing no training;
4. compares with the two batch anchors of `bench/churnsim_anchors.py` (logistic
   regression and gradient boosting on 28-day counts per event type, trained with
   hindsight on the train half of the set's accounts): churn risk, health and all
   four anchors on the same observations, those of the scored accounts in the
   test half; and over both halves, each scored by the models trained on the
   other. Needs scikit-learn; without it the comparison says so and is left out.

`--scores FILE` takes the daily scores of an earlier run (its
`<tag>.backtest/base/scores.jsonl`, with the same `--accounts`) instead of
converting and scoring again.

SET_DIR defaults to ../shared/churnsim/A (looked up from the working
directory, then from the repository's parents); the tools (`to_events.py`,
`observations.py`) are taken from next to the set, else from next to A.
Needs pandas and pyarrow.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import resource
import sys
import time
import zlib
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import numpy as np
import orjson
import pandas as pd

from scoring.names import SIGNALS

DEFAULT_SET = Path("../shared/churnsim/A")


def _default_set() -> Path:
    candidates = [Path.cwd() / DEFAULT_SET]
    candidates += [p / "shared/churnsim/A" for p in Path(__file__).resolve().parents]
    for c in candidates:
        if (c / "subscriptions.parquet").is_file():
            return c.resolve()
    return DEFAULT_SET


def _module(path: Path) -> ModuleType:
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def auc(y: np.ndarray, s: np.ndarray) -> float:
    """ROC AUC (ties count half); NaN scores are left out."""
    ok = ~np.isnan(s)
    y, s = y[ok], s[ok]
    pos = int(y.sum())
    neg = len(y) - pos
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = pd.Series(s).rank(method="average").to_numpy()
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def sample(ids: pd.Series, n: int | None) -> set[int]:
    """The n accounts with the smallest crc32 of their id (all when n is None)."""
    unique = sorted(set(int(i) for i in ids))
    if n is None or n >= len(unique):
        return set(unique)
    return set(sorted(unique, key=lambda i: zlib.crc32(f"acct-{i}".encode()))[:n])


def subset(set_dir: Path, chosen: set[int], out: Path) -> Path:
    """A copy of the set with only the chosen accounts (the set itself when all are)."""
    subs = pd.read_parquet(set_dir / "subscriptions.parquet", columns=["account_id"])
    if chosen >= set(int(i) for i in subs.account_id):
        return set_dir
    out.mkdir(parents=True, exist_ok=True)
    for name, key in (
        ("usage", "account_id"),
        ("subscriptions", "account_id"),
        ("accounts", "id"),
        ("event_types", None),
    ):
        df = pd.read_parquet(set_dir / f"{name}.parquet")
        if key is not None:
            df = df[df[key].isin(chosen)]
        df.to_parquet(out / f"{name}.parquet", index=False)
    return out


def read_scores(path: Path) -> pd.DataFrame:
    rows = []
    with path.open("rb") as f:
        for line in f:
            r = orjson.loads(line)
            row = {
                "account_id": r["account_id"],
                "ts": r["ts"],
                "health": r["health"],
                "churn_risk": r.get("churn_risk"),
                "mrr": r.get("mrr"),
                "model_version": r.get("model_version", ""),
            }
            row.update({f"s_{k}": r["signals"].get(k) for k in SIGNALS})
            rows.append(row)
    df = pd.DataFrame(rows)
    df["ts"] = pd.to_datetime(df.ts, utc=True).dt.tz_convert(None)
    return df


def activity_28d(set_dir: Path, obs: pd.DataFrame) -> np.ndarray:
    """Each observation's account's usage count over the 28 days before it (one number)."""
    u = pd.read_parquet(set_dir / "usage.parquet", columns=["account_id", "day", "quantity"])
    u["day"] = pd.to_datetime(u.day)
    daily = u.groupby(["account_id", "day"]).quantity.sum()
    out = np.zeros(len(obs))
    for od, idx in obs.groupby("obs_date").groups.items():
        w = daily[
            (daily.index.get_level_values(1) > od - pd.Timedelta(days=28))
            & (daily.index.get_level_values(1) <= od)
        ]
        tot = w.groupby(level=0).sum()
        out[obs.index.get_indexer(idx)] = obs.loc[idx, "acct"].map(tot).fillna(0).to_numpy()
    return out


def calibration(y: np.ndarray, p: np.ndarray, bins: int = 5) -> list[str]:
    edges = np.quantile(p, np.linspace(0, 1, bins + 1))
    out = []
    for i in range(bins):
        sel = (p >= edges[i]) & ((p <= edges[i + 1]) if i == bins - 1 else (p < edges[i + 1]))
        if sel.any():
            out.append(
                f"[{edges[i]:.3f},{edges[i + 1]:.3f}] n={int(sel.sum())} "
                f"mean_risk={p[sel].mean():.3f} observed_56d={y[sel].mean():.3f}"
            )
    return out


def _peak_rss_mb(who: int) -> float:
    """Peak resident memory in MB of this process or of its largest waited-for child."""
    return resource.getrusage(who).ru_maxrss / 1024


def _engine_rss_mb(engine: str) -> float:
    """The scoring's peak memory: this process's for score-file (it includes the
    conversion's), the largest backtest process's otherwise (the parent holds the
    learner and the comparison, each worker its shard)."""
    if engine == "score-file":
        return _peak_rss_mb(resource.RUSAGE_SELF)
    return max(_peak_rss_mb(resource.RUSAGE_SELF), _peak_rss_mb(resource.RUSAGE_CHILDREN))


def _count_events(path: Path) -> int:
    if path.suffix.lower() in {".parquet", ".pq"}:
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 24), b""))


def _score(a: argparse.Namespace, events_path: Path, tag: str) -> tuple[Path, int, str]:
    """Score the events with the chosen engine: (daily scores JSONL, outcomes, final model).

    Outcomes: the examples learned (score-file), or the outcomes in the final model's
    track record (backtest: its newest `churn.track_record_versions` versions only)."""
    if a.engine == "score-file":
        from streams.score_file import score_file

        scores_path = a.work / f"{tag}.scores.jsonl"
        summary = score_file(events_path, scores_path, a.config, cadence=timedelta(days=1))
        return scores_path, summary.examples_learned, summary.model_version
    from streams.backtest import BacktestOptions, backtest

    out = a.work / f"{tag}.backtest"
    result = backtest(
        BacktestOptions(
            events=events_path,
            out=out,
            config=a.config,
            workers=a.workers,
            tmp_dir=a.work,
            draw=False,
        )
    )
    track = [orjson.loads(line) for line in (out / "base" / "track_record.jsonl").open("rb")]
    learned = sum(int(t.get("examples", 0) or 0) for t in track)
    return out / "base" / "scores.jsonl", learned, result.model_versions[0]


def _convert_and_score(
    a: argparse.Namespace,
    ap: argparse.ArgumentParser,
    set_dir: Path,
    chosen: set[int],
    to_events: ModuleType,
    events_path: Path,
    tag: str,
) -> Path:
    """Convert the chosen accounts (or take --events), score them, print the cost."""
    t0 = time.perf_counter()
    if a.events is not None:
        if a.accounts is not None:
            ap.error("--events scores the whole set: leave out --accounts")
        events_path = a.events.resolve()
        n_events = _count_events(events_path)
    else:
        ev = to_events.convert(subset(set_dir, chosen, a.work / f"{tag}.set"))
        to_events.write_jsonl(ev, events_path)
        n_events = len(ev)
        del ev
        gc.collect()
    convert_rss = _peak_rss_mb(resource.RUSAGE_SELF)
    t1 = time.perf_counter()
    scores_path, learned, final_model = _score(a, events_path, tag)
    t2 = time.perf_counter()
    print(
        f"set={set_dir.name} accounts={len(chosen)} events={n_events} engine={a.engine} "
        f"convert={t1 - t0:.0f}s (peak RSS {convert_rss:,.0f} MB) "
        f"score={t2 - t1:.0f}s ({n_events / max(t2 - t1, 1e-9):,.0f} events/s, "
        f"peak RSS {_engine_rss_mb(a.engine):,.0f} MB) "
        f"{'examples_learned' if a.engine == 'score-file' else 'outcomes_in_track_record'}="
        f"{learned} final_model={final_model}"
    )
    return scores_path


def _over_splits(m: pd.DataFrame, j: pd.DataFrame, covered: np.ndarray, splits: int) -> list[str]:
    """Per split of the accounts: churn risk, health and the batch models on its test half."""
    lines = []
    margins: dict[str, list[float]] = {"churn": [], "health": []}
    for k in range(splits):
        sfx = f"_{k}" if k else ""
        sel = j[f"test{sfx}"].to_numpy(dtype=bool) & covered
        y = m.label.to_numpy()[sel]
        ours = {
            "churn": auc(y, m.churn_risk.astype(float).to_numpy()[sel]),
            "health": auc(y, (100.0 - m.health.astype(float)).to_numpy()[sel]),
        }
        lr = auc(y, j[f"batch_lr{sfx}"].to_numpy(dtype=float)[sel])
        gbm = auc(y, j[f"batch_gbm{sfx}"].to_numpy(dtype=float)[sel])
        for name, v in ours.items():
            margins[name].append(v - max(lr, gbm))
        lines.append(
            f"    split {k}: obs={int(sel.sum())} pos={int(y.sum())} "
            f"churn_auc={ours['churn']:.3f} health_auc={ours['health']:.3f} "
            f"batch_lr={lr:.3f} batch_gbm={gbm:.3f}"
        )
    summary = " ".join(
        f"{name}: beats both on {sum(d > 0 for d in v)}/{splits}, "
        f"margin mean {np.mean(v):+.3f} min {min(v):+.3f};"
        for name, v in margins.items()
    )
    return [f"  over {splits} splits, against the better batch model: {summary}", *lines]


def compare_on_test_half(
    m: pd.DataFrame, set_dir: Path, observations: object, covered: np.ndarray, splits: int = 1
) -> list[str]:
    """Churn risk and health beside the four anchors on the scored observations of the
    test half (`bench.churnsim_anchors`: the batch models trained with hindsight on
    the train half of all the set's accounts, scored or not). With splits > 1, the
    same on the test half of each further split of the accounts, and how often and by
    how much the churn risk and health beat the better batch model."""
    try:
        from bench.churnsim_anchors import anchor_frame
    except ImportError as e:  # scikit-learn is a dev extra
        return [f"batch anchors left out: {e} (pip install 'healthscore[dev]')"]
    f = anchor_frame(set_dir, observations, splits)  # type: ignore[arg-type]
    t_all = f.test.to_numpy()
    y_all = f.label.to_numpy()
    f = f.rename(columns={"account_id": "acct"})
    j = m[["acct", "obs_date"]].merge(f, on=["acct", "obs_date"], how="left")
    assert len(j) == len(m) and j.label.notna().all() and (j.label.to_numpy() == m.label).all()
    sel = j.test.to_numpy(dtype=bool) & covered
    y = m.label.to_numpy()[sel]
    risk = m.churn_risk.astype(float).to_numpy()[sel]
    minus_health = (100.0 - m.health.astype(float)).to_numpy()[sel]
    parts = [
        f"churn_auc={auc(y, risk):.3f}",
        f"health_auc={auc(y, minus_health):.3f}",
    ]
    for k in ("batch_lr", "batch_gbm", "minus_mrr", "minus_activity28"):
        parts.append(f"{k}={auc(y, j[k].to_numpy(dtype=float)[sel]):.3f}")
    lines = [
        f"test half of the accounts ({int(j.loc[sel, 'acct'].nunique())} scored accounts): "
        f"obs={int(sel.sum())} pos={int(y.sum())} " + " ".join(parts)
    ]
    both = j.test.notna().to_numpy() & covered
    yb = m.label.to_numpy()[both]
    lines.append(
        f"  both halves, each scored by the batch models trained on the other: "
        f"obs={int(both.sum())} pos={int(yb.sum())} "
        f"churn_auc={auc(yb, m.churn_risk.astype(float).to_numpy()[both]):.3f} "
        f"health_auc={auc(yb, (100.0 - m.health.astype(float)).to_numpy()[both]):.3f} "
        f"batch_lr={auc(yb, j.batch_lr.to_numpy(dtype=float)[both]):.3f} "
        f"batch_gbm={auc(yb, j.batch_gbm.to_numpy(dtype=float)[both]):.3f}"
    )
    if splits > 1:
        lines += _over_splits(m, j, covered, splits)
    if len(j) < len(f):
        lines.append(
            f"  batch anchors on the whole set's test half: obs={int(t_all.sum())} "
            f"pos={int(y_all[t_all].sum())} "
            f"batch_lr={auc(y_all[t_all], f.batch_lr.to_numpy()[t_all]):.3f} "
            f"batch_gbm={auc(y_all[t_all], f.batch_gbm.to_numpy()[t_all]):.3f}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("set_dir", type=Path, nargs="?", default=None)
    ap.add_argument("--accounts", type=int, default=None, help="deterministic subsample size")
    ap.add_argument("--work", type=Path, default=Path("/tmp/healthscore-quality"))
    ap.add_argument("--config", type=Path, default=None)
    ap.add_argument("--goal", type=float, default=None, help="exit 1 when churn AUC < goal")
    ap.add_argument(
        "--engine",
        choices=("backtest", "score-file"),
        default="backtest",
        help="backtest: bounded memory (default); score-file: all events in memory",
    )
    ap.add_argument("--workers", type=int, default=2, help="backtest processes (2)")
    ap.add_argument(
        "--events",
        type=Path,
        default=None,
        help="the whole set already converted by to_events.py (.jsonl or .parquet): "
        "scored as it is instead of converting (not with --accounts)",
    )
    ap.add_argument(
        "--splits",
        type=int,
        default=1,
        help="splits of the accounts for the batch anchors' comparison (1: the anchors' "
        "own; more show how far the split moves it)",
    )
    ap.add_argument(
        "--scores",
        type=Path,
        default=None,
        help="daily scores of an earlier run of the same set and --accounts: "
        "measured as they are, nothing converted or scored",
    )
    a = ap.parse_args(argv)
    set_dir = (a.set_dir or _default_set()).resolve()
    tools = set_dir.parent
    if not (tools / "to_events.py").is_file():  # a set kept apart from the tools
        tools = _default_set().parent
    to_events = _module(tools / "to_events.py")
    observations = _module(tools / "observations.py").observations

    subs = pd.read_parquet(set_dir / "subscriptions.parquet")
    chosen = sample(subs.account_id, a.accounts)
    tag = f"{set_dir.name}-{a.accounts or 'all'}"
    a.work.mkdir(parents=True, exist_ok=True)
    events_path = a.work / f"{tag}.events.jsonl"
    if a.scores is not None:
        if a.events is not None:
            ap.error("--scores measures scores already made: leave out --events")
        scores_path = a.scores.resolve()
        print(f"set={set_dir.name} accounts={len(chosen)} scores={scores_path}")
    else:
        scores_path = _convert_and_score(a, ap, set_dir, chosen, to_events, events_path, tag)

    obs = observations(subs[subs.account_id.isin(chosen)])
    obs["acct"] = obs.account_id
    obs["account_id"] = "acct-" + obs.account_id.astype(str)
    obs["obs_date"] = pd.to_datetime(obs.obs_date)
    obs = obs.sort_values("obs_date").reset_index(drop=True)
    scores = read_scores(scores_path).sort_values("ts", kind="stable")
    m = pd.merge_asof(
        obs,
        scores,
        left_on="obs_date",
        right_on="ts",
        by="account_id",
        direction="backward",
        allow_exact_matches=True,
    )
    assert (m.ts.isna() | (m.ts <= m.obs_date)).all()
    covered = m.ts.notna().to_numpy()
    y = m.label.to_numpy()
    risk = m.churn_risk.astype(float).to_numpy()
    minus_health = (100.0 - m.health.astype(float)).to_numpy()
    churn_auc = auc(y[covered], risk[covered])
    health_auc = auc(y[covered], minus_health[covered])
    mrr_auc = auc(y[covered], -m.mrr.astype(float).to_numpy()[covered])
    act = activity_28d(set_dir, m)
    act_auc = auc(y, -act)
    print(
        f"set={set_dir.name} obs={len(m)} pos={int(y.sum())} covered={covered.mean():.3f} "
        f"churn_auc={churn_auc:.3f} health_auc={health_auc:.3f} "
        f"anchor_minus_mrr={mrr_auc:.3f} anchor_minus_activity28={act_auc:.3f}"
    )
    for line in compare_on_test_half(m, set_dir, observations, covered, a.splits):
        print(f"  {line}")
    half = (m.obs_date < pd.Timestamp("2023-07-01")).to_numpy()
    for label, part in (("obs < 2023-07-01", half), ("obs >= 2023-07-01", ~half)):
        sel = part & covered
        print(
            f"  {label}: obs={int(part.sum())} pos={int(y[part].sum())} "
            f"churn_auc={auc(y[sel], risk[sel]):.3f} "
            f"health_auc={auc(y[sel], minus_health[sel]):.3f}"
        )
    print(
        f"  calibration (service horizon is the config's, the protocol's is 56 days): "
        f"mean churn_risk={np.nanmean(risk[covered]):.3f}, observed 56-day rate={y.mean():.3f}"
    )
    for line in calibration(y[covered], risk[covered]):
        print(f"    {line}")
    versions = m.loc[covered, "model_version"].value_counts()
    print(
        f"  model versions behind the observed scores: {len(versions)}, newest "
        f"{m.loc[covered].sort_values('obs_date').model_version.iloc[-1]}"
    )
    print("  per signal, AUC of minus the signal (> 0.5: the signal says healthy when it stays):")
    for k in SIGNALS:
        v = m[f"s_{k}"].astype(float).to_numpy()[covered]
        known = ~np.isnan(v)
        if known.any():
            print(f"    {k:22s} known={known.mean():.2f} auc={auc(y[covered], -v):.3f}")
    if a.goal is not None and not churn_auc >= a.goal:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
