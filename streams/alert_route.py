"""Which alerts a destination receives: a minimum severity and a set of kinds.

The scoring core raises every alert (they all go to the `alerts` topic and the
ClickHouse `alerts` table); a destination a team reads, the webhook or the Grafana
contact point, takes only those at or above `min_severity` whose kind is in `kinds`
(None: every kind). Set with `HEALTHSCORE_ALERT_MIN_SEVERITY` and
`HEALTHSCORE_ALERT_KINDS` (`streams.settings`).
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.outputs import Severity
from scoring.alerts import KINDS

SEVERITY_ORDER: tuple[Severity, ...] = (
    Severity.LOW,
    Severity.MEDIUM,
    Severity.HIGH,
    Severity.CRITICAL,
)
"""Least severe first."""


def parse_kinds(text: str) -> frozenset[str] | None:
    """A comma-separated list of alert kinds; empty or `all`: every kind (None)."""
    names = {part.strip() for part in text.split(",") if part.strip()}
    if not names or names == {"all"}:
        return None
    unknown = sorted(names - set(KINDS))
    if unknown:
        raise ValueError(f"unknown alert kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}")
    return frozenset(names)


@dataclass(frozen=True, slots=True)
class AlertRoute:
    min_severity: Severity = Severity.LOW
    kinds: frozenset[str] | None = None
    """None: every kind."""

    def admits(self, kind: str, severity: Severity) -> bool:
        if self.kinds is not None and kind not in self.kinds:
            return False
        return SEVERITY_ORDER.index(severity) >= SEVERITY_ORDER.index(self.min_severity)

    @property
    def severities(self) -> tuple[Severity, ...]:
        """The severities admitted, least severe first."""
        return SEVERITY_ORDER[SEVERITY_ORDER.index(self.min_severity) :]

    def admitted_kinds(self) -> tuple[str, ...]:
        """The kinds admitted, in `scoring.alerts.KINDS` order."""
        return tuple(k for k in KINDS if self.kinds is None or k in self.kinds)


EVERY_ALERT = AlertRoute()
"""The default route: every severity, every kind."""
