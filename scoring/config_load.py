"""Loading a scoring config from YAML, with errors that name the key.

`load_config(None)` reads the packaged `default_config.yaml`. A custom file
is merged over it key by key (mappings merge, anything else replaces), so a
file may override only what it changes; it must set its own `version`, since
the version stamped on outputs has to say which config produced them.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from scoring.config import ScoringConfig
from scoring.errors import ConfigError

DEFAULT_CONFIG_NAME = "default_config.yaml"


def _read_yaml(text: str, where: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the top level must be a mapping, got {type(data).__name__}")
    return data


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        old = out.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            out[key] = _merge(old, value)
        else:
            out[key] = value
    return out


def _describe(error: Mapping[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key (typo? see default_config.yaml for the known keys)"
    if error["type"] == "missing":
        return f"{key}: required key is missing"
    value = error.get("input")
    if isinstance(value, Mapping | list):
        return f"{key}: {message}"
    return f"{key}: {message} (got {value!r})"


def packaged_defaults() -> dict[str, Any]:
    """The packaged default config as plain data."""
    text = resources.files("scoring").joinpath(DEFAULT_CONFIG_NAME).read_text("utf-8")
    return _read_yaml(text, DEFAULT_CONFIG_NAME)


def config_from_mapping(data: Mapping[str, Any], where: str = "config") -> ScoringConfig:
    """Validate plain data (already merged) into a ScoringConfig."""
    try:
        return ScoringConfig.model_validate(data)
    except ValidationError as exc:
        problems = tuple(_describe(e) for e in exc.errors())
        raise ConfigError(f"{where}: invalid scoring config", problems) from None


def load_config(path: str | Path | None = None) -> ScoringConfig:
    """Load and validate a scoring config; None means the packaged defaults."""
    defaults = packaged_defaults()
    if path is None:
        return config_from_mapping(defaults, DEFAULT_CONFIG_NAME)
    where = str(path)
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read scoring config: {exc.strerror or exc}") from exc
    override = _read_yaml(text, where)
    if "version" not in override:
        raise ConfigError(f"{where}: a custom scoring config must set its own `version`")
    return config_from_mapping(_merge(defaults, override), where)
