"""JSON log lines: one object per line with ts, level, event, trace_id and edge_id/device_id."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

#: DEL, C1 controls and bidi overrides, which json.dumps(ensure_ascii=False) leaves raw (it escapes only C0): a log
#: line quoting a device name or a plan cannot drive the terminal that shows it.
_UNSAFE: dict[int, str] = {c: f"\\u{c:04x}" for c in (*range(0x7F, 0xA0), 0x61C, 0x200E, 0x200F, *range(0x202A, 0x202F),
                                                     *range(0x2066, 0x206A), 0xFEFF)}
#: Attributes of LogRecord that are not user context.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line; `extra={...}` keys become fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                out.setdefault(key, value)  # extras never overwrite ts, level, logger or event
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False).translate(_UNSAFE)
