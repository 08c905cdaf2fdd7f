from __future__ import annotations

import pytest

from scoring import ChurnModel, ScoringConfig, default_churn_model, load_config


@pytest.fixture(scope="session")
def config() -> ScoringConfig:
    return load_config()


@pytest.fixture(scope="session")
def model(config: ScoringConfig) -> ChurnModel:
    return default_churn_model(config)
