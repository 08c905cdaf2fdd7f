"""Errors raised by the scoring core.

    HealthscoreError (schemas.errors)
    └── ScoringError                 anything scoring/ refuses to do
        ├── ConfigError              an invalid scoring config (names the key and the problem)
        ├── TooLateError             an event older than the account's lateness bound
        └── ConflictingDuplicateError  an event id applied before, now with another content

The streams layer should call `scoring.is_too_late` before `scoring.process`
and dead-letter such events with reason `too_late`; `process` raises
`TooLateError` only if that check was skipped.
"""

from __future__ import annotations

from schemas.errors import HealthscoreError


class ScoringError(HealthscoreError):
    """Root of the errors raised by scoring/."""


class ConfigError(ScoringError):
    """A scoring config that cannot be used; `problems` lists one line per bad key."""

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        self.problems = problems
        text = message if not problems else message + "\n" + "\n".join(f"  - {p}" for p in problems)
        super().__init__(text)


class TooLateError(ScoringError):
    """The event is older than `max seen ts - allowed_lateness` for its account."""


class ConflictingDuplicateError(ScoringError):
    """The event's id was applied before (it is in the account's exactly-once memory) with
    another content: the streams layer dead-letters it as `conflicting_duplicate`."""
