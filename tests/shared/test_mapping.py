"""Tests for shared/mapping.py."""

from __future__ import annotations

from shared.mapping import deep_merge


def test_nested_keys_merge_and_top_wins() -> None:
    base = {"mqtt": {"host": "a", "port": 1}, "name": "x", "list": [1]}
    top = {"mqtt": {"port": 2}, "list": [2], "extra": True}
    assert deep_merge(base, top) == {"mqtt": {"host": "a", "port": 2}, "name": "x", "list": [2], "extra": True}
    assert base == {"mqtt": {"host": "a", "port": 1}, "name": "x", "list": [1]}  # inputs untouched


def test_a_scalar_replaces_a_table_and_back() -> None:
    assert deep_merge({"a": {"b": 1}}, {"a": 3}) == {"a": 3}
    assert deep_merge({"a": 3}, {"a": {"b": 1}}) == {"a": {"b": 1}}
