"""deploy/k8s and deploy/kubeedge: every manifest against the Kubernetes schemas offline (kubernetes-validate ships
them), then what each object must say (resources, probes, RBAC, placement) and that it matches the code."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloud.api.health import READY_PLANNER_STATES
from cloud.settings import CloudSettings, load_cloud_settings
from edge.config import HttpSettings, load_settings
from tests.deploy.deploy_env import DEPLOY, ENV_NAME, cli_command_exists, setting_exists

MANIFEST_DIRS = (DEPLOY / "k8s", DEPLOY / "kubeedge")
FILES = sorted(p for d in MANIFEST_DIRS for p in d.glob("*.yaml"))
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "impersonate", "bind", "escalate", "*"}


def kubernetes_validate() -> Any:
    try:
        import kubernetes_validate as kv
    except ModuleNotFoundError:
        pytest.fail("kubernetes-validate is not installed: pip install kubernetes-validate (it ships the schemas)")
    return kv


def load(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


ALL = [(path, doc) for path in FILES for doc in load(path)]


def one(kind: str, name: str) -> dict[str, Any]:
    found = [d for _, d in ALL if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def container(pod_spec: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in pod_spec["containers"] if c["name"] == name)


def test_there_are_manifests() -> None:
    kinds = {d["kind"] for _, d in ALL}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "Role",
            "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ServiceAccount", "Secret", "ConfigMap",
            "DaemonSet"} <= kinds


@pytest.mark.parametrize(("path", "doc"), ALL, ids=[f"{p.parent.name}/{p.name}:{d['kind']}/{d['metadata']['name']}"
                                                     for p, d in ALL])
def test_valid_against_the_kubernetes_schemas(path: Path, doc: dict[str, Any]) -> None:
    kv = kubernetes_validate()
    kv.validate(doc, kv.utils.latest_version(), strict=True)  # raises ValidationError naming the field


def test_the_schema_check_catches_bad_manifests() -> None:
    """Negative control: a wrong type and an unknown field (strict) are refused."""
    kv = kubernetes_validate()
    deployment = one("Deployment", "autoglm-cloud")
    bad = copy.deepcopy(deployment)
    bad["spec"]["replicas"] = "one"
    with pytest.raises(kv.ValidationError):
        kv.validate(bad, kv.utils.latest_version(), strict=True)
    bad = copy.deepcopy(deployment)
    bad["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(kv.ValidationError):
        kv.validate(bad, kv.utils.latest_version(), strict=True)


def test_cloud_deployment_resources_and_probes() -> None:
    pod = one("Deployment", "autoglm-cloud")["spec"]["template"]["spec"]
    cloud = container(pod, "cloud")
    assert cloud["resources"]["limits"] == {"nvidia.com/gpu": 1, "memory": "16Gi", "cpu": "8"}
    assert cloud["resources"]["requests"]["memory"] == "12Gi" and cloud["resources"]["requests"]["cpu"] == "4"
    port = {p["name"]: p["containerPort"] for p in cloud["ports"]}["http"]
    assert port == CloudSettings().port
    live, ready, start = cloud["livenessProbe"], cloud["readinessProbe"], cloud["startupProbe"]
    assert live["httpGet"]["path"] == "/healthz" and live["failureThreshold"] == 5
    assert ready["httpGet"]["path"] == "/readyz"
    assert start["httpGet"]["path"] == "/healthz" and start["failureThreshold"] * start["periodSeconds"] >= 120
    # /readyz is ready while the model loads lazily, not while it is loading (cloud/api/health.py).
    assert "lazy" in READY_PLANNER_STATES and "loading" not in READY_PLANNER_STATES
    assert cli_command_exists(cloud["args"])
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_service_hpa_pdb_and_networkpolicy_select_the_cloud() -> None:
    deployment = one("Deployment", "autoglm-cloud")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = one("Service", "autoglm-cloud")
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["port"] == CloudSettings().port
    hpa = one("HorizontalPodAutoscaler", "autoglm-cloud")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "autoglm-cloud"}
    pdb = one("PodDisruptionBudget", "autoglm-cloud")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    policy = one("NetworkPolicy", "autoglm-cloud-ingress")["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items() and policy["policyTypes"] == ["Ingress"]
    assert len(policy["ingress"]) == 1
    sources = {peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
               for peer in policy["ingress"][0]["from"]}
    assert sources == {"ingress-nginx", "autoglm-broker", "monitoring"}
    assert all("podSelector" in peer for peer in policy["ingress"][0]["from"]), "whole namespaces are not let in"
    assert policy["ingress"][0]["ports"] == [{"protocol": "TCP", "port": CloudSettings().port}]


def test_hpa_scales_on_a_metric_the_planner_exports() -> None:
    hpa = one("HorizontalPodAutoscaler", "autoglm-cloud")
    custom = [m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
    planner_sources = "".join(p.read_text() for p in (DEPLOY.parent / "cloud" / "planner").glob("*.py"))
    assert custom
    for name in custom:
        assert f'"{name}"' in planner_sources, f"{name} is not a metric of cloud/planner"


def test_rbac() -> None:
    developers = one("Role", "autoglm-log-reader")
    assert developers["metadata"]["namespace"] == "autoglm-dev"
    assert {r for rule in developers["rules"] for r in rule["resources"]} == {"pods", "pods/log"}
    assert not {v for rule in developers["rules"] for v in rule["verbs"]} & WRITE_VERBS
    binding = one("RoleBinding", "autoglm-developers-log-reader")
    assert binding["metadata"]["namespace"] == "autoglm-dev" and binding["subjects"][0]["kind"] == "Group"

    deployer_bindings = [d for _, d in ALL if d["kind"] == "RoleBinding" and d["roleRef"]["name"] == "autoglm-deployer"]
    assert {b["metadata"]["namespace"] for b in deployer_bindings} == {"autoglm-staging", "autoglm-production"}
    for b in deployer_bindings:
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": "autoglm-deployer", "namespace": "autoglm-ci"}]
    assert not [d for _, d in ALL if d["kind"] == "ClusterRoleBinding" and d["roleRef"]["name"] == "autoglm-deployer"]
    deployer = one("ClusterRole", "autoglm-deployer")
    assert not any(g.startswith("rbac") for rule in deployer["rules"] for g in rule["apiGroups"]), "no self-promotion"
    assert any("deployments" in rule["resources"] and "patch" in rule["verbs"] for rule in deployer["rules"])

    auditor = one("ClusterRole", "autoglm-auditor")
    assert {v for rule in auditor["rules"] for v in rule["verbs"]} <= {"get", "list", "watch"}
    assert any(rule.get("resources") == ["*"] and rule.get("apiGroups") == ["*"] for rule in auditor["rules"])
    assert one("ClusterRoleBinding", "autoglm-auditors")["roleRef"]["name"] == "autoglm-auditor"


def test_secrets_are_templates() -> None:
    for _, doc in ALL:
        if doc["kind"] == "Secret":
            assert "data" not in doc, "templates use stringData placeholders"
            for key, value in doc["stringData"].items():
                assert "CHANGE_ME" in value or "REPLACE" in value, f"{doc['metadata']['name']}.{key} looks real"


def test_edge_daemonset_on_edge_nodes_with_a_local_broker() -> None:
    daemonset = one("DaemonSet", "autoglm-edge")
    pod = daemonset["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"node-role.kubernetes.io/edge": ""}
    keys = {t["key"] for t in pod["tolerations"]}
    assert {"node-role.kubernetes.io/edge", "node.kubernetes.io/unreachable"} <= keys
    broker = container(pod, "mosquitto")
    assert broker["image"] == "eclipse-mosquitto:2"
    edge = container(pod, "edge")
    assert cli_command_exists(edge["args"])
    assert edge["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": HttpSettings().port}
    assert edge["livenessProbe"]["failureThreshold"] == 5
    assert edge["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in edge["env"]} == {
        "OPEN_AUTOGLM_EDGE__EDGE_ID": "spec.nodeName"}
    for ref in edge["envFrom"]:
        kind, name = ("ConfigMap", ref["configMapRef"]["name"]) if "configMapRef" in ref else (
            "Secret", ref["secretRef"]["name"])
        one(kind, name)
    for volume in pod["volumes"]:
        if "configMap" in volume:
            one("ConfigMap", volume["configMap"]["name"])
        if "secret" in volume:
            assert [d for _, d in ALL if d["kind"] == "Secret" and d["metadata"]["name"] == volume["secret"][
                "secretName"]]


def test_edge_broker_config_is_the_shipped_one() -> None:
    data = one("ConfigMap", "autoglm-edge-mosquitto")["data"]
    assert data["mosquitto.conf"] == (DEPLOY / "mosquitto" / "mosquitto.conf").read_text(encoding="utf-8")
    assert data["acl"] == (DEPLOY / "mosquitto" / "acl").read_text(encoding="utf-8")


def test_env_names_are_real_settings() -> None:
    names = {n for path in FILES for n in ENV_NAME.findall(path.read_text(encoding="utf-8"))}
    assert len(names) > 10
    unknown = sorted(n for n in names if not setting_exists(n))
    assert not unknown, f"settings that do not exist: {unknown}"


def _env_of(*objects: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for obj in objects:
        for key, value in (obj.get("data") or obj.get("stringData") or {}).items():
            env[key] = "https://cloud.example.com" if key.endswith("__URL") and "CHANGE" in value else str(value)
    return env


def test_settings_load(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("OPEN_AUTOGLM_")]:
        monkeypatch.delenv(key)
    with monkeypatch.context() as env:
        for key, value in _env_of(one("ConfigMap", "autoglm-cloud"), one("Secret", "autoglm-cloud")).items():
            env.setenv(key, value)
        cloud = load_cloud_settings()
    assert cloud.mqtt.tls and cloud.mqtt.port == 8883 and cloud.planner.lazy_load and cloud.planner.device == "cuda"
    with monkeypatch.context() as env:
        for key, value in _env_of(one("ConfigMap", "autoglm-edge"), one("Secret", "autoglm-edge")).items():
            env.setenv(key, value)
        env.setenv("OPEN_AUTOGLM_EDGE__EDGE_ID", "node-7")
        edge = load_settings()
    assert edge.edge_id == "node-7" and edge.uplink.mqtt is not None and edge.uplink.mqtt.tls
    assert edge.http.port == HttpSettings().port and edge.mqtt.host == "127.0.0.1"
