"""The optional extras, and the error that names the one a command is missing.

The worker needs none of them. Parquet files need pyarrow (`parquet`), the demo's and
the backtest's charts matplotlib (`demo`), publishing to Grafana grafana-client
(`grafana`); `pip install 'healthscore[dev]'` installs them all.
"""

from __future__ import annotations

import importlib

from streams.errors import StreamsError

#: importable module -> (distribution, extra that installs it)
EXTRAS = {
    "pyarrow": ("pyarrow", "parquet"),
    "matplotlib": ("matplotlib", "demo"),
    "grafana_client": ("grafana-client", "grafana"),
}


class MissingExtra(StreamsError):
    """A command needs a package of an optional extra that is not installed."""

    def __init__(self, module: str, purpose: str) -> None:
        dist, extra = EXTRAS[module]
        super().__init__(
            f"{purpose} needs {dist}, which comes with healthscore's {extra!r} extra: "
            f"pip install 'healthscore[{extra}]'"
        )
        self.extra = extra


def require(module: str, purpose: str) -> None:
    """Raise `MissingExtra` unless `module` (a key of `EXTRAS`) can be imported."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(module, purpose) from exc
