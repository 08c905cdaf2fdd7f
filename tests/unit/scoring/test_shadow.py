"""shadow_score: the shadow scorecard's health beside a live score, from the same state."""

from __future__ import annotations

import pytest

from schemas.outputs import ScoreRecord
from scoring import (
    AccountState,
    ChurnModel,
    ScoringConfig,
    ScoringError,
    process_shadow,
    shadow_score,
)
from scoring.config_load import config_from_mapping, packaged_defaults
from tests.unit.scoring.factory import Events, run
from tests.unit.scoring.scripts import healthy


def _live(
    events: Events, config: ScoringConfig, model: ChurnModel
) -> tuple[AccountState, ScoreRecord]:
    """The state after the last event and that step's score."""
    state, steps = run(events, config, model)
    score = steps[-1].score
    assert state is not None and score is not None
    return state, score


@pytest.fixture
def shadow_config() -> ScoringConfig:
    return config_from_mapping({**packaged_defaults(), "shadow_scorecard": "enterprise"})


def test_no_shadow_scorecard_no_shadow(config: ScoringConfig, model: ChurnModel) -> None:
    state, score = _live(healthy(days=10), config, model)
    assert shadow_score(state, score, config, model) is None


@pytest.mark.parametrize("days", [3, 10, 40])
def test_the_shadow_is_what_process_shadow_scores_beside_the_live_values(
    shadow_config: ScoringConfig, model: ChurnModel, days: int
) -> None:
    state, score = _live(healthy(days=days), shadow_config, model)
    shadow = shadow_score(state, score, shadow_config, model)
    reference = process_shadow(state, shadow_config, model)
    assert shadow is not None and reference is not None
    assert (shadow.health, shadow.band, shadow.coverage) == (
        reference.health, reference.band, reference.coverage,
    )  # fmt: skip
    assert shadow.config_version == reference.config_version
    assert (shadow.account_id, shadow.ts, shadow.event_id, shadow.events_applied) == (
        score.account_id, score.ts, score.event_id, score.events_applied,
    )  # fmt: skip
    assert (shadow.live_health, shadow.live_band) == (score.health, score.band)
    assert shadow.health != score.health  # the enterprise card weighs differently


def test_the_state_must_be_the_live_scores(shadow_config: ScoringConfig, model: ChurnModel) -> None:
    _, score = _live(healthy(days=5), shadow_config, model)
    other, _ = _live(healthy(days=5, account="acct-other"), shadow_config, model)
    with pytest.raises(ScoringError):
        shadow_score(other, score, shadow_config, model)
