"""The warm dbt process of the build phases (dbt_build/session.py): reused, never holding the
warehouse between invocations, replaced when it dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dbt_build import session
from kore.config import Settings


def _write_from_another_process(db: Path) -> subprocess.CompletedProcess:
    code = f"import duckdb; duckdb.connect({str(db)!r}).execute('create or replace table main.probe as select 1 as a')"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


@pytest.fixture
def settings(tmp_path: Path):
    s = Settings(workdir=tmp_path)
    s.ensure_dirs()
    yield s
    session.close_worker()


def test_worker_is_reused_releases_the_warehouse_and_is_replaced_when_it_dies(settings: Settings) -> None:
    first = session.run_dbt(settings, ["seed"], project_hash="p1")
    assert first.ok and len(first.results) == 2 and first.results[0]["status"] == "success"
    worker = session._worker
    assert worker is not None
    # between invocations another process (the dedup step) can write the warehouse
    wrote = _write_from_another_process(settings.duckdb_path)
    assert wrote.returncode == 0, wrote.stderr[-500:]

    again = session.run_dbt(settings, ["seed"], project_hash="p1")
    assert again.ok and len(again.results) == 2
    assert session._worker is worker and worker.alive()  # the same process served both

    with pytest.raises(RuntimeError, match="--bogus-flag failed"):  # a dbt error is raised with dbt's output
        session.run_dbt(settings, ["seed", "--bogus-flag"], project_hash="p1")
    assert session._worker is worker  # a failed invocation keeps the worker

    os.kill(worker.proc.pid, signal.SIGKILL)  # a worker that died (killed, crashed) ...
    worker.proc.wait()
    after = session.run_dbt(settings, ["seed"], project_hash="p1")  # ... is replaced by the next call
    assert after.ok and len(after.results) == 2
    assert session._worker is not None and session._worker.proc.pid != worker.proc.pid


def test_a_parse_started_ahead_leaves_the_warehouse_writable_and_serves_the_next_build(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The flow starts dbt's parse while the CRM pull runs (orchestration/flow.py ``ahead``)."""
    from dbt_build import scope
    from dbt_build.scope import current_manifest, project_hash, start_parse

    phash = project_hash(env=settings.env())
    start_parse(settings)
    worker = session._worker
    assert worker is not None and worker.parse_pending == phash
    # while it parses, the running stage keeps writing the warehouse
    wrote = _write_from_another_process(settings.duckdb_path)
    assert wrote.returncode == 0, wrote.stderr[-500:]

    def parse_again(*args: object, **kwargs: object) -> None:
        raise AssertionError("the plan parsed the project again")

    with monkeypatch.context() as m:
        m.setattr(scope, "run_dbt", parse_again)
        manifest = current_manifest(settings, phash)  # collects that parse instead of parsing again
    assert manifest is not None and "model.kore.dim_contact" in manifest["nodes"]
    assert worker.parse_pending is None and session._worker is worker
    assert (settings.dbt_target_dir / "manifest.project_hash").read_text() == phash

    # a parse sent ahead and never collected does not become the next call's answer
    session.parse_ahead(settings, phash)
    res = session.run_dbt(settings, ["seed"], project_hash=phash)
    assert res.ok and len(res.results) == 2 and res.results[0]["status"] == "success"
    # a parse of another project state is not taken for this one
    session.parse_ahead(settings, "an older project")
    assert session.take_parse_ahead(settings, phash) is False
