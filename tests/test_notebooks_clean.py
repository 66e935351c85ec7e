"""Notebooks are kept in git without outputs: a notebook saved with its results fails here.

Strip one with ``.venv/bin/jupyter nbconvert --clear-output --inplace notebooks/NAME.ipynb``.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from spatial.config import PROJECT_ROOT

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks() -> None:
    assert len(NOTEBOOKS) >= 5


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_no_outputs(path) -> None:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    dirty = [i for i, cell in enumerate(notebook["cells"])
             if cell.get("outputs") or cell.get("execution_count") is not None]  # fmt: skip
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing"


def test_committed_notebooks_have_no_outputs() -> None:
    """The versions in git's index, not only the working copies."""
    listed = subprocess.run(["git", "ls-files", "notebooks/*.ipynb"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, check=False)  # fmt: skip
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    for name in listed.stdout.split():
        shown = subprocess.run(["git", "show", f":{name}"], cwd=PROJECT_ROOT, capture_output=True,
                               text=True, check=True)  # fmt: skip
        cells = json.loads(shown.stdout)["cells"]
        assert not any(c.get("outputs") for c in cells), f"{name} is committed with outputs"
