"""No stage runs on a half-landed warehouse (issue 17, item 1): pending dlt packages, a ledger that
disagrees with the tables, a missing raw table -> build, check and dedup stop with one line that
names the landing to re-run; re-running it repairs the warehouse."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from dlt.pipeline.pipeline import Pipeline

from dbt_build.scope import build_phase
from dedup.pipeline import run_dedup
from dlt_pipelines.archtics_deltas import land_deltas
from dlt_pipelines.archtics_export import land_export
from expectations.runner import run_checks
from kore.config import get_settings
from kore.landing import LandingIncomplete, landing_problems, require_landing_complete
from sandbox.generator import generate


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "export"
    generate(80, out, seed=3, part_rows=400, show_progress=False)
    return out


def _sql(workdir: Path, statement: str) -> list[tuple]:
    con = duckdb.connect(str(workdir / "warehouse.duckdb"))
    try:
        return con.execute(statement).fetchall()
    finally:
        con.close()


def test_a_landing_killed_before_its_load_stops_every_stage(workdir: Path, export: Path, monkeypatch) -> None:
    settings = get_settings(workdir)
    export = Path(shutil.copytree(export, settings.export_dir))  # where the raw audit finds the manifest

    def killed(self, *a, **kw):  # the process dies after extract + normalize, before the load
        raise KeyboardInterrupt("killed")

    with monkeypatch.context() as m:
        m.setattr(Pipeline, "load", killed)
        with pytest.raises(KeyboardInterrupt):
            land_export(settings, export, show_progress=False)
    for stage in (
        lambda: build_phase(settings, "pre-dedup"),
        lambda: run_checks(settings, layer="raw", show_progress=False),
        lambda: run_dedup(settings, progress=False),
        lambda: land_deltas(settings, "http://127.0.0.1:9", "id", "secret", show_progress=False),
    ):
        with pytest.raises(LandingIncomplete) as err:
            stage()
        msg = str(err.value)
        assert "\n" not in msg and "archtics_export has 1 load package(s) not loaded" in msg
        assert "rerun `kore land export`" in msg
    land_export(settings, export, show_progress=False)  # the plain re-run loads what was pending
    assert landing_problems(settings) == []
    report = run_checks(settings, layer="raw", show_progress=False)
    [audit] = report.by_check("manifest_rows_equal_landed_plus_quarantined")
    assert audit.status == "passed", audit.detail


def test_ledger_table_mismatch_and_unfinished_loads_are_refused(workdir: Path, export: Path) -> None:
    settings = get_settings(workdir)
    land_export(settings, export, show_progress=False)
    require_landing_complete(settings, "kore build")  # complete: no error
    # the ledger's load never finished (its _dlt_loads row is missing): a package half loaded
    load_id = _sql(workdir, "select max(_dlt_load_id) from raw_archtics.file_ledger")[0][0]
    _sql(workdir, f"delete from raw_archtics._dlt_loads where load_id = '{load_id}'")
    with pytest.raises(LandingIncomplete, match="load.s. of the file ledger never completed"):
        require_landing_complete(settings, "kore build")
    _sql(workdir, f"insert into raw_archtics._dlt_loads (load_id, schema_name, status, inserted_at) "
                  f"values ('{load_id}', 'archtics_export', 0, now())")  # fmt: skip
    require_landing_complete(settings, "kore build")
    # the ledger lists ticket rows the table does not hold
    path = _sql(workdir, "select path from raw_archtics.file_ledger where dataset = 'ticket' limit 1")[0][0]
    _sql(workdir, f"delete from raw_archtics.ticket where _source_file = '{path}'")
    with pytest.raises(LandingIncomplete, match=f"raw_archtics.ticket holds 0 rows of {path}"):
        require_landing_complete(settings, "kore build")
    # a missing raw table
    _sql(workdir, "drop table raw_archtics.ticket")
    with pytest.raises(LandingIncomplete, match="raw_archtics.ticket is missing"):
        require_landing_complete(settings, "kore build")


def test_rows_replaced_by_the_catch_up_are_not_a_mismatch(workdir: Path, export: Path) -> None:
    """After deltas merged a newer version of a row, its file holds one row fewer: that is fine;
    a file holding more rows than it landed never is."""
    settings = get_settings(workdir)
    land_export(settings, export, show_progress=False)
    path = _sql(workdir, "select path from raw_archtics.file_ledger where dataset = 'cust' limit 1")[0][0]
    line = _sql(workdir, f"select min(_source_line) from raw_archtics.cust where _source_file = '{path}'")[0][0]
    _sql(
        workdir,
        f"update raw_archtics.cust set _source_file = null where _source_file = '{path}' and _source_line = {line}",
    )
    assert landing_problems(settings) == []
    _sql(workdir, f"insert into raw_archtics.cust select * from raw_archtics.cust where _source_file = '{path}'")
    with pytest.raises(LandingIncomplete, match="holds"):
        require_landing_complete(settings, "kore check")
