"""Everything deploy/ names that the code must back: metrics, env settings, ports, HTTP paths, CLI commands.

Files are read at test time, whoever wrote them. YAML is parsed (every document; comments are not names), JSON
too; Dockerfiles, Mosquitto configs and the like are read line by line without their comments; in Markdown only
`code spans` count. `scan(root)` works on any folder, so the tests can feed it a bad one.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.deployfiles import METRIC_RE

ENV_RE = re.compile(r"\bOPEN_AUTOGLM_[A-Z0-9_]*[A-Z0-9]")
ENV_SET_RE = re.compile(r"\b(OPEN_AUTOGLM_[A-Z0-9_]*[A-Z0-9])=(\S+)")
URL_RE = re.compile(r"\bhttps?://[A-Za-z0-9_.-]+:(\d+)(/[^\s\"'`)<>,]*)?")
DOTTED_RE = re.compile(r"`((?:edge|cloud|planner)(?:\.[a-z_][a-z0-9_]*)+)`")
#: `autoglm <subcommand> ...` (the first word a lowercase word: `useradd ... autoglm --home-dir` is no command)
CLI_RE = re.compile(r"(?:^|(?<=[\s\"'\[(`]))autoglm((?:[ \t]+[a-z][a-z0-9-]*)(?:[ \t]+[^\s`\"'|;&)]+)*)")
QUOTED_PATH_RE = re.compile(r"""['"](/(?:healthz|readyz|metrics|v1/[a-z0-9/{}_-]*))['"]""")
FILE_SUFFIXES = (".json", ".toml", ".yml", ".yaml", ".db", ".md", ".py", ".Dockerfile", ".conf", ".log", ".txt")
#: Keys whose integer values are ports, in Kubernetes manifests and compose files.
PORT_KEYS = {"containerPort", "port", "targetPort", "hostPort", "nodePort", "published", "target"}


@dataclass
class Mentions:
    """What one scan found; each value is a list of (name, where)."""

    metrics: list[tuple[str, str]] = field(default_factory=list)
    env: list[tuple[str, str]] = field(default_factory=list)
    env_values: dict[str, set[str]] = field(default_factory=dict)
    ports: list[tuple[int, str]] = field(default_factory=list)
    paths: list[tuple[str, str]] = field(default_factory=list)
    commands: list[tuple[list[str], str]] = field(default_factory=list)
    dotted: list[tuple[str, str]] = field(default_factory=list)
    toml: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def text(self, text: str, where: str, *, prose: bool = False) -> None:
        """Names in free text (a YAML scalar, a config line, a Markdown code span)."""
        self.metrics += [(m, where) for m in METRIC_RE.findall(text)]
        self.env += [(m, where) for m in ENV_RE.findall(text)]
        for name, value in ENV_SET_RE.findall(text):
            self.env_values.setdefault(name, set()).add(value.strip("\"'"))
        for port, path in URL_RE.findall(text):
            self.ports.append((int(port), where))
            if path and path != "/":
                self.paths.append((path.split("?")[0].rstrip("/"), where))
        self.paths += [(p, where) for p in QUOTED_PATH_RE.findall(text)]
        self.dotted += [(d, where) for d in DOTTED_RE.findall(text) if not d.endswith(FILE_SUFFIXES)]
        for match in CLI_RE.finditer(text):
            self.command(match.group(1), where)
        if not prose and ("[edge]" in text or "[cloud]" in text or "[planner]" in text):
            self.toml_text(text, where)

    def command(self, args: str | list[str], where: str) -> None:
        try:
            tokens = shlex.split(args) if isinstance(args, str) else list(args)
        except ValueError:
            tokens = args.split() if isinstance(args, str) else list(args)
        words = []
        for token in tokens:
            if token.startswith("$") or token in ("\\",):
                break
            words.append(token)
        self.commands.append((words, where))

    def toml_text(self, text: str, where: str) -> None:
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            return
        self.toml += [(table, doc[table], where) for table in ("edge", "cloud", "planner")
                      if isinstance(doc.get(table), dict)]


def scan(root: Path) -> Mentions:
    """Every file under `root`."""
    found = Mentions()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        where = str(path.relative_to(root.parent))
        found.files.append(where)
        text = path.read_text(errors="replace")
        if path.suffix in (".yml", ".yaml"):
            for i, doc in enumerate(yaml.safe_load_all(text)):
                _walk_yaml(found, doc, f"{where}#{i}")
        elif path.suffix == ".json":
            _walk_yaml(found, json.loads(text), where)
        elif path.suffix == ".md":
            for span in re.findall(r"`([^`\n]+)`", text):
                found.text(f"`{span}`", where, prose=True)
        elif path.suffix == ".toml":
            found.toml_text(text, where)
        else:
            _scan_lines(found, path, text, where)
    return found


def _scan_lines(found: Mentions, path: Path, text: str, where: str) -> None:
    """Dockerfiles and configs: uncommented lines (continuations joined), ports and the image's entrypoint."""
    logical = re.sub(r"\\\n", " ", text)
    entrypoint: list[str] = []
    for line in logical.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        found.text(stripped, where)
        instruction, _, rest = stripped.partition(" ")
        if path.name.endswith("Dockerfile"):
            if instruction == "EXPOSE":
                found.ports += [(int(p.split("/")[0]), where) for p in rest.split()]
            elif instruction in ("ENTRYPOINT", "CMD") and rest.startswith("["):
                words = json.loads(rest)
                if instruction == "ENTRYPOINT":
                    entrypoint = words
                elif entrypoint == ["autoglm"]:
                    found.command(words, where)
        else:  # mosquitto.conf and its bridge: `listener 1883`, `address host:8883`
            if instruction == "listener" and rest.split()[0].isdigit():
                found.ports.append((int(rest.split()[0]), where))
            elif instruction == "address":
                found.ports += [(int(a.rsplit(":", 1)[1]), where) for a in rest.split() if ":" in a]


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _walk_yaml(found: Mentions, node: Any, where: str) -> None:
    """Structured parts first (containers, probes, env, ports, scrape targets), then every string."""
    _structure(found, node, where)
    for text in _strings(node):
        found.text(text, where)


def _ours(image: Any) -> bool:
    """Our images (deploy/docker/*.Dockerfile, ENTRYPOINT autoglm): autoglm-edge, .../autoglm/cloud:tag."""
    return isinstance(image, str) and re.search(r"(^|/)autoglm[-/](edge|cloud)(:|@|$)", image) is not None


def _structure(found: Mentions, node: Any, where: str) -> None:
    if isinstance(node, list):
        for item in node:
            _structure(found, item, where)
        return
    if not isinstance(node, dict):
        return
    # a container (Kubernetes) or a compose service built from our images: ENTRYPOINT is `autoglm`
    if _ours(node.get("image")) or (isinstance(node.get("build"), dict)
                                    and "deploy/docker/" in str(node["build"].get("dockerfile", ""))):
        # Kubernetes (a container has a `name`): `command` replaces the ENTRYPOINT, `args` follow it.
        # Compose: `entrypoint` replaces it, `command` follows it. A replaced entrypoint is left to the text scan.
        if "name" in node:
            given = node.get("args") if node.get("command") is None else None
        else:
            given = node.get("command") if node.get("entrypoint") is None else None
        explicit = given[0] if isinstance(given, list) and given else str(given or "").split(" ")[0]
        if given is not None and explicit != "autoglm":
            found.command(given if isinstance(given, list) else shlex.split(str(given)), where)
    # env: Kubernetes `- name: X / value: V`, compose `environment: {X: V}` or ["X=V"], ConfigMap data
    if isinstance(node.get("name"), str) and node["name"].startswith("OPEN_AUTOGLM_") and "value" in node:
        found.env_values.setdefault(node["name"], set()).add(str(node["value"]))
    for key, value in node.items():
        if isinstance(key, str) and key.startswith("OPEN_AUTOGLM_") and not isinstance(value, (dict, list)):
            found.env_values.setdefault(key, set()).add(str(value))
        if key in PORT_KEYS and isinstance(value, int):
            found.ports.append((value, where))
        if key == "httpGet" and isinstance(value, dict):
            if isinstance(value.get("path"), str):
                found.paths.append((value["path"], where))
            if isinstance(value.get("port"), int):
                found.ports.append((value["port"], where))
        if key in ("metrics_path", "prometheus.io/path") and isinstance(value, str):
            found.paths.append((value, where))
        if key == "prometheus.io/port" and str(value).isdigit():
            found.ports.append((int(value), where))
        if key == "targets" and isinstance(value, list):  # Prometheus static_configs
            found.ports += [(int(t.rsplit(":", 1)[1]), where) for t in value
                            if isinstance(t, str) and t.rsplit(":", 1)[-1].isdigit()]
        if key in ("ports", "expose") and isinstance(value, list):  # compose "127.0.0.1:8080:8080", "9090"
            for item in value:
                if isinstance(item, (str, int)):
                    found.ports += [(int(p.split("/")[0]), where) for p in str(item).split(":")[-2:]
                                    if p.split("/")[0].isdigit()]
        if key == "url" and isinstance(value, str):  # Grafana data source
            found.text(value, where)
        _structure(found, value, where)
