"""dbt's parse state shared between workdirs (``KORE_DBT_PARSE_CACHE``, dbt_build/runner.py): a new
workdir's first dbt command starts from the cached state instead of parsing the whole project, works
on its own warehouse; a damaged cached state only means a full parse (dbt checks the state it is
given, as it checks a workdir's own after the project changed)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from dbt_build.runner import PARSE_STATE, run_dbt
from kore.config import Settings


def _parse_log(settings: Settings) -> str:
    return (settings.dbt_log_dir / "dbt.log").read_text(encoding="utf-8", errors="replace")


def _full_parse(settings: Settings) -> bool:
    """dbt parsed the whole project (not from a saved state: none, another settings', or unreadable)."""
    return "Partial parsing enabled" not in _parse_log(settings)


def _seed_tables(settings: Settings) -> set[str]:
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        return {t for (t,) in con.execute("select table_name from information_schema.tables").fetchall()}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "parse_cache"
    monkeypatch.setenv("KORE_DBT_PARSE_CACHE", str(folder))
    return folder


def test_a_new_workdir_starts_from_the_cached_parse_and_a_damaged_cache_only_means_a_full_parse(
    cache: Path, tmp_path: Path
) -> None:
    first = Settings(workdir=tmp_path / "first")
    run_dbt(first, ["parse"])
    assert _full_parse(first)
    assert len(list(cache.glob("*.msgpack"))) == 1

    second = Settings(workdir=tmp_path / "second")
    run_dbt(second, ["seed"])
    assert not _full_parse(second), _parse_log(second)[-2000:]
    assert (second.dbt_target_dir / PARSE_STATE).exists()
    # the seeds are in the second workdir's warehouse; the first one's was never opened
    assert _seed_tables(second)
    assert not first.duckdb_path.exists()

    for cached in cache.glob("*.msgpack"):
        cached.write_bytes(b"not a dbt parse state")
    damaged = Settings(workdir=tmp_path / "damaged")
    assert run_dbt(damaged, ["parse"]).ok
    assert _full_parse(damaged)


def test_the_cache_key_follows_the_projects_settings_and_vars_not_the_workdir_or_secrets() -> None:
    from dbt_build.runner import _parse_state_key

    env = {"KORE_WORKDIR": "/a", "KORE_CRM_FLAVOR": "dynamics", "KORE_MSSQL_PASSWORD": "x", "PATH": "/bin"}
    key = _parse_state_key(env, ["build"])
    assert (
        _parse_state_key({**env, "KORE_WORKDIR": "/b", "KORE_MSSQL_PASSWORD": "y", "PATH": "/usr/bin"}, ["run"]) == key
    )
    assert _parse_state_key({**env, "KORE_CRM_FLAVOR": "salesforce"}, ["build"]) != key
    assert _parse_state_key(env, ["build", "--vars", '{"crm_flavor": "salesforce"}']) != key
