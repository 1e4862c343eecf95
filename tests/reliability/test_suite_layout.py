"""The reliability suite's layout: one scenario (with its negative controls) per module, every scenario module in the
report's order, no module over 300 lines without a reason at its top, and negative controls that switch a safeguard
off through a flag of the real component instead of overriding its private methods."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import bench.reliability
from bench.reliability_report import ORDER, SCENARIOS

PACKAGE = Path(bench.reliability.__path__[0])
#: Private members of product objects the suite still overrides or calls, each waiting for a flag on a component
#: outside bench/ (see the module named): (module, name) -> what would replace it. None now.
KNOWN_PRIVATE: dict[tuple[str, str], str] = {}


def modules() -> dict[str, Path]:
    return {m.name: PACKAGE / f"{m.name}.py" for m in pkgutil.iter_modules([str(PACKAGE)])}


def test_each_scenario_module_holds_one_scenario_and_its_negative_controls() -> None:
    for name in modules():
        scenarios = getattr(importlib.import_module(f"bench.reliability.{name}"), "SCENARIOS", ())
        if not scenarios:
            continue
        measured = [s for s in scenarios if not s.negative_control]
        assert len(measured) == 1, f"{name}: {[s.name for s in measured]}"
        controls = [s for s in scenarios if s.negative_control]
        assert controls and all(c.name.startswith(measured[0].name + ".") for c in controls), name
        assert name in ORDER, f"{name} is missing from reliability_report.ORDER"


def test_the_report_finds_every_scenario_once() -> None:
    names = [s.name for s in SCENARIOS]
    assert len(names) == len(set(names))
    assert set(ORDER) <= set(modules())


def test_no_module_is_over_300_lines_without_a_reason_at_its_top() -> None:
    for name, path in modules().items():
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > 300:
            assert lines[0].startswith("# Over 300 lines: "), f"{name}: {len(lines)} lines and no reason on line 1"


def product_names(tree: ast.Module) -> set[str]:
    """Names a module imports from the product (cloud, edge, shared)."""
    return {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
            and (node.module or "").split(".")[0] in ("cloud", "edge", "shared") for alias in node.names}


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_uses(path: Path) -> set[str]:
    """What a module does to product objects' private members: methods overridden or attributes set in a subclass of a
    product class, members assigned from outside (monkeypatching), and `_dispatch` called past the error boundary."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    product = product_names(tree)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(isinstance(b, ast.Name) and b.id in product for b in node.bases):
            found |= {f.name for f in node.body if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
                      and private(f.name)}
            found |= {t.attr for n in ast.walk(node) if isinstance(n, ast.Assign) for t in n.targets
                      if isinstance(t, ast.Attribute) and private(t.attr)}
        elif isinstance(node, ast.Assign):
            found |= {t.attr for t in node.targets if isinstance(t, ast.Attribute) and private(t.attr)
                      and not (isinstance(t.value, ast.Name) and t.value.id == "self")}
        elif isinstance(node, ast.Attribute) and node.attr == "_dispatch":
            found.add(node.attr)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "patch" \
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str) \
                and node.args[0].value.split(".")[0] in ("cloud", "edge", "shared"):
            found.add(f"patch:{node.args[0].value}")  # monkeypatching a product module by name
    return found


def test_negative_controls_override_no_private_method_beyond_the_known_ones() -> None:
    seen = {(name, member) for name, path in modules().items() for member in private_uses(path)}
    assert seen - set(KNOWN_PRIVATE) == set()
    assert set(KNOWN_PRIVATE) - seen == set(), "a known private use is gone: take it off KNOWN_PRIVATE"
