"""The surface the streams layer calls, and the purity of the core."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import scoring

PUBLIC = {
    "AccountState",
    "CalibrationBin",
    "ChurnLearner",
    "ChurnModel",
    "ConfigError",
    "ConflictingDuplicateError",
    "LabelledExample",
    "ScoringConfig",
    "ScoringError",
    "ShadowScore",
    "StepResult",
    "TooLateError",
    "TrackRecordRow",
    "auc_fell",
    "default_churn_model",
    "example_from_bytes",
    "example_to_bytes",
    "file_outcomes",
    "is_too_late",
    "load_config",
    "new_state",
    "process",
    "process_shadow",
    "score_state",
    "settle",
    "shadow_score",
    "tick",
    "track_record",
}


def test_all_lists_exactly_the_public_api() -> None:
    assert set(scoring.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(scoring, name) is not None


def test_error_tree() -> None:
    from schemas.errors import HealthscoreError

    assert issubclass(scoring.ScoringError, HealthscoreError)
    assert issubclass(scoring.ConfigError, scoring.ScoringError)
    assert issubclass(scoring.TooLateError, scoring.ScoringError)
    assert issubclass(scoring.ConflictingDuplicateError, scoring.ScoringError)


SOURCES = sorted(Path(scoring.__file__).parent.rglob("*.py"))
FORBIDDEN_MODULES = {
    "faust",
    "aiokafka",
    "clickhouse_connect",
    "chdb",
    "streams",
    "os",
    "time",
    "random",
    "secrets",
    "uuid",
    "socket",
    "subprocess",
    "asyncio",
}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "getenv", "environ"}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_scoring_imports_no_io_clock_or_randomness(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            if isinstance(node, ast.Attribute):
                assert node.attr not in FORBIDDEN_CALLS, (
                    f"{path.name}:{node.lineno} uses .{node.attr}"
                )
            continue
        for name in names:
            assert name.split(".")[0] not in FORBIDDEN_MODULES, f"{path.name} imports {name}"


def test_the_package_ships_its_default_config() -> None:
    assert (Path(scoring.__file__).parent / "default_config.yaml").is_file()
