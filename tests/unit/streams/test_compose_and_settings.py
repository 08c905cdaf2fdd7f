"""docker-compose.yml cannot run here, so its agreement with the code is tested."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from streams.errors import SettingsError
from streams.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def settings_env_names() -> set[str]:
    names = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        names.update(alias.choices if alias is not None else [])  # type: ignore[union-attr]
    return names


def test_compose_has_kafka_clickhouse_grafana_and_worker_with_healthchecks():
    services = COMPOSE["services"]
    assert set(services) == {"kafka", "clickhouse", "grafana", "worker"}
    for name, service in services.items():
        assert "healthcheck" in service, name


def test_every_worker_environment_name_is_a_setting():
    env = COMPOSE["services"]["worker"]["environment"]
    unknown = set(env) - settings_env_names()
    assert not unknown, f"docker-compose sets variables the worker ignores: {unknown}"


def test_worker_environment_is_valid_production_settings(monkeypatch):
    env = COMPOSE["services"]["worker"]["environment"]
    for key, value in env.items():
        monkeypatch.setenv(key, str(value).split(":-")[-1].rstrip("}"))
    settings = load_settings()
    assert settings.env == "production"
    bootstrap_host, port = settings.kafka_bootstrap_servers.split(":")
    assert bootstrap_host == "kafka"
    listeners = COMPOSE["services"]["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert f"PLAINTEXT://kafka:{port}" in listeners
    assert settings.clickhouse_url is not None
    assert "clickhouse:8123" in settings.clickhouse_url.get_secret_value()
    assert COMPOSE["services"]["clickhouse"]["ports"] == ["8123:8123"]


def test_worker_waits_for_healthy_kafka_and_clickhouse():
    depends = COMPOSE["services"]["worker"]["depends_on"]
    assert depends == {
        "kafka": {"condition": "service_healthy"},
        "clickhouse": {"condition": "service_healthy"},
    }


def test_grafana_gets_the_clickhouse_plugin_and_the_provisioning_from_dashboards():
    grafana = COMPOSE["services"]["grafana"]
    assert grafana["environment"]["GF_PLUGINS_PREINSTALL_SYNC"] == "grafana-clickhouse-datasource"
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    assert mounts["/etc/grafana/provisioning"] == "./dashboards/provisioning"
    assert (ROOT / "dashboards" / "provisioning" / "datasources").is_dir()


def test_production_refuses_the_embedded_clickhouse():
    with pytest.raises(SettingsError, match="CLICKHOUSE_URL"):
        Settings(env="production")  # type: ignore[call-arg]


def test_logged_settings_never_show_a_password():
    settings = Settings(clickhouse_url="https://bob:hunter2@ch.example:8443/x")  # type: ignore[call-arg]
    text = str(settings.safe_summary())
    assert "hunter2" not in text
    assert "bob" in text and "ch.example:8443" in text
    assert "hunter2" not in repr(settings)


def test_secrets_can_come_from_files(tmp_path, monkeypatch):
    (tmp_path / "CLICKHOUSE_PASSWORD").write_text("from-a-file")
    monkeypatch.setenv("HEALTHSCORE_SECRETS_DIR", str(tmp_path))
    monkeypatch.delenv("CLICKHOUSE_PASSWORD", raising=False)
    settings = load_settings()
    assert settings.clickhouse_password is not None
    assert settings.clickhouse_password.get_secret_value() == "from-a-file"


def test_the_alert_webhook_is_a_secret_and_empty_means_off(monkeypatch):
    url = "https://hooks.slack.example/services/T000/B000/s3cr3t-token"
    settings = Settings(alert_webhook_url=url)  # type: ignore[call-arg]
    assert settings.alert_webhook_url is not None
    assert settings.alert_webhook_url.get_secret_value() == url
    assert "s3cr3t" not in str(settings.safe_summary()) + repr(settings)
    assert settings.safe_summary()["alert_webhook"] == "set"
    monkeypatch.setenv("HEALTHSCORE_ALERT_WEBHOOK_URL", "")
    assert load_settings().alert_webhook_url is None  # compose's default: off


def test_compose_lets_the_worker_post_alerts_to_a_webhook():
    env = COMPOSE["services"]["worker"]["environment"]
    assert env["HEALTHSCORE_ALERT_WEBHOOK_URL"] == "${HEALTHSCORE_ALERT_WEBHOOK_URL:-}"
