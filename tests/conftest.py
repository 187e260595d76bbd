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


def pytest_report_header(config: pytest.Config) -> str:
    return f"kore tests: KORE_MSSQL_SERVER={'set' if os.environ.get('KORE_MSSQL_SERVER') else 'unset (live SQL Server tests skip)'}"
