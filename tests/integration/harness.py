"""Test harness: a real worker process on the real broker and embedded ClickHouse."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from devtools.kafka_io import create_topics, read_topic
from devtools.runner import WorkerProcess
from schemas.events import Family
from streams.clickhouse import ClickHouse, connect
from streams.settings import Settings, load_settings


@dataclass
class Pipeline:
    """One isolated pipeline: its own topics, consumer group and data directory."""

    bootstrap: str
    data_dir: Path
    settings: Settings
    env: dict[str, str]

    @classmethod
    def create(cls, bootstrap: str, data_dir: Path, partitions: int = 4, **env: str) -> Pipeline:
        run = uuid.uuid4().hex[:8]
        full_env = {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "HEALTHSCORE_DATA_DIR": str(data_dir),
            "HEALTHSCORE_TOPIC_PREFIX": f"t{run}",
            "HEALTHSCORE_APP_ID": f"hs-test-{run}",
            "HEALTHSCORE_PARTITIONS": str(partitions),
            "CLICKHOUSE_FLUSH_SECONDS": "0.2",
            **env,
        }
        settings = load_settings(
            kafka_bootstrap_servers=bootstrap,
            data_dir=data_dir,
            topic_prefix=f"t{run}",
            app_id=f"hs-test-{run}",
            topic_partitions=partitions,
        )
        pipeline = cls(bootstrap, data_dir, settings, full_env)
        asyncio.run(create_topics(bootstrap, list(settings.input_topics.values()), partitions))
        return pipeline

    def worker(self, name: str = "worker") -> WorkerProcess:
        return WorkerProcess(self.env, self.data_dir / f"{name}.log")

    def topic(self, family: Family) -> str:
        return self.settings.input_topics[family]

    def read_output(
        self,
        name: str,
        until: Callable[[list[dict[str, Any]]], bool],
        timeout: float = 90,
    ) -> list[dict[str, Any]]:
        def done(messages: list[tuple[bytes | None, bytes]]) -> bool:
            return until([orjson.loads(v) for _, v in messages])

        messages = asyncio.run(read_topic(self.bootstrap, self.settings.topic(name), done, timeout))
        return [orjson.loads(v) for _, v in messages]

    def clickhouse(self) -> ClickHouse:
        """Open the embedded ClickHouse (only once the worker has stopped)."""
        return connect(self.settings)


def latest_by_account(scores: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for s in scores:
        current = latest.get(s["account_id"])
        if current is None or s["events_applied"] >= current["events_applied"]:
            latest[s["account_id"]] = s
    return latest
