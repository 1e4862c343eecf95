"""Tests for cloud/planner/torch_noise.py: torchao's two import-time messages are dropped, nothing else is."""

from __future__ import annotations

import enum
import logging
import subprocess
import sys

import pytest

from cloud.planner.torch_noise import PYTREE_LOGGER, TORCHAO_LOGGER, quiet_torchao_import

PYTREE_DEPRECATION = ("%s is an Enum subclass and is now natively supported by torch.compile as an opaque value "
                      "type. Calling register_constant() on Enum subclasses is deprecated and will be an error in a "
                      "future release.")


class Ours(enum.Enum):
    A = 1


class Theirs(enum.Enum):
    A = 1


Theirs.__module__ = "torchao.quantization.quantize_.common.kernel_preference"


def _passes(logger_name: str, msg: str, *args: object) -> bool:
    logger = logging.getLogger(logger_name)
    record = logger.makeRecord(logger_name, logging.WARNING, __file__, 1, msg, args, None)
    return bool(logger.filter(record))


def test_drops_torchao_kernel_library_misses() -> None:
    quiet_torchao_import()
    assert not _passes(TORCHAO_LOGGER, "Failed to load /v/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu"
                                       ".so: Could not load this library: /v/site-packages/torchao/_C_mxfp8.so")
    assert _passes(TORCHAO_LOGGER, "Skipping import of cpp extensions due to incompatible torch version")
    assert _passes(TORCHAO_LOGGER, "Failed to load /home/me/model.int8.pt: truncated")


def test_drops_the_pytree_deprecation_only_for_torchao_enums() -> None:
    quiet_torchao_import()
    assert not _passes(PYTREE_LOGGER, PYTREE_DEPRECATION, Theirs)
    assert _passes(PYTREE_LOGGER, PYTREE_DEPRECATION, Ours)
    assert _passes(PYTREE_LOGGER, "something else about %s", Theirs)


def test_installing_twice_adds_no_second_filter() -> None:
    quiet_torchao_import()
    quiet_torchao_import()
    for name in (TORCHAO_LOGGER, PYTREE_LOGGER):
        assert len(logging.getLogger(name).filters) == 1


def test_importing_the_runner_is_quiet() -> None:
    pytest.importorskip("torchao")
    done = subprocess.run([sys.executable, "-c", "import cloud.planner.runner"], capture_output=True, text=True,
                          timeout=120, check=True)
    assert "Failed to load" not in done.stderr
    assert "Enum subclass" not in done.stderr
