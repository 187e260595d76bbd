"""One environment variable switches the whole project between DuckDB and SQL Server."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

import duckdb
import pytest

from dlt_pipelines.archtics_export import land_export
from kore.config import REPO_ROOT, dlt_pipeline, get_settings, mssql_settings


def test_workdir_defaults_and_paths(workdir: Path) -> None:
    s = get_settings()
    assert s.workdir == workdir.resolve()
    assert s.target == "duckdb"
    assert s.duckdb_path == workdir.resolve() / "warehouse.duckdb"
    env = s.env()
    assert env["DLT_DATA_DIR"].startswith(str(workdir.resolve()))
    assert env["DLT_PROJECT_DIR"] == str(REPO_ROOT)
    assert env["DBT_TARGET_PATH"].startswith(str(workdir.resolve()))


def test_target_switch_and_bad_values(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KORE_TARGET", "sqlserver")
    s = get_settings()
    assert s.target == "sqlserver" and s.env()["KORE_TARGET"] == "sqlserver"
    monkeypatch.setenv("KORE_TARGET", "postgres")
    with pytest.raises(ValueError, match="KORE_TARGET"):
        get_settings()


def test_sqlserver_settings_name_missing_variables_without_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for v in ("KORE_MSSQL_SERVER", "KORE_MSSQL_DATABASE", "KORE_MSSQL_USER", "KORE_MSSQL_PASSWORD"):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("KORE_MSSQL_PASSWORD", "s3cret-value")
    with pytest.raises(RuntimeError) as err:
        mssql_settings()
    assert "KORE_MSSQL_SERVER" in str(err.value)
    assert "s3cret-value" not in str(err.value)


def test_excluded_account_types_parsed(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KORE_EXCLUDED_ACCOUNT_TYPES", "Comp, Internal,,")
    assert get_settings().excluded_account_types == ("Comp", "Internal")


def test_secrets_file_is_ignored_by_git() -> None:
    ignored = (REPO_ROOT / ".gitignore").read_text()
    assert ".dlt/secrets.toml" in ignored
    assert "password" not in (REPO_ROOT / "dbt_project" / "profiles.yml").read_text().replace(
        "password: \"{{ env_var('KORE_MSSQL_PASSWORD', '') }}\"", ""
    )


def test_settings_do_not_pin_the_warehouse_for_other_workdirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KORE_DUCKDB_PATH", raising=False)
    first = get_settings(tmp_path / "a")
    dlt_pipeline(first, "kore_config_probe", "raw_probe")
    second = get_settings(tmp_path / "b")
    assert second.duckdb_path == (tmp_path / "b" / "warehouse.duckdb").resolve()
    assert first.env()["KORE_DUCKDB_PATH"] == str(first.duckdb_path)  # subprocesses still get it


def test_dlt_pipeline_works_under_the_workdir(tmp_path: Path) -> None:
    settings = get_settings(tmp_path / "wd")
    pipeline = dlt_pipeline(settings, "kore_config_probe", "raw_probe")
    assert Path(pipeline.pipelines_dir) == settings.dlt_data_dir
    assert Path(pipeline.working_dir).is_relative_to(settings.dlt_data_dir)
    assert pipeline.destination.destination_name == "duckdb"


def test_a_landing_leaves_os_environ_unchanged(workdir: Path) -> None:
    """Pipeline options come from .dlt/config.toml, not the environment: a landing changes no
    variable, and export rows still get dlt's _dlt_load_id (asked for in the pipeline's section)."""
    export = workdir / "export"
    data = gzip.compress(b"acct_id,cust_name_id,upd_date\n1,10,2025-01-01 00:00:00\n2,20,2025-01-02 00:00:00\n")
    export.mkdir()
    (export / "cust.csv.gz").write_bytes(data)
    manifest = {"format_version": 1, "cutoff": "2025-02-01 00:00:00", "generated_at": "t", "files": [
        {"dataset": "cust", "path": "cust.csv.gz", "rows": 2, "sha256": hashlib.sha256(data).hexdigest(),
         "columns": ["acct_id", "cust_name_id", "upd_date"]}]}  # fmt: skip
    (export / "manifest.json").write_text(json.dumps(manifest))
    before = dict(os.environ)
    settings = get_settings(workdir)
    assert land_export(settings, export, show_progress=False)["rows"] == 2
    assert dict(os.environ) == before
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:
        load_ids = con.sql("select count(_dlt_load_id), count(_dlt_id) from raw_archtics.cust").fetchall()
    finally:
        con.close()
    assert load_ids == [(2, 2)]
