"""`healthscore replay FILE`: send an event file to the four topics, with progress.

Events go to their family's topic keyed by `account_id`, in file order, as
fast as possible or paced at `--rate` events per second. Records that are not
valid events are counted and reported, not sent: a topic only ever receives
what the schema accepts from this tool.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from devtools.kafka_io import create_topics
from schemas.errors import DecodeError
from schemas.events import FAMILY_BY_TYPE
from streams.score_file import read_events
from streams.settings import Settings, load_settings


def build_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "replay",
        help="send a JSONL or Parquet event file to the event topics",
        description="Send every valid event of FILE to <prefix>.<family> keyed by account_id "
        "(KAFKA_BOOTSTRAP_SERVERS, HEALTHSCORE_TOPIC_PREFIX). Invalid records are reported "
        "and skipped.",
    )
    p.add_argument("file", type=Path, help="events as JSONL (one per line) or Parquet")
    p.add_argument(
        "--rate", type=float, default=0.0, help="events per second (default: as fast as possible)"
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    sent, bad = asyncio.run(replay(args.file, settings, rate=args.rate))
    print(f"sent {sent:,} events to {settings.kafka_bootstrap_servers}; skipped {bad} invalid")
    return 0 if bad == 0 else 1


async def replay(
    path: Path, settings: Settings, rate: float = 0.0, quiet: bool = False
) -> tuple[int, int]:
    """Send the file's events; return (sent, invalid records skipped)."""
    bootstrap = settings.kafka_bootstrap_servers
    topics = settings.input_topics
    await create_topics(bootstrap, topics.values(), settings.topic_partitions)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=256 * 1024, acks="all"
    )
    await producer.start()
    sent = bad = 0
    started = time.monotonic()
    try:
        for number, item in read_events(path):
            if isinstance(item, DecodeError):
                bad += 1
                if not quiet and bad <= 5:
                    print(f"\nrecord {number}: {item}", file=sys.stderr)
                continue
            await producer.send(
                topics[FAMILY_BY_TYPE[item.type]],
                item.model_dump_json(exclude_none=True).encode(),
                key=item.account_id.encode(),
            )
            sent += 1
            if rate > 0:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            if not quiet and sent % 5000 == 0:
                elapsed = max(1e-9, time.monotonic() - started)
                print(f"\rsent {sent:,} events ({sent / elapsed:,.0f}/s)", end="", file=sys.stderr)
        await producer.flush()
    finally:
        await producer.stop()
    if not quiet:
        print("", file=sys.stderr)
    return sent, bad
