"""docs/scoring.md documents every signal, config section and public name."""

from __future__ import annotations

from pathlib import Path

import scoring
from scoring.config import ScoringConfig
from scoring.names import SIGNALS

DOC = (Path(__file__).resolve().parents[3] / "docs" / "scoring.md").read_text()


def test_every_signal_has_a_row() -> None:
    for signal in SIGNALS:
        assert f"| `{signal}`" in DOC, signal


def test_every_config_key_is_named() -> None:
    for key in ScoringConfig.model_fields:
        assert f"`{key}`" in DOC, key


def test_every_public_name_is_listed() -> None:
    for name in scoring.__all__:
        assert name in DOC, name
