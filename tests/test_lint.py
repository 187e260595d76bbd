"""Lint is part of the test command: ruff on the Python, sqlfluff on the dbt models."""

from __future__ import annotations

import shutil
import subprocess
import sys

from kore.config import DBT_PROJECT_DIR, REPO_ROOT


def _tool(name: str) -> str:
    from pathlib import Path

    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else (shutil.which(name) or name)


def test_ruff_clean() -> None:
    proc = subprocess.run([_tool("ruff"), "check", "."], cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_sqlfluff_clean() -> None:
    proc = subprocess.run(
        [_tool("sqlfluff"), "lint", "models", "--processes", "2", "--disable-progress-bar", "--nocolor"],
        cwd=DBT_PROJECT_DIR,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
