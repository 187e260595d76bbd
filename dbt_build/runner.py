"""Run dbt as a subprocess with the project's settings.

A subprocess (not dbt's in-process runner) because dbt keeps global state between invocations and
holds the DuckDB file lock while it runs; a child process releases everything when it exits.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kore.config import DBT_PROJECT_DIR, Settings, dbt_parse_cache


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
    seed_parse_state(settings, env, args)
    cmd = [dbt_executable(), *args, *PROJECT_ARGS]
    lines: list[str] = []
    with subprocess.Popen(
        cmd, cwd=dbt_cwd(settings), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if echo is not None:
                echo(line.rstrip("\n"))
    out = "".join(lines)
    res = DbtResult(ok=proc.returncode == 0, args=args, stdout=out, results=read_run_results(settings, args))
    if res.ok:
        keep_parse_state(settings, env, args)
    if check and not res.ok:
        raise failure(res, f" (exit {proc.returncode})")
    return res


PROJECT_ARGS = ("--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR))


def prepare(settings: Settings) -> dict[str, str]:
    """The folders dbt writes into, created, and the environment dbt runs with (the project's
    settings; no ANSI colours: the output is captured, streamed into logs and shown in errors).

    On DuckDB the profile gets the warehouse file by its name and dbt runs in the file's folder
    (:func:`dbt_cwd`): dbt's parse state records the profile's connection values, the path among
    them, so with the full path every workdir's state differed and no workdir could start from
    another's (:func:`seed_parse_state`). The file dbt opens is the same."""
    settings.dbt_target_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **settings.env(), "DBT_USE_COLORS": "false"}
    if settings.target == "duckdb":
        settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
        env["KORE_DUCKDB_PATH"] = settings.duckdb_path.name
    return env


def dbt_cwd(settings: Settings) -> Path:
    """The folder dbt runs in: the warehouse file's on DuckDB (the profile names the file relative to
    it, :func:`prepare`), else the project's. The project, profile, target and log folders are
    passed as absolute paths, so nothing else depends on it."""
    return settings.duckdb_path.parent if settings.target == "duckdb" else DBT_PROJECT_DIR


PARSE_STATE = "partial_parse.msgpack"
# left out of the cache key: the workdir (differs by design) and the cache's own folder; secrets never
# enter it, not even hashed (dbt's own check still compares the profile)
_NOT_IN_PARSE_KEY = frozenset({"KORE_WORKDIR", "KORE_DBT_PARSE_CACHE"})
_SECRET = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIAL", re.IGNORECASE)


def _parse_state_key(env: dict[str, str], args: list[str]) -> str:
    """What dbt's saved parse state depends on besides the project files (which dbt compares file by
    file itself): the project's settings in the environment (flavour, excluded types, target,
    warehouse file name, schema prefix, ...: every ``KORE_`` value but the workdir, the cache folder
    and secrets) and the command's ``--vars``. A cached state per combination, named by a hash."""
    vars_arg = args[args.index("--vars") + 1] if "--vars" in args[:-1] else ""
    kore = {
        k: v for k, v in env.items() if k.startswith("KORE_") and k not in _NOT_IN_PARSE_KEY and not _SECRET.search(k)
    }
    text = json.dumps([kore, vars_arg, str(DBT_PROJECT_DIR)], sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _cached_state(env: dict[str, str], args: list[str]) -> Path | None:
    """The cached parse state for these settings (``KORE_DBT_PARSE_CACHE``); None: no cache."""
    cache = dbt_parse_cache()
    return None if cache is None else cache / f"{_parse_state_key(env, args)}.msgpack"


def seed_parse_state(settings: Settings, env: dict[str, str], args: list[str]) -> None:
    """A workdir without dbt's parse state starts from the cached one (``KORE_DBT_PARSE_CACHE``,
    :func:`kore.config.dbt_parse_cache`), if any: dbt then re-parses only what differs from it."""
    cached, state = _cached_state(env, args), settings.dbt_target_dir / PARSE_STATE
    if cached is None or state.exists():
        return
    if cached.exists():
        with contextlib.suppress(OSError):  # a cache that cannot be read only means a full parse
            shutil.copyfile(cached, state)


def keep_parse_state(settings: Settings, env: dict[str, str], args: list[str]) -> None:
    """After a successful command, the workdir's parse state is cached for new workdirs when the cache
    has none for these settings yet (written under a temporary name and renamed: another process
    seeding from it reads a whole file or none)."""
    cached, state = _cached_state(env, args), settings.dbt_target_dir / PARSE_STATE
    if cached is None or not state.exists() or cached.exists():
        return
    with contextlib.suppress(OSError):
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.parent / f".{cached.name}.{os.getpid()}.tmp"
        shutil.copyfile(state, tmp)
        os.replace(tmp, cached)


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
