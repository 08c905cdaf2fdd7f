"""The error tree of healthscore.

    HealthscoreError                 root: catch this to catch anything we raise
    ├── SchemaError                  schemas/: wire formats
    │   └── DecodeError              a message that is not an acceptable event (has .reason)
    ├── ScoringError                 scoring/ (defined there)
    │   └── ConfigError              an invalid scoring config file
    └── StreamsError                 streams/ (defined there)
        ├── SettingsError            invalid environment / settings
        ├── ClickHouseError          the database refused or is unreachable
        └── KafkaLaunchError         the local broker could not start

The root lives here because `schemas` is the bottom layer: every other
package may import it, and it imports nothing of theirs.
"""

from __future__ import annotations

from enum import StrEnum


class HealthscoreError(Exception):
    """Root of every exception healthscore raises on purpose."""


class SchemaError(HealthscoreError):
    """A wire-format problem."""


class DeadLetterReason(StrEnum):
    """Why a message was not accepted; the `reason` column of every dead letter."""

    TOO_LARGE = "too_large"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    INVALID_FIELD = "invalid_field"
    UNKNOWN_TYPE = "unknown_type"
    WRONG_TOPIC = "wrong_topic"
    UNSUPPORTED_SCHEMA_VERSION = "unsupported_schema_version"
    KEY_MISMATCH = "key_mismatch"
    INVALID_KEY = "invalid_key"
    FROM_FUTURE = "from_future"
    BACKDATED = "backdated"
    TOO_LATE = "too_late"
    PROCESSING_ERROR = "processing_error"
    CONFLICTING_DUPLICATE = "conflicting_duplicate"


class DecodeError(SchemaError):
    """A message that cannot be accepted, with a machine-readable reason.

    `field` names the offending field (dotted path) when there is one, and
    `detail` says in words what was wrong with it.
    """

    def __init__(self, reason: DeadLetterReason, detail: str, field: str | None = None) -> None:
        self.reason = reason
        self.detail = detail
        self.field = field
        where = f" (field {field!r})" if field else ""
        super().__init__(f"{reason.value}{where}: {detail}")
