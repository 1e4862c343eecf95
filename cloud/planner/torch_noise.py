"""Drops two harmless messages that torchao logs when transformers' model code imports it.

torchao 0.18 tries to load kernel libraries built for CUDA and MX formats that this install cannot use and logs
"Failed to load .../torchao/_C_*.so" for each; it also registers its own enums as pytree constants, which torch
2.13 logs as deprecated ("... is an Enum subclass and is now natively supported by torch.compile ..."). Neither
touches the INT8 weight-only path the runner takes, and neither is ours to fix. Only these two messages are
dropped: every other torchao or torch record, and every warning, passes.
"""

from __future__ import annotations

import logging

#: torchao's own logger, and the torch logger that reports the deprecated registration.
TORCHAO_LOGGER = "torchao"
PYTREE_LOGGER = "torch.utils._pytree"


class _KernelLibraryMiss(logging.Filter):
    """torchao's "Failed to load <one of its _C*.so>: ..." warnings."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Failed to load ") and "/torchao/_C" in message)


class _TorchaoEnumRegistration(logging.Filter):
    """torch's deprecation notice for an Enum registered as a pytree constant, when the Enum is torchao's."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, str) or "is an Enum subclass" not in record.msg or not record.args:
            return True
        subject = record.args[0] if isinstance(record.args, tuple) else None
        return not str(getattr(subject, "__module__", "")).startswith("torchao.")


def quiet_torchao_import() -> None:
    """Install both filters before transformers or torchao is imported; calling it again adds nothing."""
    for name, kind in ((TORCHAO_LOGGER, _KernelLibraryMiss), (PYTREE_LOGGER, _TorchaoEnumRegistration)):
        logger = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())
