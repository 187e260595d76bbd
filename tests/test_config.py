"""One environment variable switches the whole project between DuckDB and SQL Server."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from dlt_pipelines.archtics_export import land_export
from kore.config import (
    REPO_ROOT,
    ConfigError,
    _ProjectDltConfig,
    archtics_credentials,
    crm_credentials,
    dlt_pipeline,
    get_settings,
)


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
    for name, value in (("SERVER", "db"), ("DATABASE", "kore"), ("USER", "u"), ("PASSWORD", "p")):
        monkeypatch.setenv(f"KORE_MSSQL_{name}", value)
    s = get_settings()
    assert s.target == "sqlserver" and s.env()["KORE_TARGET"] == "sqlserver"
    monkeypatch.setenv("KORE_TARGET", "postgres")
    with pytest.raises(ValueError, match="KORE_TARGET"):
        get_settings()


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
    # dlt's own layout under DLT_DATA_DIR (<data dir>/pipelines/<name>), so `dlt pipeline` finds it
    assert Path(pipeline.pipelines_dir) == settings.dlt_data_dir / "pipelines"
    assert Path(pipeline.working_dir) == settings.dlt_data_dir / "pipelines" / "kore_config_probe"
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


def test_schema_prefix_is_validated_and_passed_to_dbt(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_settings().env()["KORE_SCHEMA_PREFIX"] == ""
    monkeypatch.setenv("KORE_SCHEMA_PREFIX", "Dev_Alice")
    assert get_settings().env()["KORE_SCHEMA_PREFIX"] == "dev_alice"
    monkeypatch.setenv("KORE_SCHEMA_PREFIX", "alice; drop table x")
    with pytest.raises(ConfigError, match="KORE_SCHEMA_PREFIX"):
        get_settings()


@pytest.fixture
def project_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The project's registered ``.dlt/secrets.toml`` provider, pointed at a temporary ``.dlt`` folder
    (the repo's own file is the user's and is left alone)."""
    from dlt.common.configuration.container import Container
    from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

    _ProjectDltConfig.ensure()
    settings_dir = tmp_path / ".dlt"
    settings_dir.mkdir()
    (settings_dir / "secrets.toml").write_text(
        '[crm]\nclient_id = "crm-id-from-toml"\nclient_secret = "crm-secret-from-toml"\ntenant_id = "tenant-from-toml"\n'
        '[archtics]\nclient_id = "archtics-id-from-toml"\nclient_secret = "archtics-secret-from-toml"\n'
    )
    providers = Container()[PluggableRunContext].providers.providers
    at = next(i for i, p in enumerate(providers) if p.name == _ProjectDltConfig.SECRETS_NAME)
    registered, providers[at] = providers[at], _ProjectDltConfig.providers(settings_dir)[0]
    for name in [k for k in os.environ if k.startswith(("KORE_CRM_", "KORE_ARCHTICS_", "CRM__", "ARCHTICS__"))]:
        monkeypatch.delenv(name)
    yield settings_dir
    providers[at] = registered


def test_credentials_are_read_from_dlt_secrets_toml(project_secrets: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert crm_credentials() == {
        "client_id": "crm-id-from-toml",
        "client_secret": "crm-secret-from-toml",
        "tenant_id": "tenant-from-toml",
    }
    assert archtics_credentials() == {
        "client_id": "archtics-id-from-toml",
        "client_secret": "archtics-secret-from-toml",
    }
    # the KORE_* variables still win, then dlt's own variable names
    monkeypatch.setenv("KORE_CRM_CLIENT_SECRET", "from-env")
    monkeypatch.setenv("ARCHTICS__CLIENT_ID", "from-dlt-env")
    assert crm_credentials()["client_secret"] == "from-env"
    assert archtics_credentials()["client_id"] == "from-dlt-env"
