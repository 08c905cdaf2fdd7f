"""`python -m bench` / `make bench`: throughput, latency and footprint, in one run.

Against the local Kafka broker (or KAFKA_BOOTSTRAP_SERVERS) and the embedded
ClickHouse: pre-load N events, then measure the raw consumer ceiling, the
healthscore worker end to end (and its ClickHouse writes, memory, a py-spy
profile), a naive per-record Faust baseline, event-to-score latency at half
the worker's rate, the in-process pipeline, and state bytes per account.
Writes bench/results/<timestamp>.json and latest.json, prints a table.
See docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench import inprocess, latency_run, naive_run, phases, report, sweep_run
from bench.context import Context
from bench.worker_run import BenchError

PHASES = (
    "ceiling", "worker", "clickhouse", "profile", "naive", "latency", "sweep", "pipeline", "state"
)  # fmt: skip
KAFKA_PHASES = {"ceiling", "worker", "clickhouse", "profile", "naive", "latency", "sweep"}
PRELOADED = {"ceiling", "worker", "clickhouse", "profile", "naive"}
REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="healthscore benchmark: ceiling, naive baseline, worker end to end, "
        "latency, ClickHouse, memory and state size (see docs/performance.md)",
    )
    p.add_argument("--events", type=int, default=1_000_000, help="events to pre-load (1,000,000)")
    p.add_argument("--accounts", type=int, default=10_000, help="accounts (10,000)")
    p.add_argument("--partitions", type=int, default=4, help="partitions per topic (4)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--quick",
        action="store_true",
        help="a fast sanity run: 100k events, shorter latency and profile phases",
    )
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="PHASE[,PHASE]",
        help=f"phases to skip: {', '.join(PHASES)}",
    )
    p.add_argument(
        "--span-hours",
        type=float,
        default=40.0,
        help="event-time span of the pre-loaded events; keep it under the 48 h "
        "allowed lateness (40)",
    )
    p.add_argument(
        "--compression",
        default="none",
        choices=["none", "gzip", "lz4", "zstd"],
        help="producer compression for the pre-load (none; lz4 and zstd need cramjam)",
    )
    p.add_argument("--latency-seconds", type=int, default=30)
    p.add_argument(
        "--latency-fractions",
        default="0.5,0.25",
        help="paced rates as fractions of the worker's measured rate: the steady run (on the "
        "worker phase's worker) uses the first, the onboarding run each (0.5,0.25)",
    )
    p.add_argument(
        "--worker-rate",
        type=float,
        default=None,
        help="the worker's events/s for the latency fractions when the worker phase is skipped",
    )
    p.add_argument(
        "--latency-rate",
        type=float,
        default=None,
        help="events/s for the steady and onboarding latency runs (default: the fractions "
        "of the worker's rate)",
    )
    p.add_argument("--profile-seconds", type=int, default=30)
    p.add_argument("--pipeline-events", type=int, default=100_000)
    p.add_argument("--batch-size", type=int, default=5000, help="in-process batch size (5000)")
    p.add_argument("--state-sample", type=int, default=1000, help="accounts scored in-process")
    p.add_argument("--state-events", type=int, default=200, help="events per account (200)")
    p.add_argument("--state-days", type=float, default=90.0, help="days of history (90)")
    p.add_argument(
        "--insert-rows",
        type=int,
        default=100_000,
        help="score rows for the direct ClickHouse insert test",
    )
    p.add_argument(
        "--min-rate",
        type=float,
        default=1000.0,
        help="slowest rate (events/s) a consumer phase may take before it times out",
    )
    p.add_argument(
        "--keep-data",
        action="store_true",
        help="keep the workers' ClickHouse data under the work dir (logs are always kept)",
    )
    p.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    p.add_argument("--work-dir", type=Path, default=REPO / "var" / "bench")
    args = p.parse_args(argv)
    args.latency_fractions = [float(f) for f in args.latency_fractions.split(",") if f.strip()]
    args.skip = {s.strip() for group in args.skip for s in group.split(",") if s.strip()}
    unknown = args.skip - set(PHASES)
    if unknown:
        p.error(f"unknown phase(s) {', '.join(sorted(unknown))}; phases: {', '.join(PHASES)}")
    if args.quick:
        defaults = {
            "events": 1_000_000,
            "latency_seconds": 30,
            "profile_seconds": 30,
            "pipeline_events": 100_000,
            "state_sample": 1000,
        }
        quick = {
            "events": 100_000,
            "latency_seconds": 15,
            "profile_seconds": 15,
            "pipeline_events": 30_000,
            "state_sample": 300,
        }
        for name, value in quick.items():
            if getattr(args, name) == defaults[name]:
                setattr(args, name, value)
    return args


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwind: stop the worker and the broker this run started


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    t0 = time.monotonic()
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    work = (args.work_dir / stamp).resolve()
    work.mkdir(parents=True, exist_ok=True)

    def say(message: str) -> None:
        print(f"[bench {time.monotonic() - t0:6.0f}s] {message}", file=sys.stderr, flush=True)

    ctx = Context(args, work, say)
    ctx.results.update(
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        command="python -m bench " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        machine=report.machine(),
        params={
            k: (sorted(v) if isinstance(v, set) else str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
        },
        work_dir=str(work),
        errors={},
    )
    wanted = [p for p in PHASES if p not in args.skip]

    def attempt(name: str, fn: Callable[[Context], None]) -> bool:
        say(f"== {name}")
        started = time.monotonic()
        try:
            fn(ctx)
            return True
        except Exception as exc:  # one failed phase must not lose the others
            detail = str(exc) if isinstance(exc, BenchError) else traceback.format_exc()
            ctx.results["errors"][name] = detail
            say(f"{name} FAILED: {detail}")
            return False
        finally:
            ctx.results.setdefault("phase_seconds", {})[name] = round(time.monotonic() - started, 1)

    interrupted = False
    try:
        _run_phases(ctx, wanted, attempt, say)
    except KeyboardInterrupt:  # SIGTERM or Ctrl-C: still write what was measured
        interrupted = True
        ctx.results["errors"]["interrupted"] = "the run was interrupted; results are partial"
    ctx.results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    ctx.results["total_seconds"] = round(time.monotonic() - t0, 1)
    ctx.results["machine"]["load_average_at_end"] = list(os.getloadavg())
    ctx.results["targets"] = report.evaluate_targets(ctx.results)
    path = report.write(ctx.results, args.results)
    if not args.keep_data:  # hundreds of MB per run; the logs and profiles stay
        for data in work.glob("*/chdb"):
            shutil.rmtree(data, ignore_errors=True)
    print(report.table(ctx.results))
    print(f"\nresults: {path} (and {args.results / 'latest.json'}); logs under {work}")
    return 130 if interrupted else 1 if ctx.results["errors"] else 0


def _run_phases(
    ctx: Context,
    wanted: list[str],
    attempt: Callable[[str, Callable[[Context], None]], bool],
    say: Callable[[str], None],
) -> None:
    args = ctx.args
    attempt("generate", phases.generate)
    if KAFKA_PHASES & set(wanted):
        from devtools.local_kafka import broker_from_env_or_local, kafka_version

        external = bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip())
        ctx.results["kafka_version"] = "external broker" if external else kafka_version()
        say("starting the local Kafka broker" if not external else "using KAFKA_BOOTSTRAP_SERVERS")
        with broker_from_env_or_local(partitions=args.partitions) as bootstrap:
            ctx.bootstrap = bootstrap
            loaded = PRELOADED & set(wanted) and attempt("preload", phases.preload)
            steps = [
                ("ceiling", phases.ceiling),
                ("worker", phases.worker),
                ("profile", phases.profile_worker),
                ("naive", naive_run.naive),
            ]
            for name, fn in steps:
                if name not in wanted:
                    continue
                if not loaded:
                    ctx.results["errors"][name] = "skipped: the pre-load failed"
                    continue
                attempt(name, fn)
            if "latency" in wanted:  # the steady run is the worker phase's (see phases.worker)
                attempt("onboarding", latency_run.onboarding_phase)
            if "sweep" in wanted:  # the clock's daily sweep under paced load
                attempt("sweep", sweep_run.sweep_phase)
    if "pipeline" in wanted:
        attempt("pipeline", inprocess.pipeline)
    if "state" in wanted:
        attempt("state", inprocess.state)


if __name__ == "__main__":
    sys.exit(main())
