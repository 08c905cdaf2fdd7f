"""What the phases share: the options, the broker, the pre-loaded events, the results."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.events import EventStream
from schemas.events import Family

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Context:
    args: Any
    work: Path
    say: Callable[[str], None]
    bootstrap: str = ""
    prefix: str = ""
    topics: dict[Family, str] = field(default_factory=dict)
    events: list[tuple[Family, bytes, bytes]] = field(default_factory=list)
    stream: EventStream | None = None  # the generator of `events`, to continue it
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def phases(self) -> dict[str, Any]:
        return self.results.setdefault("phases", {})  # type: ignore[no-any-return]

    def worker_env(self, name: str, prefix: str | None = None) -> tuple[dict[str, str], Path]:
        """Env for a fresh worker: its own app id (consumer group) and data dir."""
        run = uuid.uuid4().hex[:6]
        data = self.work / name
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "HEALTHSCORE_DATA_DIR": str(data),
            "HEALTHSCORE_TOPIC_PREFIX": prefix or self.prefix,
            "HEALTHSCORE_APP_ID": f"bench-{name}-{run}",
            "HEALTHSCORE_PARTITIONS": str(self.args.partitions),
            "HEALTHSCORE_LOG_LEVEL": "INFO",
        }
        return env, data

    def timeout_for(self, events: int) -> float:
        """Generous: assumes at least `min_rate` events/s, plus start-up."""
        return 120.0 + events / float(self.args.min_rate)
