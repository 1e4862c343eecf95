"""Settings: TOML file, OPEN_AUTOGLM_ environment with nested `__`, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import load_settings
from shared.errors import ConfigError


def test_defaults() -> None:
    settings = load_settings()
    assert settings.edge_id == "edge-1" and settings.mqtt.port == 1883
    assert settings.client_id == "autoglm-edge-edge-1"


def test_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "edge.toml"
    path.write_text('[edge]\nedge_id = "gw7"\n[edge.mqtt]\nport = 1884\nhost = "file-host"\n')
    monkeypatch.setenv("OPEN_AUTOGLM_EDGE__MQTT__HOST", "env-host")
    settings = load_settings(path)
    assert (settings.edge_id, settings.mqtt.host, settings.mqtt.port) == ("gw7", "env-host", 1884)


def test_bad_values_name_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPEN_AUTOGLM_EDGE__MQTT__PORT", "70000")
    with pytest.raises(ConfigError, match=r"mqtt\.port"):
        load_settings()
    monkeypatch.delenv("OPEN_AUTOGLM_EDGE__MQTT__PORT")
    with pytest.raises(ConfigError, match="edge id"):
        load_settings(edge_id="a/b")
    bad = tmp_path / "bad.toml"
    bad.write_text("[edge\n")
    with pytest.raises(ConfigError, match="cannot read settings file"):
        load_settings(bad)
