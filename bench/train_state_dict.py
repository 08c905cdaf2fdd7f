"""Train the zstd dictionary that compresses account states in the state table.

    .venv/bin/python -m bench.train_state_dict      # writes streams/state_v1.zdict

Small JSON documents share their keys and structure, which a plain compressor
cannot exploit in 3 KB; a dictionary trained on typical states can (mean state
1.4 KB instead of 3.3 KB, measured by `make bench`'s state phase). The
dictionary is part of the stored format: a committed file that is never
changed, only added to under a new version (`streams.statepack`). The states
come from the scoring core over the demo portfolio (every persona) and the
benchmark's event mix, at several history lengths.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import zstandard

import scoring
from bench.state_size import measure
from devtools.demo.portfolio import generate
from schemas.decode import validate_event

OUT = Path(__file__).resolve().parents[1] / "streams" / "state_v1.zdict"


def portfolio_states(accounts: int, days: int, seed: int) -> list[bytes]:
    config = scoring.load_config(None)
    model = scoring.default_churn_model(config)
    states: dict[str, scoring.AccountState] = {}
    for data in generate(accounts=accounts, days=days, seed=seed):
        event = validate_event(data)
        states[event.account_id] = scoring.process(
            states.get(event.account_id), event, config, model
        ).state
    return [s.to_bytes() for s in states.values()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--size", type=int, default=16_384, help="dictionary bytes")
    args = parser.parse_args()
    samples: list[bytes] = []
    for days, seed in ((20, 1), (60, 2), (120, 3)):
        samples += portfolio_states(150, days, seed)
    for events, days in ((20, 10), (200, 90)):
        samples += measure(300, events, days, seed=5 + days)[1]
    dictionary = zstandard.train_dictionary(args.size, samples, threads=1)
    args.out.write_bytes(dictionary.as_bytes())
    print(f"trained on {len(samples)} states; wrote {args.out} ({args.size} bytes)")


if __name__ == "__main__":
    main()
