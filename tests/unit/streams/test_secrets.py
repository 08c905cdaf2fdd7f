"""Issue 9, security: secrets never reach logs or output, may come from files, and SQL
takes values only as parameters.

The secrets are random per test run, so finding one in captured output can only mean it
leaked. What is covered, honestly:

* `Settings`: `safe_summary()`, `repr`/`str` and `model_dump_json()` with every secret set;
* secret files in `HEALTHSCORE_SECRETS_DIR` (one per variable) are read;
* the real `healthscore worker` process (DEBUG logging, SASL_PLAINTEXT credentials, a
  webhook URL) against a Kafka port nobody listens on, for a few seconds: its whole output;
* `healthscore migrate` with a `CLICKHOUSE_URL` holding credentials, against a closed
  port, through all its connection retries: stdout, stderr and logs;
* `healthscore grafana` with `GRAFANA_TOKEN` against a local HTTP stub that refuses it
  (401) and one that fails (500): the token is sent, and never printed or logged.

Not covered: what a *reachable* Kafka broker or ClickHouse server would make the
libraries log, and log lines that only occur while events flow (alerts posted to the
webhook are covered by tests/unit/streams/test_webhook.py, not here).

The SQL check is static (AST): see `test_sql_in_streams_interpolates_only_identifiers`.
"""

from __future__ import annotations

import ast
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from streams.settings import load_settings

ROOT = Path(__file__).resolve().parents[3]
STREAMS = ROOT / "streams"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def secrets() -> dict[str, str]:
    tag = uuid.uuid4().hex[:12]
    return {
        "KAFKA_SASL_PASSWORD": f"kafka-pw-{tag}",
        "CLICKHOUSE_PASSWORD": f"ch-pw-{tag}",
        "CLICKHOUSE_URL_PASSWORD": f"ch-url-pw-{tag}",
        "WEBHOOK_TOKEN": f"wh-{tag}",
        "GRAFANA_TOKEN": f"glsa_{tag}",
    }


def _env(secrets: dict[str, str], port: int) -> dict[str, str]:
    return {
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_USERNAME": "hs-user",
        "KAFKA_SASL_PASSWORD": secrets["KAFKA_SASL_PASSWORD"],
        "CLICKHOUSE_URL": f"http://ch-user:{secrets['CLICKHOUSE_URL_PASSWORD']}@127.0.0.1:{port}",
        "CLICKHOUSE_USER": "ch-user",
        "CLICKHOUSE_PASSWORD": secrets["CLICKHOUSE_PASSWORD"],
        "HEALTHSCORE_ALERT_WEBHOOK_URL": (
            f"http://127.0.0.1:{port}/services/{secrets['WEBHOOK_TOKEN']}"
        ),
        "GRAFANA_TOKEN": secrets["GRAFANA_TOKEN"],
    }


def _assert_no_secret(text: str, secrets: dict[str, str], where: str) -> None:
    leaked = [name for name, value in secrets.items() if value in text]
    assert not leaked, f"{where} shows {leaked}:\n{text[-3000:]}"


def test_settings_summary_repr_and_dump_never_show_a_secret(monkeypatch, secrets):
    for key, value in _env(secrets, 9).items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    assert settings.kafka_sasl_password is not None  # the secrets were really read
    assert settings.kafka_sasl_password.get_secret_value() == secrets["KAFKA_SASL_PASSWORD"]
    summary = settings.safe_summary()
    for text, where in [
        (str(summary), "safe_summary()"),
        (repr(settings), "repr(settings)"),
        (str(settings), "str(settings)"),
        (settings.model_dump_json(), "model_dump_json()"),
    ]:
        _assert_no_secret(text, secrets, where)
    # the redacted URL still says where ClickHouse is, and as whom
    assert summary["clickhouse"] == "http://ch-user:***@127.0.0.1:9"
    assert summary["alert_webhook"] == "set"


def test_secrets_can_come_from_files_in_the_secrets_dir(monkeypatch, tmp_path, secrets):
    env = _env(secrets, 9)
    names = [
        "KAFKA_SASL_PASSWORD",
        "CLICKHOUSE_PASSWORD",
        "CLICKHOUSE_URL",
        "HEALTHSCORE_ALERT_WEBHOOK_URL",
    ]
    for name in names:
        monkeypatch.delenv(name, raising=False)
        (tmp_path / name).write_text(env[name])
    monkeypatch.setenv("HEALTHSCORE_SECRETS_DIR", str(tmp_path))
    settings = load_settings()
    read = {
        "KAFKA_SASL_PASSWORD": settings.kafka_sasl_password,
        "CLICKHOUSE_PASSWORD": settings.clickhouse_password,
        "CLICKHOUSE_URL": settings.clickhouse_url,
        "HEALTHSCORE_ALERT_WEBHOOK_URL": settings.alert_webhook_url,
    }
    assert {k: v.get_secret_value() if v else None for k, v in read.items()} == {
        k: env[k] for k in names
    }
    _assert_no_secret(str(settings.safe_summary()) + repr(settings), secrets, "settings")


def _run_for(cmd: list[str], env: dict[str, str], seconds: float, cwd: Path) -> str:
    """Run a child for `seconds` (or until it exits), then SIGTERM/SIGKILL it; its output."""
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
    return out.decode(errors="replace")


def test_the_worker_process_never_logs_a_secret(tmp_path, secrets):
    """The real worker, DEBUG logging, SASL credentials and a webhook URL, pointed at a
    Kafka port nobody listens on (so it keeps trying and logging) and embedded ClickHouse."""
    port = _closed_port()
    env = {
        **os.environ,
        **_env(secrets, port),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
        "HEALTHSCORE_DATA_DIR": str(tmp_path),
        "HEALTHSCORE_LOG_LEVEL": "DEBUG",
        "HEALTHSCORE_SECRETS_DIR": "",
    }
    env.pop("CLICKHOUSE_URL")  # the worker's ClickHouse is embedded here; see the next test
    output = _run_for([sys.executable, "-m", "healthscore", "-v", "worker"], env, 8, ROOT)
    assert "starting worker" in output, output[-3000:]  # it ran and logged its settings
    assert "alert_webhook': 'set'" in output
    _assert_no_secret(output, secrets, "the worker's output")


def test_migrate_with_credentials_in_the_clickhouse_url_never_prints_them(
    monkeypatch, capsys, caplog, secrets
):
    from healthscore import cli
    from streams.clickhouse import client

    port = _closed_port()
    for key, value in _env(secrets, port).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("HEALTHSCORE_SECRETS_DIR", raising=False)
    monkeypatch.setattr(client.time, "sleep", lambda _s: None)  # all retries, no waiting
    caplog.set_level(logging.DEBUG)
    assert cli.main(["migrate"]) == 2
    captured = capsys.readouterr()
    text = captured.out + captured.err + caplog.text
    assert "cannot reach ClickHouse" in text, text  # the failure path really ran
    assert "ch-user:***@127.0.0.1" in text  # and says where, without the password
    _assert_no_secret(text, secrets, "healthscore migrate")


class _Grafana(BaseHTTPRequestHandler):
    status = 401
    seen: list[str] = []

    def _answer(self) -> None:
        type(self).seen.append(self.headers.get("Authorization", ""))
        body = b'{"message": "invalid API key"}'
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def grafana_stub() -> Iterator[tuple[str, type[_Grafana]]]:
    handler = type("Stub", (_Grafana,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("status", [401, 500])
def test_grafana_publish_sends_the_token_but_never_prints_it(
    monkeypatch, capsys, caplog, secrets, grafana_stub, status
):
    from healthscore import cli

    url, handler = grafana_stub
    handler.status = status
    for key, value in _env(secrets, _closed_port()).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("GRAFANA_URL", url)
    monkeypatch.setenv("GRAFANA_CLICKHOUSE_PASSWORD", secrets["CLICKHOUSE_PASSWORD"])
    caplog.set_level(logging.DEBUG)
    code = cli.main(["grafana", "publish"]) if _has_publish() else cli.main(["grafana"])
    captured = capsys.readouterr()
    text = captured.out + captured.err + caplog.text
    assert code != 0, text
    assert any(secrets["GRAFANA_TOKEN"] in h for h in handler.seen), handler.seen
    _assert_no_secret(text, secrets, f"healthscore grafana (HTTP {status})")


def _has_publish() -> bool:
    from healthscore.cli import build_parser

    try:
        build_parser().parse_args(["grafana", "publish", "--help"])
    except SystemExit as exc:
        return exc.code == 0
    return True


# --- SQL: values only as parameters ------------------------------------------------------

SQL_CALLS = {"query", "query_dicts", "command"}
# SQL keywords as this code base writes them (upper case); prose says "from", not "FROM"
SQL_WORDS = re.compile(r"\b(SELECT|INSERT|CREATE|ALTER|DROP|DELETE|FROM|WHERE|OPTIMIZE)\b")
# Expressions that may be interpolated into SQL text, each an identifier, and why it is
# safe: the database name is validated by Settings (pattern ^[A-Za-z_][A-Za-z0-9_]*$);
# `table` in devtools/demo/report.py is only ever a literal table name.
ALLOWED_IDENTIFIERS = {"db", "ch.database", "self.database", "table", "DB"}
# Python SQL text in dashboards/build is dashboard/alert query text that Grafana runs, with
# Grafana's own template variables (${var:singlequote}); Python only interpolates
# identifiers and SQL fragments built from constants there. It is not executed here.
GRAFANA = STREAMS / "grafana"


def _is_sql(text: str) -> bool:
    return SQL_WORDS.search(text) is not None


def _interpolations(tree: ast.AST) -> Iterator[tuple[int, str, str]]:
    """(line, expression, kind) for every value formatted into a SQL-looking string."""
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            literal = "".join(
                v.value
                for v in node.values
                if isinstance(v, ast.Constant) and isinstance(v.value, str)
            )
            if _is_sql(literal):
                for v in node.values:
                    if isinstance(v, ast.FormattedValue):
                        yield node.lineno, ast.unparse(v.value), "f-string"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func.value
            if (
                node.func.attr == "format"
                and isinstance(target, ast.Constant)
                and isinstance(target.value, str)
                and _is_sql(target.value)
            ):
                yield node.lineno, ast.unparse(node), "str.format"
        elif (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Mod)
            and isinstance(node.left, ast.Constant)
            and isinstance(node.left.value, str)
            and _is_sql(node.left.value)
        ):
            yield node.lineno, ast.unparse(node), "% formatting"


def test_sql_in_streams_interpolates_only_identifiers():
    """Static check over every module in streams/ outside dashboards/build: no SQL-looking
    string (f-string, str.format or %) has anything but an allowed identifier formatted
    into it, and every query/command call passes either a constant, such an f-string, or
    a variable (the client's own `sql` parameter, migration statements). What it cannot
    see: SQL assembled by concatenation across variables, or a value hidden behind an
    allowed name; the migrations substitute only `{db}`, checked below."""
    problems, calls = [], 0
    for path in sorted(STREAMS.rglob("*.py")):
        if GRAFANA in path.parents:
            continue
        tree = ast.parse(path.read_text(), str(path))
        for line, expr, kind in _interpolations(tree):
            if expr not in ALLOWED_IDENTIFIERS:
                problems.append(f"{path.relative_to(ROOT)}:{line}: {kind} interpolates {expr}")
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in SQL_CALLS
                and node.args
            ):
                calls += 1
                sql = node.args[0]
                if isinstance(sql, ast.BinOp):
                    problems.append(
                        f"{path.relative_to(ROOT)}:{node.lineno}: SQL built with an operator"
                    )
    assert calls >= 5, "the scan found too few SQL calls: is it still looking at the right code?"
    assert not problems, "\n".join(problems)


def test_the_database_identifier_is_validated_and_migrations_substitute_only_it():
    from streams.clickhouse.migrations import available
    from streams.errors import SettingsError

    for bad in ["healthscore; DROP TABLE x", "a.b", "x'--", "1abc", "db name"]:
        with pytest.raises((ValueError, SettingsError)):
            load_settings(clickhouse_database=bad)
    migrations = available()
    assert migrations
    for migration in migrations:
        others = re.findall(r"\{[^}]*\}", migration.sql.replace("{db}", ""))
        assert not others, (migration.name, others)  # `statements()` fills in only {db}
        assert all("{db}" not in s for s in migration.statements("healthscore"))


def test_the_clickhouse_client_passes_parameters_to_the_driver():
    """Values must have a way in that is not the SQL text: every wrapper takes and forwards
    `parameters`."""
    tree = ast.parse((STREAMS / "clickhouse" / "client.py").read_text())
    methods = {
        n.name: n
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef) and n.name in {"query", "query_dicts", "command"}
    }
    assert set(methods) == {"query", "query_dicts", "command"}
    for name, fn in methods.items():
        assert "parameters" in [a.arg for a in fn.args.args], name
        forwarded = [
            kw.arg
            for node in ast.walk(fn)
            if isinstance(node, ast.Call)
            for kw in node.keywords
            if kw.arg == "parameters"
        ]
        assert forwarded, f"{name} does not forward parameters to the driver"
