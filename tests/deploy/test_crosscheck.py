"""Every metric, port, HTTP path, setting and CLI command named in deploy/ exists in the code.

deploy/ is read at test time (all files, whoever wrote them: tests/deploy/deployscan.py says how). The code's
side comes from the code itself: the metric registries the daemons build, the FastAPI routes of the edge and
cloud apps, the pydantic settings models, the typer app. The negative tests feed the same checks a folder of
wrong names and see each one caught.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.deploy.codefacts import check_cli, check_dotted_setting, check_env_name, check_toml_table, facts
from tests.deploy.deployfiles import DEPLOY, exempt
from tests.deploy.deployscan import Mentions, scan

#: Ports of the third-party services deploy/ runs next to ours; everything else must be one of our settings.
THIRD_PARTY_PORTS = {9090: "Prometheus", 3000: "Grafana", 9400: "NVIDIA DCGM exporter",
                     8883: "MQTT over TLS (Mosquitto or EMQX listener, the bridge's and uplink's target)"}
#: Paths served by those services (health checks, the OpenAI-compatible API of vLLM/SGLang).
THIRD_PARTY_PATHS = {"/-/healthy": "Prometheus", "/-/ready": "Prometheus", "/api/health": "Grafana",
                     "/v1": "vLLM/SGLang OpenAI-compatible base URL"}
#: The DCGM exporter's GPU metrics deploy/ may name (dcgm-exporter default counters); nothing else is exempt.
DCGM_METRICS = {"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_GPU_TEMP",
                "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_MEM_COPY_UTIL", "DCGM_FI_DEV_SM_CLOCK",
                "DCGM_FI_DEV_MEM_CLOCK"}


def metric_problems(found: Mentions) -> list[str]:
    code = facts()
    problems = []
    for name, where in found.metrics:
        if exempt(name):
            if name not in DCGM_METRICS:
                problems.append(f"{where}: {name} is not a DCGM exporter metric")
        elif name not in code.series and not (where.endswith(".md") and name in code.families):
            problems.append(f"{where}: metric {name} is not exported by the edge, cloud or planner")
    return sorted(set(problems))


def env_problems(found: Mentions) -> list[str]:
    names = {(n, w) for n, w in found.env} | {(n, "env") for n in found.env_values}
    return sorted({f"{where}: {problem}" for name, where in names if (problem := check_env_name(name))})


def known_ports(found: Mentions) -> dict[int, str]:
    """Our settings' defaults, the ports deploy/ sets through OPEN_AUTOGLM_* variables, and third parties'."""
    ports = dict(facts().default_ports) | THIRD_PARTY_PORTS
    for name, values in found.env_values.items():
        for value in values:
            if name.endswith("__PORT") and value.isdigit():
                ports[int(value)] = name
            elif name.endswith("__URL") and urlsplit(value).port:
                ports[int(urlsplit(value).port or 0)] = name
    return ports


def port_problems(found: Mentions) -> list[str]:
    known = known_ports(found)
    return sorted({f"{where}: port {port} is no setting's default, no OPEN_AUTOGLM_*PORT value and no known "
                   "service's" for port, where in found.ports if port not in known})


def path_problems(found: Mentions) -> list[str]:
    code = facts()
    served = code.edge_paths | code.cloud_paths | set(THIRD_PARTY_PATHS)
    return sorted({f"{where}: HTTP path {path} is served by neither the edge nor the cloud"
                   for path, where in found.paths if path not in served})


def cli_problems(found: Mentions) -> list[str]:
    return sorted({f"{where}: {problem}" for words, where in found.commands if (problem := check_cli(words))})


def settings_problems(found: Mentions) -> list[str]:
    problems = {f"{where}: {p}" for path, where in found.dotted if (p := check_dotted_setting(path))}
    for table, values, where in found.toml:
        problems |= {f"{where}: {p}" for p in check_toml_table(table, values)}
    return sorted(problems)


@pytest.fixture(scope="module")
def deploy() -> Mentions:
    found = scan(DEPLOY)
    assert len(found.files) >= 8, f"deploy/ looks empty: {found.files}"
    return found


def test_metrics_exist(deploy: Mentions) -> None:
    assert len({m for m, _ in deploy.metrics}) >= 20, "the dashboards and rules name our metrics"
    assert not metric_problems(deploy), "\n".join(metric_problems(deploy))


def test_env_settings_exist(deploy: Mentions) -> None:
    assert deploy.env, "deploy/ sets OPEN_AUTOGLM_* variables"
    assert not env_problems(deploy), "\n".join(env_problems(deploy))


def test_ports_are_the_settings(deploy: Mentions) -> None:
    ports = {p for p, _ in deploy.ports}
    assert {8080, 8081} <= ports, f"deploy/ names the cloud and edge HTTP ports: {sorted(ports)}"
    assert not port_problems(deploy), "\n".join(port_problems(deploy))


def test_http_paths_are_routes(deploy: Mentions) -> None:
    assert {"/healthz", "/metrics"} <= {p for p, _ in deploy.paths}
    assert not path_problems(deploy), "\n".join(path_problems(deploy))


def test_cli_commands_exist(deploy: Mentions) -> None:
    assert any(words[:2] == ["edge", "run"] for words, _ in deploy.commands), deploy.commands
    assert not cli_problems(deploy), "\n".join(cli_problems(deploy))


def test_settings_paths_and_tables_exist(deploy: Mentions) -> None:
    assert not settings_problems(deploy), "\n".join(settings_problems(deploy))


def test_every_panel_uses_the_provisioned_datasource() -> None:
    import yaml

    sources = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())["datasources"]
    uids = {s["uid"] for s in sources}
    for path in (DEPLOY / "grafana/dashboards").glob("*.json"):
        board = json.loads(path.read_text())
        assert 36 <= board["schemaVersion"] <= 41, f"{path.name}: schemaVersion of Grafana 10/11"
        for panel in board["panels"]:
            refs = [panel.get("datasource"), *(t.get("datasource") for t in panel.get("targets", []))]
            assert all(r and r.get("uid") in uids for r in refs), f"{path.name} / {panel['title']}: {refs}"


# Negative controls: the same checks on a folder of wrong names.

BAD_FILES = {
    "compose.yaml": """
services:
  edge:
    image: autoglm-edge:latest
    command: ["edge", "walk"]
    environment:
      OPEN_AUTOGLM_EDGE__HTTP__PROT: "8081"
      OPEN_AUTOGLM_CLOUD__PLANNER__MAX_QUEUE: "9"
    ports: ["127.0.0.1:8089:8089"]
    healthcheck:
      test: ["CMD", "curl", "-f", "http://127.0.0.1:8081/healthy"]
  cloud:
    image: autoglm-cloud:latest
    command: ["cloud", "serve", "--prot", "8080"]
""",
    "rules.yml": """
groups:
  - name: bad
    rules:
      - alert: Bad
        expr: autoglm_edge_decisions > 0 or autoglm_edge_nonexistent_total > 0 or DCGM_FI_MADE_UP > 0
""",
    "README.md": "Set `edge.http.prot` and run `autoglm edge fly`; `autoglm_planner_queue_depth_total` shows it.\n",
    "edge.toml": "[edge]\nedge_id = 'x'\n[edge.mqtt]\nhots = 'broker'\n",
    "daemonset.yaml": """
spec:
  template:
    spec:
      containers:
        - name: edge
          image: registry.example.com/autoglm/edge:0.1.0
          args: ["edge", "jump"]
        - name: seed
          image: registry.example.com/autoglm/edge:0.1.0
          command: ["sh", "-c", "autoglm edge run --bogus 1"]
""",
    "edge.Dockerfile": 'FROM python:3.12-slim\nEXPOSE 8090\nENTRYPOINT ["autoglm"]\nCMD ["edge", "ran"]\n',
}


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> Mentions:
    root = tmp_path_factory.mktemp("bad") / "deploy"
    root.mkdir()
    for name, text in BAD_FILES.items():
        (root / name).write_text(text)
    return scan(root)


def test_bad_metric_names_are_caught(bad: Mentions) -> None:
    text = "\n".join(metric_problems(bad))
    assert "autoglm_edge_nonexistent_total" in text
    assert "autoglm_edge_decisions is not exported" in text  # a counter without _total
    assert "autoglm_planner_queue_depth_total" in text  # a gauge with one
    assert "DCGM_FI_MADE_UP is not a DCGM" in text


def test_bad_env_names_are_caught(bad: Mentions) -> None:
    text = "\n".join(env_problems(bad))
    assert "OPEN_AUTOGLM_EDGE__HTTP__PROT" in text and "OPEN_AUTOGLM_CLOUD__PLANNER__MAX_QUEUE" in text


def test_bad_ports_and_paths_are_caught(bad: Mentions) -> None:
    ports = "\n".join(port_problems(bad))
    assert "'sh'" not in "\n".join(cli_problems(bad))  # a Kubernetes `command` replaces the entrypoint
    assert "port 8089" in ports and "port 8090" in ports and "port 8081" not in ports
    assert "/healthy" in "\n".join(path_problems(bad))


def test_bad_commands_are_caught(bad: Mentions) -> None:
    text = "\n".join(cli_problems(bad))
    for wrong in ("'walk'", "'fly'", "'ran'", "--prot", "'jump'", "--bogus"):
        assert wrong in text, f"{wrong} not caught:\n{text}"


def test_bad_settings_are_caught(bad: Mentions) -> None:
    text = "\n".join(settings_problems(bad))
    assert "edge.http.prot" in text and "hots" in text


def test_the_checks_pass_on_good_names(tmp_path: Path) -> None:
    """The negative controls fail for the wrong names only: the same files, corrected, pass."""
    root = tmp_path / "deploy"
    root.mkdir()
    (root / "compose.yaml").write_text(BAD_FILES["compose.yaml"].replace("walk", "run").replace("PROT", "PORT")
                                       .replace("OPEN_AUTOGLM_CLOUD__PLANNER__", "OPEN_AUTOGLM_PLANNER__")
                                       .replace("8089", "8081").replace("/healthy", "/healthz")
                                       .replace("--prot", "--port"))
    good = scan(root)
    assert not (metric_problems(good) + env_problems(good) + port_problems(good) + path_problems(good)
                + cli_problems(good)), "the corrected files still fail"
