"""The worker runs without the optional extras; a command that needs one names it.

Each case runs `healthscore` in a child process where the extra's modules cannot be
imported (as if never installed), so nothing this test process imported hides them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXTRAS = {"demo": ["matplotlib"], "parquet": ["pyarrow"], "grafana": ["grafana_client"]}
ALL = [m for modules in EXTRAS.values() for m in modules]

RUN = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None  # `import name` raises ImportError, as when not installed
{body}
"""


def _run(body: str, blocked: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUN.format(blocked=blocked, body=body)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def _cli(argv: list[str], blocked: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return _run(f"from healthscore.cli import main\nsys.exit(main({argv!r}))", blocked, cwd)


def test_the_worker_imports_and_its_help_runs_without_any_extra(tmp_path: Path) -> None:
    body = (
        "import streams.worker, streams.app, streams.agents, streams.sinks\n"
        f"loaded = sorted(m for m in {ALL!r} if sys.modules.get(m) is not None)\n"
        "assert not loaded, loaded\n"
        "from healthscore.cli import main\n"
        "sys.exit(main(['worker', '--help']))"
    )
    done = _run(body, ALL, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "usage: healthscore worker" in done.stdout


@pytest.mark.parametrize(
    ("extra", "argv"),
    [
        ("parquet", ["generate", "events.parquet", "--accounts", "2", "--days", "2"]),
        ("demo", ["demo", "--accounts", "2", "--days", "2", "--out", "demo"]),
        (
            "grafana",
            [
                "grafana",
                "publish",
                "--url",
                "http://127.0.0.1:9",
                "--token",
                "t",
                "--webhook-url",
                "http://127.0.0.1:9/hook",
            ],
        ),
    ],
)
def test_a_command_missing_its_extra_says_which_to_install(
    tmp_path: Path, extra: str, argv: list[str]
) -> None:
    done = _cli(argv, EXTRAS[extra], tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert f"healthscore[{extra}]" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_backtest_missing_pyarrow_or_matplotlib_names_the_extra(tmp_path: Path) -> None:
    (tmp_path / "events.parquet").write_bytes(b"")
    (tmp_path / "events.jsonl").write_text("")
    cases = [
        ("parquet", ["backtest", "events.parquet", "--no-charts", "--out", "a"]),
        ("demo", ["backtest", "events.jsonl", "--out", "b"]),
    ]
    for extra, argv in cases:
        done = _cli(argv, EXTRAS[extra], tmp_path)
        assert done.returncode == 2, (argv, done.stdout, done.stderr)
        assert f"healthscore[{extra}]" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
        assert not (tmp_path / argv[-1]).exists(), "refused before any work"
