"""deploy/compose.yaml against the compose specification (the schema check-jsonschema vendors), and against the
code: real settings, ports, commands, and the shipped Mosquitto files. No Docker daemon runs here."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from cloud.settings import CloudSettings, load_cloud_settings
from edge.config import HttpSettings, load_settings
from tests.deploy.deploy_env import DEPLOY, ENV_NAME, cli_command_exists, setting_exists

COMPOSE = DEPLOY / "compose.yaml"


def compose_schema() -> dict[str, Any]:
    try:
        text = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text()
    except ModuleNotFoundError:
        pytest.fail("check-jsonschema is not installed: pip install check-jsonschema (it ships the compose-spec "
                    "schema)")
    return json.loads(text)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_valid_against_the_compose_spec(compose: dict[str, Any]) -> None:
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors, errors


def test_the_schema_check_catches_a_bad_file(compose: dict[str, Any]) -> None:
    """Negative control: an unknown service key and a wrong type are reported."""
    schema = compose_schema()
    bad = json.loads(json.dumps(compose))
    bad["services"]["edge"]["restart_policy"] = "always"
    bad["services"]["cloud"]["ports"] = "8080"
    errors = list(jsonschema.validators.validator_for(schema)(schema).iter_errors(bad))
    assert len(errors) >= 2


def test_every_service_is_there(compose: dict[str, Any]) -> None:
    assert {"mosquitto", "cloud", "edge", "simhome", "prometheus", "grafana"} <= set(compose["services"])


def test_mosquitto_runs_the_shipped_config_with_persistence(compose: dict[str, Any]) -> None:
    broker = compose["services"]["mosquitto"]
    assert broker["image"] == "eclipse-mosquitto:2"
    mounts = {m.split(":")[1]: m.split(":")[0] for m in broker["volumes"]}
    assert mounts["/mosquitto/config/mosquitto.conf"] == "./mosquitto/mosquitto.conf"
    assert mounts["/mosquitto/config/acl"] == "./mosquitto/acl"
    assert mounts["/mosquitto/config/passwd"] == "./mosquitto/passwd"  # made by the operator (README)
    assert mounts["/mosquitto/data"] in compose["volumes"]
    conf = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text()
    for line in ("allow_anonymous false", "password_file /mosquitto/config/passwd", "acl_file /mosquitto/config/acl",
                 "persistence true", "persistence_location /mosquitto/data/"):
        assert line in conf.splitlines()


def test_bind_mounts_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("./") and not source.endswith("/passwd"):
                assert (COMPOSE.parent / source).exists(), f"{name} mounts {source}, which is not in deploy/"


def _env(service: dict[str, Any]) -> dict[str, str]:
    """The service's environment with ${VAR:?...} placeholders filled in as an operator's .env would."""
    out = {}
    for key, value in service.get("environment", {}).items():
        value = str(value)
        if value.startswith("${"):
            value = "https://cloud.example.com" if key.endswith("__URL") else "placeholder-secret"
        out[key] = value
    return out


def test_env_names_are_real_settings(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text(encoding="utf-8")  # the commented-out alternatives too
    names = set(ENV_NAME.findall(text))
    assert names
    unknown = sorted(n for n in names if not setting_exists(n))
    assert not unknown, f"settings that do not exist: {unknown}"


def test_settings_load(compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The edge and cloud accept their environment as the code reads it, and it lands where intended."""
    for key in [k for k in os.environ if k.startswith("OPEN_AUTOGLM_")]:
        monkeypatch.delenv(key)
    with monkeypatch.context() as env:
        for key, value in _env(compose["services"]["edge"]).items():
            env.setenv(key, value)
        edge = load_settings()
    assert (edge.mqtt.host, edge.http.host, edge.http.port) == ("mosquitto", "0.0.0.0", HttpSettings().port)
    assert edge.cloud.url == "http://cloud:8080" and edge.cloud.token is not None
    with monkeypatch.context() as env:
        for key, value in _env(compose["services"]["cloud"]).items():
            env.setenv(key, value)
        cloud = load_cloud_settings()
    assert (cloud.host, cloud.port, cloud.mqtt.host, cloud.mqtt.username) == ("0.0.0.0", CloudSettings().port,
                                                                              "mosquitto", "autoglm-cloud")
    assert cloud.planner.lazy_load


def test_ports_and_commands_match_the_code(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["cloud"]["ports"] == [f"127.0.0.1:{CloudSettings().port}:{CloudSettings().port}"]
    assert services["edge"]["ports"] == [f"127.0.0.1:{HttpSettings().port}:{HttpSettings().port}"]
    assert cli_command_exists(services["simhome"]["command"])
    for name in ("cloud", "edge"):
        assert Path(COMPOSE.parent, services[name]["build"]["context"], services[name]["build"]["dockerfile"]).exists()


def test_grafana_and_prometheus_are_provisioned(compose: dict[str, Any]) -> None:
    grafana = {m.split(":")[1]: m.split(":")[0] for m in compose["services"]["grafana"]["volumes"]}
    assert grafana["/etc/grafana/provisioning/datasources"] == "./grafana/provisioning/datasources"
    assert grafana["/etc/grafana/provisioning/dashboards"] == "./grafana/provisioning/dashboards"
    prometheus = {m.split(":")[1]: m.split(":")[0] for m in compose["services"]["prometheus"]["volumes"]}
    assert prometheus["/etc/prometheus/prometheus.yml"] == "./prometheus/prometheus.yml"
