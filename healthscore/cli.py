"""The `healthscore` command line.

It sits above every package it dispatches to (the worker in `streams`, the tools in
`devtools`, the Grafana build in `dashboards.build`), so none of them imports it. Each
subcommand imports its module when it runs, so the worker starts without the demo's,
Parquet's or Grafana's optional dependencies.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from schemas.errors import HealthscoreError


def _worker(args: argparse.Namespace) -> int:
    from streams.settings import load_settings
    from streams.worker import run_worker

    return run_worker(load_settings())


def _migrate(args: argparse.Namespace) -> int:
    from streams.clickhouse import connect, migrate
    from streams.settings import load_settings

    settings = load_settings()
    ch = connect(settings)
    ran = migrate(ch)
    where = settings.safe_summary()["clickhouse"]
    if ran:
        for m in ran:
            print(f"applied {m.version:04d}_{m.name} to {where}/{ch.database}")
    else:
        print(f"{where}/{ch.database} is up to date")
    return 0


def _model(args: argparse.Namespace) -> int:
    from streams.churn_model import model_report
    from streams.settings import load_settings

    print(model_report(load_settings(), args.version))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from devtools.demo.run import run_demo

    return run_demo(accounts=args.accounts, days=args.days, seed=args.seed, out_dir=args.out)


def _generate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from devtools.demo.export import write_events
    from devtools.demo.portfolio import generate

    n = write_events(Path(args.out), generate(args.accounts, args.days, args.seed))
    print(f"wrote {n:,} events for {args.accounts:,} accounts to {args.out}")
    return 0


def _kafka(args: argparse.Namespace) -> int:
    from devtools.local_kafka import main as kafka_main

    return kafka_main(["--partitions", str(args.partitions)])


def _schemas(args: argparse.Namespace) -> int:
    from pathlib import Path

    from schemas.jsonschema import JSON_DIR, export, stale_files

    directory = Path(args.out) if args.out else JSON_DIR
    if args.action == "check":
        stale = stale_files(directory)
        for name in stale:
            print(f"out of date: {directory / name}")
        if stale:
            print("run `make schemas` to regenerate them")
        return 1 if stale else 0
    paths = export(directory)
    print(f"wrote {len(paths)} JSON Schema files to {directory}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="healthscore",
        description="Real-time customer health scoring on Kafka and ClickHouse. "
        "Configuration comes from the environment (see README: Configuration).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("worker", help="run the stream worker (Ctrl-C to stop)")
    p.set_defaults(func=_worker)

    p = sub.add_parser("migrate", help="create or upgrade the ClickHouse tables (idempotent)")
    p.set_defaults(func=_migrate)

    p = sub.add_parser(
        "model",
        help="print the churn model workers score with, its coefficients and its track record",
    )
    p.add_argument("--version", help="show this published version's coefficients instead")
    p.set_defaults(func=_model)

    p = sub.add_parser(
        "demo", help="start local Kafka + embedded ClickHouse and score a synthetic portfolio"
    )
    p.add_argument("--accounts", type=int, default=2000, help="accounts to simulate (default 2000)")
    p.add_argument("--days", type=int, default=60, help="days of history (default 60)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument("--out", default="var/demo", help="where to keep data and logs (var/demo)")
    p.set_defaults(func=_demo)

    p = sub.add_parser("generate", help="write a synthetic portfolio's events to a file")
    p.add_argument("out", help="file to write: .jsonl, or .parquet")
    p.add_argument("--accounts", type=int, default=2000, help="accounts (default 2000)")
    p.add_argument("--days", type=int, default=60, help="days of history (default 60)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.set_defaults(func=_generate)

    from devtools import replay
    from streams import digest

    replay.build_parser(sub)
    digest.build_parser(sub)

    p = sub.add_parser("kafka", help="run a local single-node Apache Kafka broker (foreground)")
    p.add_argument("--partitions", type=int, default=4, help="default partitions (4)")
    p.set_defaults(func=_kafka)

    p = sub.add_parser("schemas", help="export or check the JSON Schema files of the wire formats")
    p.add_argument("action", choices=["export", "check"], help="write the files, or check them")
    p.add_argument("--out", help="directory (default: schemas/json in the package)")
    p.set_defaults(func=_schemas)

    from dashboards.build import publish as grafana_publish

    grafana_publish.build_parser(sub)

    from streams import backtest, score_file

    score_file.build_parser(sub)
    backtest.build_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except HealthscoreError as exc:
        print(f"healthscore: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
