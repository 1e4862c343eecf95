"""Edge storage under a full disk: local commands still work, every refused write is logged and counted.

Every database file of a running edge (in-process, on a real broker, with the simulated home) is filled to its limit
with `PRAGMA max_page_count` and junk rows, then lights are switched by utterances in English and Chinese over MQTT,
as `autoglm edge say` sends them. Each must still be done, every refused write must be logged naming the full file and
counted in `autoglm_edge_storage_errors`, and nothing may escape the daemon. Writes that still fit in a page's free
space succeed, as on a real disk. The negative control's daemon has its error boundary switched off
(`Safeguards(contain_errors=False)`): a write the store refuses fails the message that made it, and the route loop
with it. (The decision record's refused write is contained by the decision recorder, which has no such flag, so the
control waits for a state message's write to be refused before it sends its commands.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

from autoglm.simhome import SimulatedHome
from bench.reliability.procs import DB_FILES, Mosquitto, until
from bench.reliability.scenario import Scenario
from edge.config import Safeguards, load_settings
from edge.daemon import EdgeDaemon
from edge.say import say
from shared.decision import Outcome
from shared.errors import AutoGLMError

FULL_EDGE_ID = "full-edge"


class Captured(logging.Handler):
    """Warnings and errors logged while a scenario runs (the disk-full scenario looks for clear ones)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> list[str]:
        """Each record's message with its extra fields."""
        skip = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
        return [" ".join([r.getMessage(), *(f"{k}={v}" for k, v in r.__dict__.items() if k not in skip)])
                for r in self.records]


def fill(conn: sqlite3.Connection) -> int:
    """Fill a database to its limit as a full disk would: no page beyond the current ones, those packed with junk."""
    conn.execute("CREATE TABLE IF NOT EXISTS disk_full_junk (x BLOB)")
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    conn.execute(f"PRAGMA max_page_count = {pages + 8}")
    rows = 0
    for size in (4000, 400, 40, 4):
        while True:
            try:
                conn.execute("INSERT INTO disk_full_junk VALUES (zeroblob(?))", (size,))
                rows += 1
            except sqlite3.OperationalError as exc:
                if "full" not in str(exc):
                    raise
                break
    return rows


def unfill(conn: sqlite3.Connection) -> None:
    """Room again: the page limit lifted (the junk stays, as the files on a disk someone cleared up would)."""
    conn.execute("PRAGMA max_page_count = 1073741823")


async def fill_all(edge: EdgeDaemon, *, full: bool = True) -> dict[str, int]:
    """Every database file of the running daemon at its limit (or given room again), each on its own thread."""
    action = fill if full else unfill
    out: dict[str, int] = {}
    out["edge.db"] = await edge.store._call(lambda: action(edge.store.db.conn) or 0)
    for name, owner in (("outbox.db", edge.uplink.outbox), ("decisions.db", edge.cache)):
        if owner is not None:
            def run(owner: Any = owner) -> int:
                with owner._lock:
                    conn = owner._db if isinstance(owner._db, sqlite3.Connection) else owner._db.conn
                    return action(conn) or 0
            out[name] = await asyncio.to_thread(run)
    return out


#: (utterance, simulated device, the state it must end in)
COMMANDS = (("turn on the kitchen light", "kitchen_light", "ON"),
            ("turn off the kitchen light", "kitchen_light", "OFF"),
            ("打开卧室灯", "bedroom_light", "ON"), ("关闭卧室灯", "bedroom_light", "OFF"))


async def disk_full(root: Path, commands: int, *, safeguard: bool = True) -> dict[str, Any]:
    """Fill every database of a running edge, then ask it to switch a light `commands` times."""
    started = time.monotonic()
    captured = Captured()
    logging.getLogger().addHandler(captured)
    escaped: list[str] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _l, ctx: escaped.append(str(ctx.get("exception") or ctx.get("message"))))
    model_dir = root / "no-model"
    model_dir.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {"commands": commands, "safeguard": safeguard}
    try:
        with Mosquitto(root / "broker", persistence=False) as broker:
            home = SimulatedHome("127.0.0.1", broker.port, sensor_interval=0.2)
            await asyncio.to_thread(home.start)
            settings = load_settings(None, edge_id=FULL_EDGE_ID, data_dir=root / "edge", model_dir=model_dir,
                                     mqtt={"host": "127.0.0.1", "port": broker.port}, http={"enabled": False},
                                     confirm_timeout_s=2.0,  # the behaviour monitor's burst limit is not tested here
                                     monitor={"device_floor": 100_000, "user_floor": 100_000})
            edge = EdgeDaemon(settings, safeguards=Safeguards(contain_errors=safeguard))
            try:
                await edge.start(connect_timeout=10)
                task = asyncio.create_task(edge.run())
                deadline = time.monotonic() + 20
                while len(edge.registry) < len(home.device_ids) or not all(e.available for e in
                                                                           edge.registry.entities()):
                    if time.monotonic() > deadline:
                        raise TimeoutError("the edge did not discover the simulated home in 20 s")
                    await asyncio.sleep(0.05)
                before = len(await edge.store.decisions(limit=10_000))
                figures["junk_rows"] = sum((await fill_all(edge)).values())
                if not safeguard:  # state messages reach a full page later than decision records; the boundary
                    # under test is the router's, so the control waits for a refused state write to reach it
                    with contextlib.suppress(TimeoutError):
                        await until(task.done, 60, "a refused write to reach the router")
                served = failed = 0
                for i in range(commands):
                    text, device, want = COMMANDS[i % len(COMMANDS)]
                    try:
                        decision = await asyncio.to_thread(say, text, edge_id=FULL_EDGE_ID, host="127.0.0.1",
                                                           port=broker.port, timeout=4.0)
                        state = home.state(device).get("state")
                        ok = decision.outcome is Outcome.DONE and state == want
                        if not ok:
                            figures.setdefault("first_failure", f"{text}: {decision.outcome.value} "
                                                                f"{decision.reply!r}, light {state}")
                    except (AutoGLMError, TimeoutError) as exc:
                        ok = False
                        figures.setdefault("first_failure", f"{text}: {exc}")
                    served += ok
                    failed += not ok
                await asyncio.sleep(0.5)  # sensor reports keep arriving while the disk is full
                figures["storage_errors_counted"] = int(sum(
                    s.value for m in edge.metrics.registry.collect() if m.name == "autoglm_edge_storage_errors"
                    for s in m.samples if s.name.endswith("_total")))
                await fill_all(edge, full=False)
                try:
                    decision = await asyncio.to_thread(say, "turn on the kitchen light", edge_id=FULL_EDGE_ID,
                                                       host="127.0.0.1", port=broker.port, timeout=4.0)
                    done = decision.outcome is Outcome.DONE
                except (AutoGLMError, TimeoutError) as exc:  # an edge the full disk stopped answers nothing
                    done = False
                    figures.setdefault("first_failure", f"after room was made: {exc}")
                after = len(await edge.store.decisions(limit=10_000))
                figures["stored_after_room"] = after > before and done
                figures["crashes"] = len(escaped) + task.done()
                if task.done() and not task.cancelled() and (died := task.exception()) is not None:
                    inner = died.exceptions[0] if isinstance(died, BaseExceptionGroup) else died
                    escaped.append(f"route loop: {type(inner).__name__}: {inner}")
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            finally:
                with contextlib.suppress(Exception):
                    await edge.stop()
                await asyncio.to_thread(home.stop)
    finally:
        logging.getLogger().removeHandler(captured)
        loop.set_exception_handler(None)
    texts = captured.texts()
    full_texts = [t for t in texts if "disk is full" in t]
    clear = [t for t in full_texts if any(f in t for f in DB_FILES)]
    return figures | {"served": served, "failed_commands": failed, "full_errors_logged": len(full_texts),
                      "full_errors_naming_file": len(clear), "unclear_errors": len(full_texts) - len(clear),
                      "errors": len(full_texts) - len(clear) + (safeguard and not figures.get("stored_after_room")),
                      "seconds": round(time.monotonic() - started, 1),
                      **({"example_error": clear[0][:200]} if clear else {}),
                      **({"example_unclear": (sorted(set(full_texts) - set(clear)) or [""])[0][:200]}
                         if len(clear) < len(full_texts) else {}),
                      **({"first_crash": escaped[0][:200]} if escaped else {})}


SCENARIOS = (
    Scenario("crash.disk_full", "every database of a running edge filled to its limit (max_page_count): writes "
             "fail with an error naming the full file, logged and counted, and local commands (en, zh) still switch "
             "the lights", lambda d, full, seed: disk_full(d / "full", 200 if full else 12),
             {"crashes": "crashes", "lost": "failed_commands"}),
    Scenario("crash.disk_full.store_first", "negative control: the same edge letting a refused write fail the "
             "request or the message", lambda d, full, seed: disk_full(d / "full-nc", 6, safeguard=False),
             {}, negative_control=True, loss_figure="failed_commands"),
)
