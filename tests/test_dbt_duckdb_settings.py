"""dbt's own DuckDB connection runs with the configured memory bound (KORE_DBT_DUCKDB_MEMORY_LIMIT,
kore/config.py, through the profile) and spills into the workdir, not into the checkout."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from dbt_build.runner import run_dbt
from kore.config import REPO_ROOT, Settings, get_settings
from kore.warehouse import DUCKDB_DISABLED_OPTIMIZERS

QUERY = (
    "select current_setting('memory_limit') as memory_limit, "
    "cast(current_setting('preserve_insertion_order') as varchar) as keep_order, "
    "current_setting('temp_directory') as temp_directory, "
    "current_setting('disabled_optimizers') as disabled_optimizers"
)


def _duckdb_limit(value: str) -> str:
    """How DuckDB itself reports a memory_limit of ``value``."""
    con = duckdb.connect(config={"memory_limit": value})
    try:
        return con.execute("select current_setting('memory_limit')").fetchone()[0]
    finally:
        con.close()


def test_memory_limit_setting_reaches_dbt_duckdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KORE_DBT_DUCKDB_MEMORY_LIMIT", raising=False)
    assert get_settings(tmp_path).dbt_duckdb_memory_limit == "4GB"  # the default
    monkeypatch.setenv("KORE_DBT_DUCKDB_MEMORY_LIMIT", " 3GB ")
    settings = get_settings(tmp_path)
    assert settings.env()["KORE_DBT_DUCKDB_MEMORY_LIMIT"] == "3GB"
    monkeypatch.delenv("KORE_DBT_DUCKDB_MEMORY_LIMIT")  # dbt must get it from settings.env(), not from here
    settings.ensure_dirs()
    res = run_dbt(settings, ["show", "--inline", QUERY, "--output", "json", "--log-format", "json"])
    shown = next(
        json.loads(line)["data"]["preview"]
        for line in res.stdout.splitlines()
        if line.startswith("{") and "preview" in json.loads(line).get("data", {})
    )
    row = json.loads(shown)[0]
    assert row["memory_limit"] == _duckdb_limit("3GB") != _duckdb_limit("4GB")
    assert row["keep_order"] == "false"
    # dbt's models run without the optimizer that answers wrongly (kore/warehouse.py)
    assert row["disabled_optimizers"] == DUCKDB_DISABLED_OPTIMIZERS
    temp = Path(row["temp_directory"]).resolve()
    assert temp.is_relative_to(tmp_path.resolve()) and not temp.is_relative_to(REPO_ROOT)


def test_default_limit_is_passed_without_the_variable(tmp_path: Path) -> None:
    assert Settings(workdir=tmp_path).env()["KORE_DBT_DUCKDB_MEMORY_LIMIT"] == "4GB"
