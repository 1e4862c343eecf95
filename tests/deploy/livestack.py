"""The demo's parts as real child processes (home, edge, cloud with the shipped tiny planner) and a real
Prometheus (Debian's package) scraping them with the shipped config, retargeted at the test's ports."""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.reliability.procs import free_port, wait_for_port
from cloud.auth import issue_token
from cloud.sqlite_store import SqliteStore
from tests.conftest import BrokerInfo
from tests.deploy.deployfiles import PROMETHEUS, prometheus_binary

EDGE_ID = "deploy-edge"


def autoglm() -> list[str]:
    """The CLI of this environment."""
    script = Path(sys.executable).with_name("autoglm")
    return [str(script)] if script.exists() else [sys.executable, "-m", "autoglm.cli"]


class Stack:
    """Home, edge, cloud and Prometheus as child processes; their logs stay in `work`."""

    def __init__(self, work: Path, broker: BrokerInfo) -> None:
        self.work, self.broker = work, broker
        self.api_port, self.edge_port, self.prom_port = free_port(), free_port(), free_port()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.operator = ""
        self.edge_token = ""

    async def seed_cloud(self) -> None:
        """Register the edge; tokens for it and for an operator."""
        store = SqliteStore(self.work / "cloud.db")
        await store.open()
        try:
            await store.upsert_edge(EDGE_ID, site="home", name="deploy test")
            edge, operator = issue_token("edge", edge_id=EDGE_ID), issue_token("operator", name="deploy-test")
            await store.add_token(edge.record)
            await store.add_token(operator.record)
        finally:
            await store.close()
        self.edge_token, self.operator = edge.secret, operator.secret

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        with (self.work / f"{name}.log").open("ab") as log:
            self.procs[name] = subprocess.Popen(args, env={**os.environ, **(env or {})}, stdout=log, stderr=log)

    def start_parts(self) -> None:
        """`autoglm devices simulate`, `autoglm cloud serve`, `autoglm edge run`, all on the test broker."""
        port = str(self.broker.port)
        self._spawn("home", [*autoglm(), "devices", "simulate", "--port", port, "--log-level", "warning"])
        self._spawn("cloud", [*autoglm(), "cloud", "serve", "--port", str(self.api_port), "--db",
                              str(self.work / "cloud.db"), "--log-level", "warning"],
                    {"OPEN_AUTOGLM_CLOUD__MQTT__HOST": "127.0.0.1", "OPEN_AUTOGLM_CLOUD__MQTT__PORT": port,
                     # a queue of one, so a burst of plans shows the overload refusals the alert watches
                     "OPEN_AUTOGLM_PLANNER__MAX_QUEUE": "1"})
        self._spawn("edge", [*autoglm(), "edge", "run", "--log-level", "warning"],
                    {"OPEN_AUTOGLM_EDGE__EDGE_ID": EDGE_ID, "OPEN_AUTOGLM_EDGE__DATA_DIR": str(self.work / "edge"),
                     "OPEN_AUTOGLM_EDGE__MQTT__PORT": port, "OPEN_AUTOGLM_EDGE__HTTP__PORT": str(self.edge_port),
                     "OPEN_AUTOGLM_EDGE__CLOUD__URL": f"http://127.0.0.1:{self.api_port}",
                     "OPEN_AUTOGLM_EDGE__CLOUD__TOKEN": self.edge_token,
                     # two commands to one device in a minute are a burst: the anomaly metric gets data
                     "OPEN_AUTOGLM_EDGE__MONITOR__DEVICE_FLOOR": "1"})

    def prometheus_config(self) -> dict[str, Any]:
        """deploy/prometheus/prometheus.yml with a 1 s scrape interval and the test's targets (no DCGM: no GPU)."""
        config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
        config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
        config["rule_files"] = [str(PROMETHEUS / pattern) for pattern in config["rule_files"]]
        targets = {"autoglm-edge": self.edge_port, "autoglm-cloud": self.api_port}
        jobs = [job for job in config["scrape_configs"] if job["job_name"] in targets]
        assert len(jobs) == 2, "prometheus.yml must have jobs autoglm-edge and autoglm-cloud"
        for job in jobs:
            job["static_configs"] = [{"targets": [f"127.0.0.1:{targets[job['job_name']]}"]}]
        config["scrape_configs"] = jobs
        return config

    def start_prometheus(self) -> None:
        path = self.work / "prometheus.yml"
        path.write_text(yaml.safe_dump(self.prometheus_config()))
        self._spawn("prometheus", [prometheus_binary(), f"--config.file={path}",
                                   f"--storage.tsdb.path={self.work / 'tsdb'}",
                                   f"--web.listen-address=127.0.0.1:{self.prom_port}", "--log.level=warn"])

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Until the edge, the cloud (planner loaded) and Prometheus answer ready."""
        deadline = time.monotonic() + timeout
        urls = {"edge": f"http://127.0.0.1:{self.edge_port}/readyz", "cloud": f"http://127.0.0.1:{self.api_port}/readyz",
                "prometheus": f"http://127.0.0.1:{self.prom_port}/-/ready"}
        pending = dict(urls)
        while pending:
            for name, url in list(pending.items()):
                proc = self.procs[name]
                assert proc.poll() is None, f"{name} exited with {proc.returncode}: {self.log_tail(name)}"
                try:
                    if httpx.get(url, timeout=2).status_code == 200:
                        del pending[name]
                except httpx.HTTPError:
                    pass
            if pending and time.monotonic() > deadline:
                raise AssertionError(f"not ready after {timeout}s: {sorted(pending)}; "
                                     + "; ".join(f"{n}: {self.log_tail(n)}" for n in pending))
            time.sleep(0.2)
        wait_for_port(self.broker.port)

    def log_tail(self, name: str, chars: int = 1500) -> str:
        path = self.work / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()

    # Prometheus's HTTP API

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector (raises with Prometheus's error on a bad query)."""
        reply = httpx.get(f"http://127.0.0.1:{self.prom_port}/api/v1/query", params={"query": expr}, timeout=10)
        body = reply.json()
        assert body.get("status") == "success", f"query {expr!r} failed: {body.get('error')}"
        result = body["data"]["result"]
        return result if isinstance(result, list) else [{"value": result}]

    def api(self, path: str, **params: Any) -> Any:
        body = httpx.get(f"http://127.0.0.1:{self.prom_port}/api/v1/{path}", params=params, timeout=10).json()
        assert body.get("status") == "success", f"{path}: {body}"
        return body["data"]


def has_data(result: list[dict[str, Any]]) -> bool:
    """At least one sample with a finite value (a NaN quantile shows as no data in Grafana)."""
    return any(math.isfinite(float(r["value"][1])) for r in result)


async def poll(check: Any, timeout: float) -> Any:
    """`check()` until it returns an empty list of problems, else the last problems."""
    deadline = time.monotonic() + timeout
    while True:
        problems = await asyncio.to_thread(check)
        if not problems or time.monotonic() > deadline:
            return problems
        await asyncio.sleep(1)
