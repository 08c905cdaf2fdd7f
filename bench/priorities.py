"""Priorities on the default demo portfolio, read back from ClickHouse (issue 19, "Done when").

usage: python -m bench.priorities [--accounts N] [--days D] [--seed S] [--out DIR]
                                  [--baseline COMMIT] [--reuse | --reuse-baseline]
                                  [--results FILE]

1. runs `healthscore demo` (a real worker process on a local Kafka broker, writing the
   embedded ClickHouse under --out) on the default portfolio: 2,000 accounts, 60 days,
   seed 7; with --baseline, runs the same demo, same events, on the code of that commit
   too (extracted with `git archive` into a temporary directory);
2. reads each run's ClickHouse back and measures:
   (a) the accounts in the top decile of MRR (MRR >= its 90th percentile over the
       latest scores) that are not must-have, and the published scores of such MRR that
       are not must-have;
   (b) tier changes per account over the run (tier transitions, the first assignment
       not counted): mean and max;
   (c) alerts per account per month (alerts / accounts / (days / 30)), per kind, per
       severity and per tier, and how many a route with each minimum severity delivers;
   (d) alerts on an account from its cancellation on (alert ts >= the event time of its
       first cancelled score);
3. prints the report and writes it to --results (bench/results/priorities.md).

Each run's ClickHouse is read in a child process: chDB holds one engine per process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SEVERITIES = ("low", "medium", "high", "critical")
TIERS = ("must_have", "want_to_have", "nice_to_have")
ISSUE_OLD_ALERTS = 7018
"""The issue's figure for the pre-issue-19 code: 7,018 alerts for 2,000 accounts, 60 days."""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- running


def run_demo(code: Path, out: Path, accounts: int, days: int, seed: int) -> float:
    """`healthscore demo` with the code under `code`, its data under `out`; seconds taken.
    The demo's progress goes to this process's stderr."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    cli = "healthscore" if (code / "healthscore" / "cli.py").exists() else "streams.cli"
    cmd = [sys.executable, "-m", cli, "demo", "--accounts", str(accounts)]
    cmd += ["--days", str(days), "--seed", str(seed), "--out", str(out)]
    started = time.monotonic()
    with (out.parent / f"{out.name}.summary.txt").open("wb") as summary:
        done = subprocess.run(cmd, cwd=code, env=env, stdout=summary, check=False)
    if done.returncode != 0:
        raise SystemExit(f"demo at {code} failed with exit code {done.returncode}; see {out}")
    return time.monotonic() - started


def extract(commit: str, into: Path) -> str:
    """The tree of `commit` under `into`; its short hash and subject."""
    tree = subprocess.run(
        ["git", "archive", commit], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(tree)) as tar:
        tar.extractall(into, filter="data")
    return subprocess.run(
        ["git", "log", "-1", "--format=%h %s", commit],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def measure_in_child(data_dir: Path, backtest: bool = False) -> dict[str, Any]:
    """`measure(data_dir)` in a child process (one chDB engine per process)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "bench.priorities", "--measure", str(data_dir)]
    cmd += ["--measure-backtest"] if backtest else []
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"reading {data_dir} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# ---------------------------------------------------------------------------- measuring


BACKTEST_RUN = "priorities"


def tables(db: str, backtest: bool) -> dict[str, str]:
    """The table expressions measured: the live tables, or one backtest run's (config base),
    where the scores are daily closes and the latest score is each account's last close."""
    if not backtest:
        return {
            "scores": f"{db}.score_history FINAL",
            "latest": f"{db}.latest_score FINAL",
            "transitions": f"{db}.transitions FINAL",
            "alerts": f"{db}.alerts FINAL",
        }
    run = f"run = '{BACKTEST_RUN}' AND config = 'base'"
    scores = f"(SELECT * FROM {db}.backtest_scores WHERE {run})"
    return {
        "scores": scores,
        "latest": f"(SELECT account_id, argMax(tier, ts) AS tier, argMax(mrr, ts) AS mrr, "
        f"argMax(churn_risk, ts) AS churn_risk FROM {scores} GROUP BY account_id)",
        "transitions": f"(SELECT * FROM {db}.backtest_transitions WHERE {run})",
        "alerts": f"(SELECT * FROM {db}.backtest_alerts WHERE {run})",
    }


def measure(data_dir: Path, backtest: bool = False) -> dict[str, Any]:
    """The figures of one run, from its ClickHouse."""
    from streams.clickhouse import connect
    from streams.settings import load_settings

    settings = load_settings(data_dir=data_dir)
    with connect(settings) as ch:
        t = tables(ch.database, backtest)

        def rows(sql: str) -> list[tuple[Any, ...]]:
            return ch.query(sql.format(**t))

        accounts = int(rows("SELECT count() FROM {latest}")[0][0])
        p90 = float(rows("SELECT quantileExact(0.9)(mrr) FROM {latest}")[0][0])
        top = rows(
            "SELECT count(), countIf(tier != 'must_have'), min(churn_risk), max(churn_risk), "
            f"countIf(churn_risk >= 0.5) FROM {{latest}} WHERE mrr >= {p90}"
        )[0]
        top_history = rows(
            f"SELECT count(), countIf(tier != 'must_have') FROM {{scores}} WHERE mrr >= {p90}"
        )[0]
        changes = dict(
            rows(
                "SELECT account_id, count() FROM {transitions} "
                "WHERE kind = 'tier' AND from_value IS NOT NULL GROUP BY account_id"
            )
        )
        change_kinds = rows(
            "SELECT from_value, to_value, count() FROM {transitions} "
            "WHERE kind = 'tier' AND from_value IS NOT NULL GROUP BY 1, 2 ORDER BY 3 DESC"
        )
        alerts = int(rows("SELECT count() FROM {alerts}")[0][0])
        by = {
            name: {
                str(k): int(n)
                for k, n in rows(f"SELECT {name}, count() FROM {{alerts}} GROUP BY 1")
            }
            for name in ("kind", "severity", "tier")
        }
        kind_severity = [
            (str(k), str(s), int(n))
            for k, s, n in rows(
                "SELECT kind, severity, count() FROM {alerts} GROUP BY 1, 2 ORDER BY 1, 2"
            )
        ]
        cancels = (
            "(SELECT account_id, min(ts) AS at FROM {scores} WHERE cancelled = 1 "
            "GROUP BY account_id)"
        )
        cancelled = rows(
            "SELECT count(), countIf(a.ts >= c.at), uniqExactIf(a.account_id, a.ts >= c.at) "
            f"FROM {cancels} AS c JOIN (SELECT account_id, ts FROM {{alerts}}) AS a "
            "USING account_id"
        )[0]
        cancelled_accounts = int(rows(f"SELECT count() FROM {cancels}")[0][0])
        after_kinds = dict(
            rows(
                "SELECT a.kind, count() FROM (SELECT account_id, kind, ts FROM {alerts}) AS a "
                f"JOIN {cancels} AS c "
                "USING account_id WHERE a.ts >= c.at GROUP BY 1"
            )
        )
    counts = list(changes.values()) + [0] * (accounts - len(changes))
    return {
        "accounts": accounts,
        "mrr_p90": p90,
        "top_decile": {
            "accounts": int(top[0]),
            "not_must_have": int(top[1]),
            "churn_risk_min": top[2],
            "churn_risk_max": top[3],
            "churn_risk_high": int(top[4]),
            "scores": int(top_history[0]),
            "scores_not_must_have": int(top_history[1]),
        },
        "tier_changes": {
            "total": sum(counts),
            "mean": sum(counts) / max(1, accounts),
            "max": max(counts, default=0),
            "accounts_changed": len(changes),
            "moves": [(str(f), str(t), int(n)) for f, t, n in change_kinds],
        },
        "alerts": {"total": alerts, **by, "kind_severity": kind_severity},
        "cancelled": {
            "accounts": cancelled_accounts,
            "alerts_on_them": int(cancelled[0]),
            "alerts_after": int(cancelled[1]),
            "accounts_alerted_after": int(cancelled[2]),
            "after_by_kind": {str(k): int(n) for k, n in after_kinds.items()},
        },
    }


# ---------------------------------------------------------------------------- report


def per_account_month(alerts: int, accounts: int, days: int) -> float:
    return alerts / max(1, accounts) / (days / 30)


def _counts(d: dict[str, int]) -> str:
    return ", ".join(f"{k} {n:,}" for k, n in sorted(d.items(), key=lambda kv: -kv[1]))


def _checks(r: dict[str, Any]) -> dict[str, bool]:
    return {
        "a": r["top_decile"]["not_must_have"] == 0,
        "b": r["tier_changes"]["mean"] < 2 and r["tier_changes"]["max"] < 2,
        "d": r["cancelled"]["alerts_after"] == 0,
    }


def _verdict(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def _section(name: str, r: dict[str, Any], days: int, old_rate: float | None) -> list[str]:
    top, tc, cz = r["top_decile"], r["tier_changes"], r["cancelled"]
    ok = _checks(r)
    rate = per_account_month(r["alerts"]["total"], r["accounts"], days)
    lines = [
        f"### {name}",
        "",
        f"- (a) MRR 90th percentile (latest scores) {r['mrr_p90']:,.0f}: {top['accounts']:,} "
        f"accounts at or above it, **{top['not_must_have']}** not must-have "
        f"({_verdict(ok['a'])}); their churn risk {top['churn_risk_min'] or 0:.2f} to "
        f"{top['churn_risk_max'] or 0:.2f} ({top['churn_risk_high']} at 0.5 or more); of every "
        f"score with such MRR, {top['scores_not_must_have']:,} of {top['scores']:,} not "
        f"must-have",
        f"- (b) tier changes per account: mean **{tc['mean']:.2f}**, max **{tc['max']}** "
        f"({tc['total']:,} changes on {tc['accounts_changed']:,} accounts; "
        f"{_verdict(ok['b'])}: fewer than 2); "
        + (", ".join(f"{f} -> {t} {c:,}" for f, t, c in tc["moves"]) or "no move"),
        f"- (c) {r['alerts']['total']:,} alerts: **{rate:.3f} per account per month**"
        + (
            f", {old_rate / max(rate, 1e-9):.2f}x below the pre-issue-19 figure "
            f"({_verdict(old_rate >= 3 * rate)}: at least 3x)"
            if old_rate is not None
            else ""
        ),
        f"- (d) {cz['accounts']:,} cancelled accounts, {cz['alerts_on_them']:,} alerts on them, "
        f"**{cz['alerts_after']}** at or after the cancellation on "
        f"{cz['accounts_alerted_after']} accounts ({_verdict(ok['d'])})"
        + (f": {_counts(cz['after_by_kind'])}" if cz["after_by_kind"] else ""),
        "",
    ]
    return lines


def report(
    runs: dict[str, dict[str, Any]],
    old_name: str | None,
    args: argparse.Namespace,
    commit: str,
    seconds: dict[str, float],
) -> str:
    """`runs`: column name -> measurements; `old_name` the column of the pre-issue-19 code."""
    days = args.days
    old = runs.get(old_name) if old_name else None
    if old is not None:
        old_rate = per_account_month(old["alerts"]["total"], old["accounts"], days)
        old_source = f"measured: the same demo on {old_name}"
    else:
        old_rate = per_account_month(ISSUE_OLD_ALERTS, 2000, 60)
        old_source = "the issue's figure, not measured here"
    issue_rate = per_account_month(ISSUE_OLD_ALERTS, 2000, 60)
    lines = [
        "# Priorities on the default demo portfolio (issue 19)",
        "",
        f"`python -m bench.priorities` (`make bench-priorities`): {args.accounts:,} accounts, "
        f"{days} days, seed {args.seed}, read back from ClickHouse. Code: {commit}.",
        "",
        "- worker: `healthscore demo`, a real worker process on a local Kafka broker writing "
        "the embedded ClickHouse (the demo produces every event at once: a backlog, which the "
        "worker reads with the four family topics aligned on event time, "
        "HEALTHSCORE_MAX_FAMILY_SKEW_SECONDS)",
        "- backtest: `healthscore backtest --clickhouse` on the same events (`healthscore "
        "generate`), every account's events in event-time order, tables `backtest_*`",
        f"- pre-issue-19 level: {old_rate:.3f} alerts per account per month ({old_source}); "
        f"the issue states {ISSUE_OLD_ALERTS:,} alerts for 2,000 accounts in 60 days, "
        f"{issue_rate:.3f}",
        "",
    ]
    lines += [f"- {name}: {sec:.0f} s" for name, sec in seconds.items()]
    lines.append("")
    for name, r in runs.items():
        lines += _section(name, r, days, None if name == old_name else old_rate)
    names = list(runs)
    lines += ["### Alerts by kind, severity and tier", ""]
    lines += ["| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]

    def row(label: str, get: Any) -> None:
        lines.append(f"| {label} | " + " | ".join(get(runs[n]) for n in names) + " |")

    def rate_of(r: dict[str, Any], n: int) -> str:
        return f"{n:,} ({per_account_month(n, r['accounts'], days):.3f})"

    row("alerts (per account per month)", lambda r: rate_of(r, r["alerts"]["total"]))
    kinds = sorted({k for r in runs.values() for k in r["alerts"]["kind"]})
    for k in kinds:
        row(f"kind {k}", lambda r, k=k: f"{r['alerts']['kind'].get(k, 0):,}")
    for s in SEVERITIES:
        row(f"severity {s}", lambda r, s=s: f"{r['alerts']['severity'].get(s, 0):,}")
    for t in TIERS:
        row(f"tier {t}", lambda r, t=t: f"{r['alerts']['tier'].get(t, 0):,}")
    for i, s in enumerate(SEVERITIES):
        row(
            f"delivered at min severity {s}",
            lambda r, i=i: rate_of(
                r, sum(r["alerts"]["severity"].get(x, 0) for x in SEVERITIES[i:])
            ),
        )
    lines += ["", "Kind x severity:", ""]
    for name, r in runs.items():
        lines.append(
            f"- {name}: " + "; ".join(f"{k} {s} {c:,}" for k, s, c in r["alerts"]["kind_severity"])
        )
    lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.priorities",
        description="Tiers, tier changes, alert volume and alerts after cancellation on the "
        "default demo portfolio, through a real worker and read back from ClickHouse "
        "(issue 19's Done-when figures).",
    )
    p.add_argument("--accounts", type=int, default=2000, help="accounts (default 2000)")
    p.add_argument("--days", type=int, default=60, help="days of history (default 60)")
    p.add_argument("--seed", type=int, default=7, help="portfolio seed (default 7)")
    p.add_argument("--out", type=Path, default=Path("var/bench-priorities"), help="data directory")
    p.add_argument(
        "--baseline",
        metavar="COMMIT",
        help="also run the same demo on this commit's code and compare (e.g. the commit "
        "before the issue 19 work); without it the issue's old figure is quoted",
    )
    p.add_argument(
        "--reuse", action="store_true", help="read the runs already under --out, run nothing"
    )
    p.add_argument(
        "--reuse-baseline",
        action="store_true",
        help="run this code, but read the baseline run already under --out",
    )
    p.add_argument(
        "--results",
        type=Path,
        default=ROOT / "bench/results/priorities.md",
        help="where to write the report (default bench/results/priorities.md)",
    )
    p.add_argument(
        "--no-backtest", action="store_true", help="skip the backtest (event-time order) run"
    )
    p.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--measure-backtest", action="store_true", help=argparse.SUPPRESS)
    return p


def run_backtest(out: Path, accounts: int, days: int, seed: int) -> float:
    """`healthscore generate` then `healthscore backtest --clickhouse` under `out`; seconds."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HEALTHSCORE_DATA_DIR": str(out)}
    events = out / "events.jsonl"
    base = [sys.executable, "-m", "healthscore"]
    started = time.monotonic()
    generate = ["generate", str(events), "--accounts", str(accounts), "--days", str(days)]
    backtest = ["backtest", str(events), "--out", str(out / "report"), "--clickhouse"]
    steps = [
        [*base, *generate, "--seed", str(seed)],
        [*base, *backtest, "--run", BACKTEST_RUN, "--replace", "--no-charts"],
    ]
    for cmd in steps:
        say("$ " + " ".join(cmd[2:]))
        if subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode != 0:
            raise SystemExit(f"{cmd[3]} failed; see above")
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.measure is not None:
        data = measure(args.measure.resolve(), backtest=args.measure_backtest)
        print(json.dumps(data, default=str))
        return 0
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(
        ["git", "log", "-1", "--format=%h %s"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    commit = commit[:100] + ("..." if len(commit) > 100 else "")
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if dirty:
        commit += " (with uncommitted changes)"
    seconds: dict[str, float] = {}
    old_name = None
    if not args.reuse:
        say(f"[1/3] the demo's worker on this code ({commit})")
        seconds["worker run"] = run_demo(ROOT, out / "now", args.accounts, args.days, args.seed)
        if not args.no_backtest:
            say("[2/3] backtest on the same events, in event-time order")
            seconds["backtest run"] = run_backtest(
                out / "backtest", args.accounts, args.days, args.seed
            )
    if args.baseline:
        with tempfile.TemporaryDirectory(prefix="healthscore-baseline-") as tmp:
            label = extract(args.baseline, Path(tmp))
            old_name = f"worker, before issue 19 ({label[:60]}{'...' if len(label) > 60 else ''})"
            if not (args.reuse or args.reuse_baseline):
                say(f"[3/3] the demo's worker on {label}")
                seconds["baseline worker run"] = run_demo(
                    Path(tmp), out / "baseline", args.accounts, args.days, args.seed
                )
    say("reading ClickHouse back")
    runs = {"worker, this code": measure_in_child(out / "now")}
    if not args.no_backtest:
        runs["backtest, this code"] = measure_in_child(out / "backtest", backtest=True)
    if old_name is not None:
        runs[old_name] = measure_in_child(out / "baseline")
    text = report(runs, old_name, args, commit, seconds)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(text)
    print(text)
    say(f"written to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
