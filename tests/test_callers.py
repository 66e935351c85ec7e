"""One caller on every call: library code never invents a principal (issue 13, deliverable 1).

Read from the source with ``ast``: in ``spatial/``, ``layers/`` and ``api/`` (the command line
excepted, which passes its operator explicitly),

- no parameter that names a caller (``principal``, ``actor``, ``caller``, ``operator``, ``who``,
  ``user``) has a default value: every call site says who is asking, None included;
- no ``x or …`` expression falls back from a caller to someone else;
- nothing but the command line calls ``local_operator()``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CALLER_NAMES = {"principal", "actor", "caller", "operator", "who", "user"}
PACKAGES = ("spatial", "layers", "api")
OPERATOR_ALLOWED = ("api/cli/", "spatial/access/principal.py")


def _defaults(args: ast.arguments) -> Iterator[tuple[ast.arg, ast.expr]]:
    positional = args.posonlyargs + args.args
    yield from zip(positional[len(positional) - len(args.defaults):], args.defaults, strict=True)
    yield from ((a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None)


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call):
        return _name(node.func)
    return None


def caller_defaults(source: str, where: str) -> list[str]:
    """Every place in ``source`` that makes up a caller."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found += [f"{where}:{node.lineno} {node.name}({arg.arg}=…) has a default caller"
                      for arg, _ in _defaults(node.args) if arg.arg in CALLER_NAMES]  # fmt: skip
        elif isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
            if _name(node.values[0]) in CALLER_NAMES:
                found.append(f"{where}:{node.lineno} falls back from {_name(node.values[0])} to another caller")
        elif (isinstance(node, ast.Call) and _name(node.func) == "local_operator"
              and not where.startswith(OPERATOR_ALLOWED)):  # fmt: skip
            found.append(f"{where}:{node.lineno} calls local_operator() outside the command line")
    return found


def library_files() -> Iterator[tuple[Path, str]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            where = path.relative_to(ROOT).as_posix()
            if "/migrations/versions/" not in where:
                yield path, where


def test_no_code_invents_a_caller() -> None:
    found = [line for path, where in library_files()
             for line in caller_defaults(path.read_text(encoding="utf-8"), where)]  # fmt: skip
    assert found == []


@pytest.mark.parametrize(
    "source, expected",
    [
        ("def f(engine, *, principal=None): ...", "has a default caller"),
        ("def f(engine, principal: object = None): ...", "has a default caller"),
        ("async def f(actor=ADMIN): ...", "has a default caller"),
        ("who = principal or local_operator()", "falls back from principal"),
        ("who = request.principal or ADMIN", "falls back from principal"),
        ("x = local_operator()", "calls local_operator() outside the command line"),
    ],
)
def test_the_checker_sees_an_invented_caller(source: str, expected: str) -> None:
    assert any(expected in line for line in caller_defaults(source, "layers/x.py"))


def test_the_checker_lets_explicit_callers_pass() -> None:
    source = "def f(engine, *, principal): ...\ndef g(p, *, principal=None, door='cli'): ...\n"
    assert [line for line in caller_defaults(source, "layers/x.py") if "f(" in line] == []
    assert caller_defaults("x = local_operator()", "api/cli/layers.py") == []
