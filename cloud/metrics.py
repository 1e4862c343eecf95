"""Prometheus metrics of one cloud app (own registry: no process-wide globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class CloudMetrics:
    """The API's metrics, all prefixed `autoglm_cloud_`; the planner engine may register its own on `registry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter("autoglm_cloud_http_requests", "HTTP requests, by method, route and status",
                                ["method", "route", "status"], registry=r)
        self.request_latency = Histogram("autoglm_cloud_http_request_latency_seconds", "HTTP request latency",
                                         ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.auth_failures = Counter("autoglm_cloud_auth_failures", "Refused requests, by error code", ["code"],
                                     registry=r)
        self.plans = Counter("autoglm_cloud_plans", "Plan requests, by outcome (proposed or an error code)",
                             ["outcome"], registry=r)
        self.plan_latency = Histogram("autoglm_cloud_plan_latency_seconds", "Planner call plus validation",
                                      buckets=LATENCY_BUCKETS, registry=r)
        self.plan_runs = Counter("autoglm_cloud_plan_runs", "Finished plan runs, by final status", ["status"],
                                 registry=r)
        self.plans_running = Gauge("autoglm_cloud_plans_running", "Plans running now", registry=r)
        self.commands = Counter("autoglm_cloud_commands", "Natural-language commands to edges, by outcome",
                                ["outcome"], registry=r)
        self.twin_conflicts = Counter("autoglm_cloud_twin_conflicts", "Twin updates refused or dropped, by side",
                                      ["side"], registry=r)
