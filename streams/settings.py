"""One settings object for the whole service, read from the environment.

Environment names are exactly those `docker-compose.yml` sets (a test keeps
them in step). Secrets may also come from files in `HEALTHSCORE_SECRETS_DIR`
(one file per variable name, as Docker and Kubernetes mount them).
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.events import Family
from schemas.outputs import Severity
from streams.alert_route import AlertRoute, parse_kinds
from streams.errors import SettingsError


def _secrets_dir() -> str | None:
    path = os.environ.get("HEALTHSCORE_SECRETS_DIR")
    return path if path and Path(path).is_dir() else None


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


class Settings(BaseSettings):
    """Everything the worker, the CLI and the demo can be told from outside."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    env: Literal["development", "test", "production"] = Field(
        "development", validation_alias=_env("HEALTHSCORE_ENV")
    )
    log_level: str = Field("INFO", validation_alias=_env("HEALTHSCORE_LOG_LEVEL"))

    # Kafka
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", validation_alias=_env("KAFKA_BOOTSTRAP_SERVERS")
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", validation_alias=_env("KAFKA_SECURITY_PROTOCOL")
    )
    kafka_sasl_mechanism: str = Field("PLAIN", validation_alias=_env("KAFKA_SASL_MECHANISM"))
    kafka_sasl_username: str | None = Field(None, validation_alias=_env("KAFKA_SASL_USERNAME"))
    kafka_sasl_password: SecretStr | None = Field(
        None, validation_alias=_env("KAFKA_SASL_PASSWORD")
    )
    topic_prefix: str = Field("healthscore", validation_alias=_env("HEALTHSCORE_TOPIC_PREFIX"))
    topic_partitions: int = Field(4, ge=1, le=1024, validation_alias=_env("HEALTHSCORE_PARTITIONS"))
    topic_replication: int = Field(1, ge=1, le=16, validation_alias=_env("HEALTHSCORE_REPLICATION"))
    app_id: str = Field("healthscore", validation_alias=_env("HEALTHSCORE_APP_ID"))

    # the worker
    data_dir: Path = Field(Path("var"), validation_alias=_env("HEALTHSCORE_DATA_DIR"))
    store: str = Field("memory://", validation_alias=_env("HEALTHSCORE_STORE"))
    scoring_config: Path | None = Field(None, validation_alias=_env("HEALTHSCORE_SCORING_CONFIG"))
    batch_size: int = Field(5000, ge=1, le=100_000, validation_alias=_env("HEALTHSCORE_BATCH_SIZE"))
    session_timeout_seconds: float = Field(
        10.0, ge=6, le=300, validation_alias=_env("HEALTHSCORE_SESSION_TIMEOUT")
    )
    # 5 s rather than 2: on live traffic over 10,000 accounts a state is saved for 0.45 events
    # in 1 instead of 0.67, and the flushes come 2.5x less often (docs/performance.md)
    commit_interval_seconds: float = Field(
        5.0, gt=0, le=60, validation_alias=_env("HEALTHSCORE_COMMIT_INTERVAL")
    )
    state_cache_accounts: int = Field(
        10_000, ge=0, le=10_000_000, validation_alias=_env("HEALTHSCORE_STATE_CACHE")
    )
    # the clock (streams.clock; docs/scoring.md, The clock)
    # on by default: without it a silent account keeps its last score forever
    clock_enabled: bool = Field(True, validation_alias=_env("HEALTHSCORE_CLOCK"))
    clock_idle_seconds: float = Field(
        60.0, ge=1, le=3600, validation_alias=_env("HEALTHSCORE_CLOCK_IDLE_SECONDS")
    )
    clock_live_lag_seconds: float = Field(
        3600.0, ge=0, le=30 * 86400, validation_alias=_env("HEALTHSCORE_CLOCK_LIVE_LAG_SECONDS")
    )
    clock_slice_accounts: int = Field(
        100, ge=1, le=100_000, validation_alias=_env("HEALTHSCORE_CLOCK_SLICE_ACCOUNTS")
    )
    # event-time alignment of the family topics of a partition (streams.align; docs/scoring.md,
    # Order independence): an hour is far inside the allowed lateness (48 h) and the
    # scoring's day boundaries, and still delivers a backlog in chunks of an hour or more
    # of each family; live traffic is seconds apart and never waits (caught-up topics are idle)
    max_family_skew_seconds: float = Field(
        3600.0, ge=0, le=30 * 86400, validation_alias=_env("HEALTHSCORE_MAX_FAMILY_SKEW_SECONDS")
    )
    web_port: int = Field(6066, ge=0, le=65535, validation_alias=_env("HEALTHSCORE_WEB_PORT"))
    web_enabled: bool = Field(False, validation_alias=_env("HEALTHSCORE_WEB_ENABLED"))

    # the churn model (streams.churn_model; docs/operations.md, The churn model)
    churn_model_pin: str | None = Field(
        None, max_length=200, validation_alias=_env("HEALTHSCORE_CHURN_MODEL_PIN")
    )
    """Score with this published model version only ("default": the config's coefficients)."""
    churn_min_per_class: int = Field(
        20, ge=1, le=10_000, validation_alias=_env("HEALTHSCORE_CHURN_MIN_PER_CLASS")
    )
    churn_auc_drop: float = Field(
        0.05, ge=0, le=1, allow_inf_nan=False, validation_alias=_env("HEALTHSCORE_CHURN_AUC_DROP")
    )
    churn_auc_min_examples: int = Field(
        50, ge=1, le=10_000_000, validation_alias=_env("HEALTHSCORE_CHURN_AUC_MIN_EXAMPLES")
    )

    # ClickHouse
    clickhouse_url: SecretStr | None = Field(None, validation_alias=_env("CLICKHOUSE_URL"))
    clickhouse_database: str = Field(
        "healthscore",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        validation_alias=_env("CLICKHOUSE_DATABASE"),
    )
    clickhouse_user: str | None = Field(None, validation_alias=_env("CLICKHOUSE_USER"))
    clickhouse_password: SecretStr | None = Field(
        None, validation_alias=_env("CLICKHOUSE_PASSWORD")
    )
    clickhouse_batch_rows: int = Field(
        5000, ge=1, le=1_000_000, validation_alias=_env("CLICKHOUSE_BATCH_ROWS")
    )
    clickhouse_flush_seconds: float = Field(
        1.0, gt=0, le=300, validation_alias=_env("CLICKHOUSE_FLUSH_SECONDS")
    )
    clickhouse_max_pending_rows: int = Field(
        200_000, ge=1000, validation_alias=_env("CLICKHOUSE_MAX_PENDING_ROWS")
    )

    # alerts
    alert_webhook_url: SecretStr | None = Field(
        None, validation_alias=_env("HEALTHSCORE_ALERT_WEBHOOK_URL")
    )
    alert_min_severity: Severity = Field(
        Severity.LOW, validation_alias=_env("HEALTHSCORE_ALERT_MIN_SEVERITY")
    )
    """The least severity the webhook and the Grafana alert rules pass on (`alert_route`)."""
    alert_kinds: str = Field("all", validation_alias=_env("HEALTHSCORE_ALERT_KINDS"))
    """Comma-separated alert kinds the webhook and the Grafana alert rules pass on; `all`."""

    @field_validator("alert_kinds")
    @classmethod
    def _known_kinds(cls, value: str) -> str:
        parse_kinds(value)  # refuses an unknown kind at start-up, naming the known ones
        return value

    @property
    def alert_route(self) -> AlertRoute:
        return AlertRoute(self.alert_min_severity, parse_kinds(self.alert_kinds))

    @field_validator("alert_webhook_url", "churn_model_pin", mode="before")
    @classmethod
    def _empty_is_off(cls, value: object) -> object:
        return None if value in ("", None) else value

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.env != "production":
            return self
        if self.clickhouse_url is None:
            raise SettingsError(
                "HEALTHSCORE_ENV=production needs CLICKHOUSE_URL: the embedded chDB engine "
                "is for development and single-node demos"
            )
        if self.store.startswith("memory") and self.topic_partitions > 64:
            raise SettingsError("HEALTHSCORE_STORE=memory:// with >64 partitions: use rocksdb://")
        return self

    # derived names -------------------------------------------------------

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}.{name}" if self.topic_prefix else name

    @cached_property
    def input_topics(self) -> dict[Family, str]:
        return {family: self.topic(family.value) for family in Family}

    @property
    def chdb_path(self) -> Path:
        return self.data_dir / "chdb"

    @property
    def faust_broker(self) -> str:
        hosts = [h.strip() for h in self.kafka_bootstrap_servers.split(",") if h.strip()]
        return ";".join(f"kafka://{h}" for h in hosts)

    def safe_summary(self) -> dict[str, object]:
        """What may be logged: never a password, token or URL credential."""
        return {
            "env": self.env,
            "kafka": self.kafka_bootstrap_servers,
            "kafka_security_protocol": self.kafka_security_protocol,
            "topic_prefix": self.topic_prefix,
            "app_id": self.app_id,
            "clickhouse": "chdb://" + str(self.chdb_path)
            if self.clickhouse_url is None
            else _redact_url(self.clickhouse_url.get_secret_value()),
            "database": self.clickhouse_database,
            "alert_webhook": "set" if self.alert_webhook_url else "off",
            "alert_min_severity": self.alert_min_severity.value,
            "alert_kinds": self.alert_kinds,
            "churn_model_pin": self.churn_model_pin or "off",
        }


def _redact_url(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    if parts.username:
        host = f"{parts.username}:***@{host}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment (and secret files), with overrides."""
    return Settings(_secrets_dir=_secrets_dir(), **overrides)  # type: ignore[call-arg]
