"""Static checks of the Python code, run by the README's test command.

The package ships ``py.typed``, so services that import it type-check against its
annotations: ``mypy --strict`` over ``tessera_db`` must be clean. ``ruff check`` keeps
the whole repository (package, tests, benchmarks, migrations) free of pyflakes,
pycodestyle, bugbear and import-order findings. Both read their settings from
pyproject.toml, so running them by hand gives the same answer.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.mark.parametrize("command", [
    pytest.param([str(BIN / "mypy")], id="mypy-strict"),
    pytest.param([str(BIN / "ruff"), "check", "--no-cache", "."], id="ruff"),
])
def test_static_check_is_clean(command: list[str]) -> None:
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    tool = Path(command[0]).name
    assert result.returncode == 0, f"{tool} found problems:\n{result.stdout}{result.stderr}"


def test_nothing_in_the_package_imports_the_cli_module() -> None:
    """tessera_db/cli.py sits on top: it imports the command groups and what they share
    (tessera_db/commands/_options.py); no module of the package imports it back, so the
    CLI reads top down and no import has to be deferred to dodge a cycle."""
    offenders = []
    for path in sorted((REPO / "tessera_db").rglob("*.py")):
        if path.name == "cli.py" and path.parent.name == "tessera_db":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            if isinstance(node, ast.ImportFrom) and node.module == "tessera_db":
                names = [f"tessera_db.{a.name}" for a in node.names]
            if "tessera_db.cli" in names:
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []
