"""Shared fixtures. Every test works in its own tmp workdir; nothing is written into the repo."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@pytest.fixture(autouse=True)
def _restore_environment():
    """Undo os.environ changes a test makes by hand (production code makes none: test_config checks)."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh workdir with the project's environment pointed at it."""
    wd = tmp_path / "work"
    wd.mkdir()
    for var in ("KORE_DUCKDB_PATH", "KORE_TARGET", "KORE_CRM_FLAVOR", "KORE_EXCLUDED_ACCOUNT_TYPES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KORE_WORKDIR", str(wd))
    return wd


PARSE_CACHE = "KORE_DBT_PARSE_CACHE"


def pytest_configure(config: pytest.Config) -> None:
    """One dbt parse-state cache for the whole session (dbt_build/runner.py): every test builds in a
    workdir of its own, and each one's first dbt command parsed the project in full (~9 s; ~4 s from
    the cache) -- at ~50 workdirs a few minutes of the suite's CPU. Set by the controlling process,
    before the xdist workers start (they inherit it); removed at the end."""
    if PARSE_CACHE not in os.environ and not hasattr(config, "workerinput"):
        import tempfile

        folder = tempfile.mkdtemp(prefix="kore-dbt-parse-")
        os.environ[PARSE_CACHE] = folder
        config._kore_parse_cache = folder  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = getattr(config, "_kore_parse_cache", None)
    if folder:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop(PARSE_CACHE, None)


def pytest_report_header(config: pytest.Config) -> str:
    return f"kore tests: KORE_MSSQL_SERVER={'set' if os.environ.get('KORE_MSSQL_SERVER') else 'unset (live SQL Server tests skip)'}"


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker more than the cores. Why: the tests wait on subprocesses (dbt, the
    demo), loopback HTTP and retry back-offs for part of their time, so one worker per core left
    the cores ~12% idle; on this 2-core machine the suite took 623 s with two workers, 572 s with
    three (user + system CPU 1,099 s: the cores are busy)."""
    return (os.cpu_count() or 1) + 1


# The slowest modules first (longest-first scheduling; seconds per module from `pytest --junitxml`, session
# 22): with a file per worker (`--dist loadfile`), a long module handed out last decides when the suite
# ends; started first, the short ones fill in beside it. xdist hands out files by their number of tests
# unless told `--no-loadscope-reorder` (pyproject's addopts): with its default this order was ignored
# and the demo's module (7 tests, the longest) started among the last.
SLOW_FIRST = (
    "test_demo.py",
    "test_dbt_incremental.py",
    "test_dbt_build.py",
    "test_run.py",
    "test_kore_apps.py",
    "test_atomic_writes.py",
    "test_kore_apps_landing.py",
    "test_crm_push.py",
    "test_lint.py",
    "test_landing_export_crash.py",
    "test_crm_cli.py",
    "test_crm_retractions.py",
    "test_dedup_pipeline.py",
    "test_landing_export.py",
    "test_dbt_conventions.py",
    "test_crm_push_faults.py",
    "test_crm_pull.py",
    "test_landing_deltas.py",
    "test_tsql_parity.py",
    "test_dbt_parse_cache.py",
    "test_checks.py",
    "test_dedup_evidence.py",
    "test_dedup_units.py",
    "test_account_types_dbt.py",
    "test_dbt_session.py",
    "test_dedup_crm_accounts.py",
)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


@pytest.fixture(scope="module")
def small_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real sample export from the sandbox generator: several part files per dataset (one per module)."""
    from sandbox.generator import generate

    out = tmp_path_factory.mktemp("gen") / "export"
    generate(300, out, seed=5, part_rows=1000, show_progress=False)
    return out


@pytest.fixture(params=["direct", "packages"])
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways rows reach the tables: straight from the parser in one transaction per group
    (DuckDB) and dlt load packages (the path of other destinations, run here on DuckDB)."""
    if request.param == "packages":
        import dlt_pipelines.archtics_common as common

        monkeypatch.setattr(common, "DIRECT_DESTINATIONS", frozenset())
    return request.param
