"""Shared fixtures: the real Kafka broker and a fresh embedded ClickHouse.

Nothing here skips. Under CI (CI=true) as anywhere else, a broker that cannot
start fails the tests that need it, with the broker log's path in the error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    from devtools.local_kafka import broker_from_env_or_local

    with broker_from_env_or_local() as bootstrap:
        yield bootstrap


@pytest.fixture
def ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")
