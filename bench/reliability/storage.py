"""The old import path of `damage_pages` for tests outside bench/reliability (tests/edge/io/test_dbfile.py and
test_decision_cache.py); it lives in bench/reliability/storage_files_at_start.py now. No scenario here."""

from bench.reliability.storage_files_at_start import damage_pages

__all__ = ["damage_pages"]
