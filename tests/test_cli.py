"""The `kore` command: every command takes --workdir, runs leave records that `kore status` shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kore.config import get_settings
from kore.runlog import read_history, run_record
from orchestration.cli import app

runner = CliRunner()


def test_help_lists_every_stage() -> None:
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    for cmd in ("demo", "sandbox", "land", "crm", "build", "dedup", "check", "status", "bench"):
        assert cmd in res.output


def test_run_record_written_on_success_and_failure(workdir: Path) -> None:
    s = get_settings()
    with run_record(s, stage="unit", entity="x") as rec:
        rec.rows_in, rec.rows_out = 10, 7
    with pytest.raises(ZeroDivisionError), run_record(s, stage="unit-fail"):
        1 / 0  # noqa: B018
    hist = read_history(s)
    assert [h["stage"] for h in hist] == ["unit", "unit-fail"]
    assert hist[0]["outcome"] == "success" and hist[0]["rows_out"] == 7
    assert hist[1]["outcome"] == "failed: ZeroDivisionError"
    assert hist[0]["seconds"] >= 0


def test_status_shows_history(workdir: Path) -> None:
    s = get_settings()
    with run_record(s, stage="land export") as rec:
        rec.rows_out = 1234
    res = runner.invoke(app, ["status", "--workdir", str(workdir)])
    assert res.exit_code == 0, res.output
    assert "land export" in res.output and "1234" in res.output


def test_run_history_also_in_warehouse(workdir: Path) -> None:
    import duckdb

    s = get_settings()
    with run_record(s, stage="dbt build") as rec:
        rec.rows_out = 5
    con = duckdb.connect(str(s.duckdb_path), read_only=True)
    rows = con.execute("select stage, rows_out, outcome from ops.run_history").fetchall()
    con.close()
    assert rows == [("dbt build", 5, "success")]


def test_bench_prints_json_last_line(workdir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`kore bench NAME` imports benchmarks/NAME.py and prints its dict as the last line."""
    import sys
    import types

    mod = types.ModuleType("benchmarks.unit_probe")
    mod.run = lambda wd, accounts=None, rows=None, **kw: {"accounts": accounts, "workdir_exists": wd.exists()}
    monkeypatch.setitem(sys.modules, "benchmarks.unit_probe", mod)
    res = runner.invoke(app, ["bench", "unit-probe", "--accounts", "7", "--workdir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.strip().splitlines()[-1]) == {"accounts": 7, "workdir_exists": True}
