"""The direction of imports (api → layers → spatial) and "api holds no SQL", checked on the source.

Every import statement is read with ``ast`` (top level and inside functions alike), so a lazy
import inside a function breaks the rule just as visibly as one at the top of a module.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"spatial": ("layers", "api"), "layers": ("api",)}
# SQL as this project writes it (keywords in capitals): prose such as "select a layer from…" passes
SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+[\w.]+\s+SET|DELETE\s+FROM)\b", re.DOTALL)


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """(top-level package, line) of every absolute import in ``path``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module.split(".")[0], node.lineno))
    return found


def violations(package: str) -> list[str]:
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for imported, line in imported_packages(path):
            if imported in FORBIDDEN[package]:
                out.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    return out


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package: str) -> None:
    assert violations(package) == []


def test_the_checker_sees_a_lazy_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from api.app import create_app\n    import layers.catalog\n")
    assert imported_packages(module) == {("api", 2), ("layers", 3)}


def string_constants(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }  # fmt: skip
    return [
        (node.value, node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_api_holds_no_sql() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted((ROOT / "api").rglob("*.py"))
        if "static" not in path.parts
        for value, line in string_constants(path)
        if SQL.search(value)
    ]
    assert found == []


def test_the_sql_check_sees_a_query() -> None:
    assert SQL.search("SELECT id FROM incidents.incident WHERE id = :id")
    assert SQL.search("UPDATE catalog.layer SET title = :t")
    assert not SQL.search("Select the layer from the list")
