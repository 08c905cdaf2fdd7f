"""`healthscore grafana publish`: upsert everything into a running Grafana.

Idempotent: each resource has a pinned uid and is looked up first, then
created or updated, never duplicated (see `dashboards.build.upsert`). This
module is the command line; it imports grafana-client only when it runs, so
hooking it into `healthscore` costs the other commands nothing.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from dashboards.build import alerting, datasource
from dashboards.build.errors import GrafanaError
from dashboards.build.target import Target
from dashboards.build.variables import DEFAULT_DATABASE
from schemas.outputs import Severity
from streams.alert_route import AlertRoute, parse_kinds


def publish(target: Target) -> list[str]:
    """Publish and return one line per resource saying what happened."""
    from dashboards.build.upsert import Publisher  # grafana-client: only when publishing

    return Publisher(target).run()


# --- command line ----------------------------------------------------------------


def build_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `grafana publish` to the `healthscore` command's subparsers."""
    grafana: argparse.ArgumentParser = subparsers.add_parser(
        "grafana", help="publish boards and alert rules to Grafana"
    )
    actions = grafana.add_subparsers(dest="grafana_command", required=True, metavar="ACTION")
    p = actions.add_parser(
        "publish",
        help="upsert folder, data source, dashboards, alert rules and contact point",
        description="Idempotently upsert healthscore's folder, ClickHouse data source, "
        "dashboards, alert rules, contact point and notification route into a running "
        f"Grafana. The data source password comes from ${datasource.PASSWORD_ENV}.",
    )
    p.add_argument("--url", help="Grafana URL (default: $GRAFANA_URL)")
    p.add_argument("--token", help="service account token (default: $GRAFANA_TOKEN)")
    p.add_argument(
        "--webhook-url",
        help=f"where alerts are sent (default: ${alerting.WEBHOOK_ENV})",
    )
    p.add_argument(
        "--clickhouse-url",
        default=datasource.COMPOSE_URL,
        help="ClickHouse as Grafana reaches it: http(s)://host:port or clickhouse://host:9000 "
        f"(default {datasource.COMPOSE_URL})",
    )
    p.add_argument(
        "--database", default=DEFAULT_DATABASE, help=f"ClickHouse database ({DEFAULT_DATABASE})"
    )
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per request (10)")
    add_route_arguments(p)
    p.set_defaults(func=run)
    return grafana


def add_route_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--min-severity",
        choices=[s.value for s in Severity],
        help="least severity that reaches the contact point "
        "(default: $HEALTHSCORE_ALERT_MIN_SEVERITY, else low)",
    )
    parser.add_argument(
        "--kinds",
        help="comma-separated alert kinds that reach the contact point; the other rules are "
        "paused (default: $HEALTHSCORE_ALERT_KINDS, else all)",
    )


def route_from(args: argparse.Namespace, environ: dict[str, str] | None = None) -> AlertRoute:
    """The route of the flags, else of the environment names the settings read."""
    env = os.environ if environ is None else environ
    severity = args.min_severity or env.get("HEALTHSCORE_ALERT_MIN_SEVERITY") or "low"
    kinds = args.kinds if args.kinds is not None else env.get("HEALTHSCORE_ALERT_KINDS", "all")
    try:
        return AlertRoute(Severity(severity), parse_kinds(kinds))
    except ValueError as exc:
        raise GrafanaError(str(exc)) from exc


def run(args: argparse.Namespace) -> int:
    url = args.url or os.environ.get("GRAFANA_URL")
    if not url:
        raise GrafanaError("no Grafana URL: pass --url or set GRAFANA_URL")
    webhook = args.webhook_url or os.environ.get(alerting.WEBHOOK_ENV)
    if not webhook:
        raise GrafanaError(f"no webhook URL: pass --webhook-url or set {alerting.WEBHOOK_ENV}")
    target = Target(
        url=url,
        token=args.token or os.environ.get("GRAFANA_TOKEN"),
        webhook_url=webhook,
        clickhouse_url=args.clickhouse_url,
        database=args.database,
        clickhouse_password=os.environ.get(datasource.PASSWORD_ENV),
        timeout=args.timeout,
        route=route_from(args),
    )
    for line in publish(target):
        print(line)
    return 0
