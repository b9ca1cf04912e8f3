"""Static checks of the Python code, run by the README's test command.

The package ships ``py.typed``, so services that import it type-check against its
annotations: ``mypy --strict`` over ``tessera_db`` must be clean. ``ruff check`` keeps
the whole repository (package, tests, benchmarks, migrations) free of pyflakes,
pycodestyle, bugbear and import-order findings. Both read their settings from
pyproject.toml, so running them by hand gives the same answer.
"""

from __future__ import annotations

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
