"""Reliability scenarios: each runs real parts (SQLite files, brokers, processes) and returns its figures.

One module per scenario, named after it (`crash_kill9.py` declares `crash.kill9` and its negative control), each
with a `SCENARIOS` tuple that `bench/reliability_report.py` collects (full counts) and `tests/reliability/` runs
(reduced counts in CI). Shared parts: `scenario.py` (what a scenario is), `procs.py` (Mosquitto and edge processes),
`rig.py`, `rig_bridge.py` and `rig_api.py` (the fakes and the real components wired around them). Every scenario with
a safeguard has a negative control that switches it off through a flag of the real component and must report the loss
it then causes.
"""
