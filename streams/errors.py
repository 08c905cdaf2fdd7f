"""Errors of the imperative shell; see `schemas.errors` for the whole tree."""

from __future__ import annotations

from schemas.errors import HealthscoreError


class StreamsError(HealthscoreError):
    """Something in the running service (not in an event) went wrong."""


class SettingsError(StreamsError):
    """The environment asks for something unsafe or impossible."""


class ClickHouseError(StreamsError):
    """ClickHouse refused a statement or could not be reached."""
