"""The scoring config: packaged defaults, overrides, and errors that name the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from scoring import ConfigError, load_config
from scoring.config_load import config_from_mapping, packaged_defaults
from scoring.names import SIGNALS


def test_packaged_config_loads_with_a_version_and_both_scorecards() -> None:
    config = load_config()
    assert config.version
    assert {"default", "enterprise"} <= set(config.scorecards)
    assert config.churn.horizon_days == 90
    assert config.allowed_lateness == timedelta(hours=config.allowed_lateness_hours)
    assert len(config.scorecard_for("enterprise").weights) == len(SIGNALS)


def test_unknown_segment_uses_the_default_scorecard() -> None:
    config = load_config()
    assert config.scorecard_for("no-such-segment") is config.scorecards["default"]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scoring.yaml"
    path.write_text(text)
    return path


def test_a_custom_file_overrides_only_what_it_names(tmp_path: Path) -> None:
    path = _write(tmp_path, "version: custom-1\nhealth: {green_at: 80}\n")
    config = load_config(path)
    assert config.version == "custom-1"
    assert config.health.green_at == 80
    assert config.health.red_below == load_config().health.red_below


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("health: {green_at: 80}\n", "must set its own `version`"),
        ("version: x\nusage: {max_featres: 3}\n", "usage.max_featres: unknown key"),
        ("version: x\nscorecards: {default: {adoption: -1}}\n", "scorecards.default.adoption"),
        ("version: x\nhealth: {green_at: 30}\n", "red_below (40.0) must be below green_at (30.0)"),
        ("version: x\nhalf_lives_days: {usage_short: 0}\n", "half_lives_days.usage_short"),
        ("version: x\nhappiness: {band_thresholds: [0.5, 0.1, 0.2, 0.6]}\n", "strictly ascending"),
        ("version: x\nshadow_scorecard: nope\n", "shadow_scorecard 'nope' is not in scorecards"),
        ("version: x\nchurn: {snapshot_interval_days: 200}\n", "must not exceed horizon_days"),
        ("version: x\ntiers: {want_to_have_arr: 1.0e9}\n", "want_to_have_arr must be below"),
        ("version: x\nscorecards: {default: {adoption: many}}\n", "scorecards.default.adoption"),
        ("- just\n- a list\n", "top level must be a mapping"),
        ("version: [\n", "not valid YAML"),
    ],
)
def test_invalid_configs_say_which_key_and_what_is_wrong(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, text))
    assert expected in str(info.value)
    assert str(tmp_path) in str(info.value)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_a_missing_key_is_named() -> None:
    data = packaged_defaults()
    del data["churn"]["prior_strength"]
    with pytest.raises(ConfigError) as info:
        config_from_mapping(data)
    assert "churn.prior_strength: required key is missing" in info.value.problems


def test_config_is_frozen() -> None:
    config = load_config()
    with pytest.raises(ValueError):
        config.version = "other"  # type: ignore[misc]
