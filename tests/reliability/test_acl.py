"""Topic abuse against the shipped Mosquitto config (password file + ACL), with the allow-all negative control."""

from __future__ import annotations

from pathlib import Path

from bench.reliability.acl import EXPECTED, abuse


def test_shipped_acl_lets_no_device_reach_another_and_keeps_legitimate_traffic(tmp_path: Path) -> None:
    figures = abuse(tmp_path)
    assert figures["cross_device_deliveries"] == 0
    assert figures["legit_missing"] == 0 and figures["legit_expected"] == sum(map(len, EXPECTED.values()))
    assert figures["attackers_logged_in"] >= 2  # `evil` and `+` log in and try; a `#` line is a comment


def test_negative_control_an_allow_all_broker_delivers_across_devices(tmp_path: Path) -> None:
    figures = abuse(tmp_path, shipped=False)
    assert figures["stolen_deliveries"] > 0 and figures["injected_deliveries"] > 0
