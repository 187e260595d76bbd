"""One environment variable switches the whole project between DuckDB and SQL Server."""

from __future__ import annotations

from pathlib import Path

import pytest

from kore.config import REPO_ROOT, get_settings, mssql_settings


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


def test_apply_env_does_not_pin_the_warehouse_for_other_workdirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KORE_DUCKDB_PATH", raising=False)
    first = get_settings(tmp_path / "a")
    first.apply_env()
    second = get_settings(tmp_path / "b")
    assert second.duckdb_path == (tmp_path / "b" / "warehouse.duckdb").resolve()
    assert first.env()["KORE_DUCKDB_PATH"] == str(first.duckdb_path)  # subprocesses still get it
