"""``run_dbt`` for the build phases, through one warm dbt process per project environment.

A routine ``kore run`` calls dbt twice (the pre- and post-dedup phases, dbt_build/scope.py), and each
``dbt build`` subprocess spends ~8-10 s on this machine before its first node: imports, the adapter,
loading the partial parse and writing the manifest. That fixed cost was most of a routine build. Here
the first call starts ``dbt_worker.py`` (a child process with the project's environment, as
:func:`dbt_build.runner.run_dbt` uses) and later calls with the same environment reuse it and its
parsed manifest (re-parsed when the project hash changes): the second phase starts its first node
within a second or two.

The child stays a separate process, as the runner's docstring wants (dbt's global state and the
DuckDB lock stay out of the caller): it holds the warehouse file only during an invocation, and exits
when this process does. A worker that died (killed, crashed) is replaced by the next call; the call it
died in fails like a failed dbt run.
"""

from __future__ import annotations

import atexit
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dbt_build.dbt_worker import END
from dbt_build.runner import (
    PROJECT_ARGS,
    DbtResult,
    dbt_cwd,
    failure,
    keep_parse_state,
    prepare,
    read_run_results,
    seed_parse_state,
)
from kore.config import Settings

WORKER = Path(__file__).with_name("dbt_worker.py")


@dataclass
class _Worker:
    proc: subprocess.Popen
    env_key: str
    # the project hash of a parse sent ahead (:func:`parse_ahead`) whose answer is not read yet
    parse_pending: str | None = None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        if self.alive():
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


_worker: _Worker | None = None


def _get_worker(settings: Settings) -> _Worker:
    """The live worker for this environment (the subprocess runner's), started (or restarted) when
    there is none."""
    global _worker
    env = prepare(settings)
    key = json.dumps(env, sort_keys=True)
    if _worker is not None and _worker.alive() and _worker.env_key == key:
        return _worker
    close_worker()
    proc = subprocess.Popen(
        [sys.executable, str(WORKER)],
        cwd=dbt_cwd(settings),
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    _worker = _Worker(proc, key)
    return _worker


def close_worker() -> None:
    """Stop the warm dbt process (the next call starts a new one)."""
    global _worker
    if _worker is not None:
        _worker.close()
        _worker = None


atexit.register(close_worker)


def parse_ahead(settings: Settings, project_hash: str) -> None:
    """Start the worker and its ``dbt parse`` now, without waiting for it: the flow calls this while
    the stages before the first build run (the catch-up, the KORE-app landing and the CRM pull, which
    mostly wait on HTTP or use one core), so dbt's imports and parse (~3 s with a partial-parse file,
    ~7 s without, on this machine) overlap them instead of delaying the build. ``dbt parse`` does not open the warehouse, so the running stage's
    writes are not blocked. :func:`take_parse_ahead` collects the answer; any other call first reads
    it (the protocol stays one answer per request)."""
    worker = _get_worker(settings)
    if worker.parse_pending is not None:
        return
    _send(worker, settings, ["parse"], project_hash)
    worker.parse_pending = project_hash


def take_parse_ahead(settings: Settings, project_hash: str) -> bool:
    """Wait for the parse :func:`parse_ahead` started; True when it parsed this ``project_hash``
    successfully (the worker keeps that manifest for the builds), False when there was none, it
    failed, or the project changed since (the caller parses again)."""
    worker = _worker
    if worker is None or worker.parse_pending is None or not worker.alive():
        return False
    if worker.env_key != json.dumps(prepare(settings), sort_keys=True):
        return False
    pending = worker.parse_pending
    ok, _ = _answer(worker, None)
    return ok and pending == project_hash


def _send(worker: _Worker, settings: Settings, args: list[str], project_hash: str) -> None:
    assert worker.proc.stdin is not None
    seed_parse_state(settings, prepare(settings), args)  # a new workdir: dbt's parse state from the cache
    worker.proc.stdin.write(
        json.dumps(
            {
                "args": args,
                "base": list(PROJECT_ARGS),
                "project_hash": project_hash,
                "run_results": str(settings.dbt_target_dir / "run_results.json"),
            }
        )
        + "\n"
    )
    worker.proc.stdin.flush()


def _answer(worker: _Worker, echo: Callable[[str], None] | None) -> tuple[bool, list[str]]:
    """Read one answer (dbt's lines up to the END marker). A worker that ends or breaks without
    answering is closed: the call failed, and the next one starts a new worker."""
    assert worker.proc.stdout is not None
    worker.parse_pending = None
    lines: list[str] = []
    try:
        for line in worker.proc.stdout:
            if line.startswith(END):
                return bool(json.loads(line[len(END) :])["ok"]), lines
            lines.append(line)
            if echo is not None:
                echo(line.rstrip("\n"))
    except OSError:
        pass
    except BaseException:  # interrupted mid-answer: the rest of it must not become the next call's
        worker.kill()
        close_worker()
        raise
    close_worker()
    return False, lines


def run_dbt(
    settings: Settings,
    args: list[str],
    check: bool = True,
    echo: Callable[[str], None] | None = None,
    project_hash: str = "",
) -> DbtResult:
    """Run ``dbt <args>`` in the warm worker; the same result and errors as
    :func:`dbt_build.runner.run_dbt`. ``project_hash`` (dbt_build.scope.project_hash) tells the worker
    when its parsed manifest is stale."""
    worker = _get_worker(settings)
    if worker.parse_pending is not None:  # a parse sent ahead and not collected: read its answer first
        _answer(worker, None)
        worker = _get_worker(settings)
    try:
        _send(worker, settings, args, project_hash)
    except OSError:
        close_worker()
        ok, lines = False, []
    else:
        ok, lines = _answer(worker, echo)
    out = "".join(lines)
    res = DbtResult(ok=ok, args=args, stdout=out, results=read_run_results(settings, args))
    if res.ok:
        keep_parse_state(settings, prepare(settings), args)
    if check and not res.ok:
        raise failure(res)
    return res
