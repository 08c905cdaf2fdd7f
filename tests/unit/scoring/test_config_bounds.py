"""Every number of the scoring config has a sane range, refused with the key's name.

The walk below visits every numeric leaf of the packaged config (mappings and lists
alike), so a number added later without a bound fails here by name."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from scoring import ConfigError, load_config
from scoring.config_load import config_from_mapping, packaged_defaults


def numeric_leaves(node: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from numeric_leaves(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from numeric_leaves(value, (*path, i))
    elif isinstance(node, int | float) and not isinstance(node, bool):
        yield path


LEAVES = sorted(numeric_leaves(packaged_defaults()), key=str)


def with_value(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(packaged_defaults())
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return data


def refused(data: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        config_from_mapping(data, "test.yaml")
    return info.value


def dotted(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path)


def test_the_walk_sees_every_section():
    sections = {path[0] for path in LEAVES}
    assert {"allowed_lateness_hours", "churn", "scorecards", "ingest", "limits", "emit"} <= sections
    assert len(LEAVES) > 100


@pytest.mark.parametrize("path", LEAVES, ids=dotted)
@pytest.mark.parametrize("value", [1e308, -1e308])
def test_every_number_has_a_bound_named_in_the_error(path, value):
    error = refused(with_value(path, value))
    assert any(problem.startswith(dotted(path) + ":") for problem in error.problems), error.problems


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("allowed_lateness_hours",), 1e308),
        (("scorecards", "default", "adoption"), 1e308),
        (("scorecards", "default", "customer_happiness"), 1e6),
        (("churn", "snapshot_interval_days"), 1e-9),
        (("churn", "snapshot_interval_days"), 0.5),
        (("churn", "horizon_days"), 1e6),
        (("churn", "prior", "usage_28d", "weight"), 1e4),
        (("churn", "prior_risk"), 1.0),
        (("churn", "buffer_examples"), 10**9),
        (("half_lives_days", "usage_short"), 1e-9),
        (("windows", "breadth_days"), 1e9),
        (("emit", "heartbeat_hours"), 1e-9),
        (("happiness", "weights", "nps"), 1e308),
        (("ingest", "max_future_skew_hours"), -1),
        (("ingest", "max_future_skew_hours"), 1e9),
        (("ingest", "new_account_max_age_days"), 0),
        (("ingest", "new_account_max_age_days"), 1e9),
    ],
    ids=lambda v: dotted(v) if isinstance(v, tuple) else str(v),
)
def test_the_issue_values_are_refused_with_a_clear_message(path, value):
    error = refused(with_value(path, value))
    text = str(error) + "\n" + "\n".join(error.problems)
    assert dotted(path) in text
    assert "test.yaml" in text


def test_the_packaged_defaults_are_within_the_bounds_and_time_sanity_is_on():
    config = load_config()
    assert config.ingest.max_future_skew_hours == 24
    assert config.ingest.new_account_max_age_days is None


def test_the_new_account_bound_can_be_set_and_turned_off():
    assert config_from_mapping(with_value(("ingest", "new_account_max_age_days"), 7)).ingest
    off = config_from_mapping(with_value(("ingest", "new_account_max_age_days"), None))
    assert off.ingest.new_account_max_age_days is None


@pytest.mark.parametrize(
    "changes",
    [
        {("allowed_lateness_hours",): 87_840},
        {("scorecards", "default", s): 1000 for s in ("adoption", "velocity", "priority")},
        {("happiness", "weights", "nps"): 1000, ("company", "weights", "margin"): 1000},
        {("churn", "horizon_days"): 366, ("churn", "snapshot_interval_days"): 1},
        {("half_lives_days", "usage_short"): 0.01, ("emit", "heartbeat_hours"): 1 / 60},
        {
            ("churn", "prior", "customer_happiness", "weight"): 10,
            ("churn", "prior", "term_days_left", "weight"): -10,
            ("churn", "prior_risk"): 0.999,
        },
    ],
    ids=lambda c: ",".join(dotted(k) for k in c),
)
def test_values_at_the_bounds_score_to_finite_numbers(changes):
    """The other side of the ranges: what they let through keeps scoring finite."""
    import math
    from pathlib import Path

    from schemas.decode import decode_event
    from scoring import default_churn_model, process

    data = packaged_defaults()
    for path, value in changes.items():
        data = _set(data, path, value)
    config = config_from_mapping(data)
    model = default_churn_model(config)
    golden = Path(__file__).resolve().parents[2] / "fixtures" / "golden_events.jsonl"
    state = None
    for line in golden.read_bytes().splitlines():
        step = process(state, decode_event(line), config, model)
        state = step.state
        assert step.score is not None
        assert math.isfinite(step.score.health) and 0 <= step.score.health <= 100
        if step.score.cancelled:  # terminal: no churn risk
            assert step.score.churn_risk is None
        else:
            assert step.score.churn_risk is not None and math.isfinite(step.score.churn_risk)


def _set(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return data
