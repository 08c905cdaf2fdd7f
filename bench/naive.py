"""The naive baseline: a stock Faust agent, one record at a time.

Run as its own process (`python -m bench.naive`, configured by BENCH_NAIVE_*
variables) with its own app id. A plain `faust.App` (not healthscore's
BatchingApp) reads the four input topics record by record, decodes each
value with orjson and updates a per-account table once per event (so one
changelog record per event, as a straightforward Faust service would).

It prints `naive received=N` every second and, once it has counted
`BENCH_NAIVE_EXPECTED` events, `naive done received=N first=T0 last=T1`
(CLOCK_MONOTONIC, shared by every process on the machine), then keeps
running until the bench stops it.
"""

from __future__ import annotations

import os
import time

import faust
import orjson


def build() -> faust.App:
    env = os.environ
    expected = int(env["BENCH_NAIVE_EXPECTED"])
    app = faust.App(
        env["BENCH_NAIVE_APP_ID"],
        broker=";".join(f"kafka://{h}" for h in env["BENCH_NAIVE_BOOTSTRAP"].split(",")),
        store="memory://",
        datadir=env["BENCH_NAIVE_DATA_DIR"],
        topic_partitions=int(env["BENCH_NAIVE_PARTITIONS"]),
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        table_standby_replicas=0,
    )
    topic = app.topic(
        *env["BENCH_NAIVE_TOPICS"].split(","),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    counts = app.Table("events-per-account", default=int)
    seen = {"received": 0, "first": 0.0, "last": 0.0, "done": False}

    @app.agent(topic)
    async def count_events(stream: faust.StreamT[bytes]) -> None:
        async for value in stream:
            event = orjson.loads(value)
            counts[event["account_id"]] += 1
            now = time.monotonic()
            if not seen["received"]:
                seen["first"] = now
            seen["received"] += 1
            seen["last"] = now
            if seen["received"] >= expected and not seen["done"]:
                seen["done"] = True
                print(
                    f"naive done received={seen['received']} first={seen['first']:.6f} "
                    f"last={seen['last']:.6f}",
                    flush=True,
                )

    @app.timer(1.0)  # type: ignore[untyped-decorator]
    async def report() -> None:
        print(f"naive received={seen['received']} at={time.monotonic():.6f}", flush=True)

    return app


def main() -> None:
    app = build()
    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
