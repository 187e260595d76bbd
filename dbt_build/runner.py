"""Run dbt as a subprocess with the project's settings.

A subprocess (not dbt's in-process runner) because dbt keeps global state between invocations and
holds the DuckDB file lock while it runs; a child process releases everything when it exits.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kore.config import DBT_PROJECT_DIR, Settings


@dataclass
class DbtResult:
    ok: bool
    args: list[str]
    stdout: str
    results: list[dict]

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.get("status") == status)


def dbt_executable() -> str:
    local = Path(sys.executable).parent / "dbt"
    return str(local) if local.exists() else (shutil.which("dbt") or "dbt")


def run_dbt(
    settings: Settings,
    args: list[str],
    check: bool = True,
    quiet: bool = True,
    echo: Callable[[str], None] | None = None,
) -> DbtResult:
    """Run ``dbt <args>`` in the project directory; raise with dbt's output tail if it fails.

    ``echo`` receives each line of dbt's output as dbt writes it (``kore build`` streams them to
    stderr, so a 60 s build shows its progress instead of printing nothing until the end).
    """
    env = prepare(settings)
    cmd = [dbt_executable(), *args, *PROJECT_ARGS]
    lines: list[str] = []
    with subprocess.Popen(
        cmd, cwd=DBT_PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if echo is not None:
                echo(line.rstrip("\n"))
    out = "".join(lines)
    res = DbtResult(ok=proc.returncode == 0, args=args, stdout=out, results=read_run_results(settings, args))
    if check and not res.ok:
        raise failure(res, f" (exit {proc.returncode})")
    return res


PROJECT_ARGS = ("--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR))


def prepare(settings: Settings) -> dict[str, str]:
    """The folders dbt writes into, created, and the environment dbt runs with (the project's
    settings; no ANSI colours: the output is captured, streamed into logs and shown in errors)."""
    import os

    settings.dbt_target_dir.mkdir(parents=True, exist_ok=True)
    if settings.target == "duckdb":
        settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    return {**os.environ, **settings.env(), "DBT_USE_COLORS": "false"}


def failure(res: DbtResult, detail: str = "") -> RuntimeError:
    """The error a failed dbt command raises: the command and the tail of dbt's output."""
    tail = "\n".join(res.stdout.splitlines()[-40:])
    return RuntimeError(f"dbt {' '.join(res.args)} failed{detail}:\n{tail}")


def read_run_results(settings: Settings, args: list[str]) -> list[dict]:
    """The node results dbt wrote for a command that runs nodes (empty for parse, compile, ...)."""
    rr = settings.dbt_target_dir / "run_results.json"
    if not (rr.exists() and args and args[0] in ("build", "run", "test", "seed", "snapshot")):
        return []
    try:
        return json.loads(rr.read_text()).get("results", [])
    except (OSError, json.JSONDecodeError):
        return []
