"""Planner (or any outside) text never reaches a shell, eval/exec/compile, or SQL built as a string.

Walks the AST of every module under shared/, edge/, cloud/ and autoglm/ and fails on: eval/exec/compile of anything
but a literal; os.system/os.popen and shell-running asyncio helpers; subprocess calls with shell=True (or a shell
flag that is not a literal False); and SQL execute()/executemany()/executescript()/query() calls whose statement is
an f-string, a %-format, a .format() or a + concatenation with a non-constant part (values go in `?` parameters).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "edge", "cloud", "autoglm")
SQL_CALLS = frozenset({"execute", "executemany", "executescript", "query"})
SHELLS = frozenset({("os", "system"), ("os", "popen"), ("asyncio", "create_subprocess_shell")})
SUBPROCESS = frozenset({"run", "call", "check_call", "check_output", "Popen", "getoutput", "getstatusoutput"})


def _literal(node: ast.expr | None, known: frozenset[str]) -> bool:
    """True for a value made only of literals and known constant names (no outside text can be in it)."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return node.id in known
    if isinstance(node, ast.JoinedStr):
        return all(_literal(part.value if isinstance(part, ast.FormattedValue) else part, known)
                   for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _literal(node.left, known) and _literal(node.right, known)
    if isinstance(node, ast.IfExp):
        return _literal(node.body, known) and _literal(node.orelse, known)
    return False


def _bindings(target: ast.expr, value: ast.expr) -> list[tuple[str, ast.expr | None]]:
    """(name, value) for each name an assignment binds; None where the value is not known element-wise."""
    if isinstance(target, ast.Name):
        return [(target.id, value)]
    if isinstance(target, ast.Tuple):
        if isinstance(value, ast.IfExp):  # a, b = (x, y) if c else (u, v): each name from both branches
            return _bindings(target, value.body) + _bindings(target, value.orelse)
        if isinstance(value, ast.Tuple) and len(value.elts) == len(target.elts):
            return [b for t, v in zip(target.elts, value.elts, strict=True) for b in _bindings(t, v)]
        return [(n.id, None) for n in ast.walk(target) if isinstance(n, ast.Name)]
    return []


def _constants(body: list[ast.stmt], known: frozenset[str], args: ast.arguments | None = None) -> frozenset[str]:
    """Names in this scope that only ever hold literals: constants, `Literal[...]` parameters, literal locals."""
    values: dict[str, list[ast.expr | None]] = {}
    for node in (n for stmt in body for n in ast.walk(stmt)):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                for name, value in _bindings(target, node.value):
                    values.setdefault(name, []).append(value)
        elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.For | ast.With | ast.NamedExpr):
            for name in (n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)):
                values.setdefault(name, []).append(node.value if isinstance(node, ast.AnnAssign) else None)
    found = set(known)
    for _ in range(3):  # constants defined from constants
        found |= {name for name, vs in values.items() if all(_literal(v, frozenset(found)) for v in vs)}
    for arg in (args.args + args.kwonlyargs) if args else []:
        literal = isinstance(arg.annotation, ast.Subscript) and isinstance(arg.annotation.value, ast.Name) and (
            arg.annotation.value.id == "Literal")
        (found.add if literal else found.discard)(arg.arg)
    return frozenset(found)


def _built(node: ast.expr, known: frozenset[str]) -> bool:
    """True for a string built from something that is not a literal: f-string, %, .format(), +."""
    if isinstance(node, ast.JoinedStr | ast.BinOp):  # a plain name passes a statement through: its maker is checked
        return not _literal(node, known)
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"


def _dotted(func: ast.expr) -> tuple[str, str] | None:
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.value.id, func.attr
    return None


def _calls(body: list[ast.stmt], known: frozenset[str]) -> list[tuple[ast.Call, frozenset[str]]]:
    """Every call in this scope with the constant names it sees; nested functions get their own scope."""
    found: list[tuple[ast.Call, frozenset[str]]] = []
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            inner = node.body if isinstance(node.body, list) else [ast.Expr(node.body)]
            found += _calls(inner, _constants(inner, known, node.args))
            continue
        if isinstance(node, ast.Call):
            found.append((node, known))
        stack.extend(ast.iter_child_nodes(node))
    return found


def findings(source: str, filename: str = "<snippet>") -> list[str]:
    """Every dynamic-code use in `source`, as 'file:line: what'."""
    module = ast.parse(source, filename)
    top = [stmt for stmt in module.body if not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef
                                                                  | ast.ClassDef)]
    found = []
    for node, known in _calls(module.body, _constants(top, frozenset())):
        where = f"{filename}:{node.lineno}"
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        dotted = _dotted(func)
        # The builtins only: model.eval(), re.compile() and torch.compile() do not run text as code.
        builtin = isinstance(func, ast.Name) or (dotted is not None and dotted[0] == "builtins")
        if builtin and name in ("eval", "exec", "compile") and (
                not node.args or not isinstance(node.args[0], ast.Constant)):
            found.append(f"{where}: {name}() of a non-literal")
        if dotted in SHELLS:
            found.append(f"{where}: {'.'.join(dotted)}() runs a shell")
        if dotted is not None and dotted[0] == "subprocess" and dotted[1] in SUBPROCESS:
            if dotted[1] in ("getoutput", "getstatusoutput"):
                found.append(f"{where}: subprocess.{dotted[1]}() runs a shell")
            for keyword in node.keywords:
                if keyword.arg == "shell" and not (isinstance(keyword.value, ast.Constant)
                                                   and keyword.value.value is False):
                    found.append(f"{where}: subprocess.{dotted[1]}(shell=...)")
        if name in SQL_CALLS and isinstance(func, ast.Attribute) and node.args and _built(node.args[0], known):
            found.append(f"{where}: {name}() of SQL built as a string")
    return found


def test_no_module_runs_text_as_code_shell_or_sql() -> None:
    files = sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))
    assert len(files) > 100
    problems = [f for path in files for f in findings(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert problems == []


BAD = '''
import os, subprocess, sqlite3
eval(plan_text)
exec("x = 1" + plan_text)
compile(source, "<plan>", "exec")
os.system("echo " + name)
subprocess.run(command, shell=True)
subprocess.check_output(["ls"], shell=flag)
db.execute(f"SELECT * FROM devices WHERE name = '{name}'")
db.execute("DELETE FROM plans WHERE id = %s" % plan_id)
cursor.executemany("INSERT INTO t VALUES (" + values + ")", rows)
db.query("SELECT {}".format(column))
def by_side(side: str):
    db.execute(f"SELECT {side} FROM twin")
def by_site(site):
    db.execute("SELECT * FROM edges WHERE site = '%s'" % site)
def by_filter(device_id):
    where = "WHERE id = " + device_id
    db.execute(f"SELECT * FROM twin {where}")
'''

GOOD = '''
import re, subprocess
eval("1 + 1")
model.eval()
pattern = re.compile(text)
model = torch.compile(model)
subprocess.run(["mosquitto", "-c", path], shell=False)
subprocess.run(["ls"])
db.execute("SELECT * FROM devices WHERE name = ?", [name])
db.execute("SELECT * FROM devices " "WHERE id = ?", [device_id])
db.execute("SELECT * FROM devices " + "WHERE id = ?", [device_id])
db.execute(f"PRAGMA user_version")
TABLE = "outbox"
db.execute(f"DELETE FROM {TABLE} WHERE seq = ?", [seq])
def by_side(side: Literal["reported", "desired"], device_id):
    where, args = ("WHERE id = ?", [device_id]) if device_id else ("", [])
    db.execute(f"SELECT {side} FROM twin {where}", args)
'''


def test_the_check_catches_each_bad_form_and_passes_the_safe_ones() -> None:
    bad = findings(BAD)
    assert len(bad) == 13, bad
    assert findings(GOOD) == []
