"""The old import path of `light_config` for tests outside bench/reliability (tests/edge/devices/test_executor.py);
it lives in bench/reliability/rig_bridge.py now. No scenario here."""

from bench.reliability.rig_bridge import light_config

__all__ = ["light_config"]
