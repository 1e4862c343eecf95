"""Live twin state on the edge: reported values in memory (mirrored to SQLite) and confirmation waiters."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from edge.devices.entity import satisfied
from edge.ports import TwinStore
from shared.decision import Outcome
from shared.errors import StorageError


@dataclass(slots=True)
class _Waiter:
    expect: dict[str, list[Any]]
    future: asyncio.Future[tuple[Outcome, str | None]]
    seen: dict[str, Any] = field(default_factory=dict)


class Twins:
    """Reported values per device; lets the executor wait for a device to confirm a command."""

    def __init__(self, store: TwinStore) -> None:
        self._store = store
        self._reported: dict[str, dict[str, Any]] = {}
        self._waiters: dict[str, list[_Waiter]] = {}

    async def load(self) -> None:
        """Fill the cache from the database (after a restart)."""
        for row in await self._store.twin():
            if row.reported is not None:
                self._reported.setdefault(row.device_id, {})[row.prop] = row.reported

    def values(self, device_id: str) -> dict[str, Any]:
        """Reported values of one device (a copy)."""
        return dict(self._reported.get(device_id, {}))

    async def report(self, device_id: str, values: dict[str, Any], mark: str | None = None) -> dict[str, int]:
        """Commit reported values, then wake waiters this report confirms. Returns changed versions.

        When the store cannot take them (a full disk) the device has still changed: the values are kept in memory
        and confirm waiting commands, so the home stays controllable, and the StorageError goes to the caller.
        """
        try:
            changed = await self._store.apply_reported(device_id, values, mark)
        except StorageError:
            self._observe(device_id, values)
            raise
        self._observe(device_id, values)
        return changed

    def _observe(self, device_id: str, values: dict[str, Any]) -> None:
        self._reported.setdefault(device_id, {}).update(values)
        for waiter in list(self._waiters.get(device_id, [])):
            waiter.seen.update(values)
            if satisfied(waiter.expect, waiter.seen) and not waiter.future.done():
                waiter.future.set_result((Outcome.DONE, None))

    def fail(self, device_id: str, outcome: Outcome, detail: str) -> None:
        """Fail every pending confirmation of a device (it went offline, or rejected the command)."""
        for waiter in self._waiters.get(device_id, []):
            if not waiter.future.done():
                waiter.future.set_result((outcome, detail))

    def expect(self, device_id: str, expect: dict[str, list[Any]]) -> asyncio.Future[tuple[Outcome, str | None]]:
        """Register a waiter before publishing, so no confirmation can slip past."""
        future: asyncio.Future[tuple[Outcome, str | None]] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(device_id, []).append(_Waiter(expect, future))
        return future

    def forget(self, device_id: str, future: asyncio.Future[tuple[Outcome, str | None]]) -> None:
        """Drop a waiter once its command finished."""
        waiters = self._waiters.get(device_id, [])
        self._waiters[device_id] = [w for w in waiters if w.future is not future]
        if not self._waiters[device_id]:
            del self._waiters[device_id]

    def drop(self, device_id: str) -> None:
        """Forget a removed device."""
        self._reported.pop(device_id, None)
        self.fail(device_id, Outcome.UNAVAILABLE, "removed")
