"""Reliability scenarios: each runs real parts (SQLite files, brokers, processes) and returns its figures.

Used by `bench/reliability_report.py` (full counts) and `tests/reliability/` (reduced counts in CI). Every
scenario with a safeguard has a negative control that switches it off and must report the loss it then causes.
"""
