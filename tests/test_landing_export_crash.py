"""Export landing after a crash: a run killed (or dying) at any point, then re-run, equals a clean
run; both landing paths give the same tables."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import dlt_pipelines.archtics_common as common
from dlt_pipelines.archtics_export import land_export, reconcile_resumed
from kore.config import get_settings
from tests.test_landing_export import CUST_COLS, add_part, ok_cust_body, rows_of

REPO = Path(__file__).resolve().parent.parent


KILL_SCRIPT = """
import sys
from pathlib import Path
from kore.config import get_settings
from dlt_pipelines.archtics_export import land_export
import dlt_pipelines.archtics_export_direct as direct_mod
if sys.argv[4] == "packages":
    import dlt_pipelines.archtics_common as common
    common.DIRECT_DESTINATIONS = frozenset()
if len(sys.argv) > 5:  # die (as a kill would) right after the n-th insert of the direct path
    import os
    insert, calls = direct_mod.GroupLoad._insert, []
    def dying_insert(*args):
        insert(*args)
        calls.append(1)
        if len(calls) == int(sys.argv[5]):
            os._exit(9)
    direct_mod.GroupLoad._insert = staticmethod(dying_insert)
print("STARTED", flush=True)
land_export(get_settings(sys.argv[1]), Path(sys.argv[2]), show_progress=False, block_bytes=int(sys.argv[3]))
print("DONE", flush=True)
"""


def _land_in_subprocess(
    workdir: Path, export: Path, kill_after: float | None, loader: str, die_after_inserts: int = 0
) -> bool:
    """Run land_export in a real process; SIGKILL it ``kill_after`` s after it started landing (or
    let it die right after its n-th insert on the direct path).

    Returns True when the process finished by itself.
    """
    # the child process gets only its own workdir (no KORE_/DLT_/DBT_ settings of this process)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KORE_", "DLT_", "DBT_"))}
    env.update(PYTHONPATH=str(REPO), KORE_WORKDIR=str(workdir))
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(workdir), str(export), "16384", loader]
        + ([str(die_after_inserts)] if die_after_inserts else []),
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=open(workdir / "stderr.txt", "wb"),
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"STARTED"
    if die_after_inserts:
        proc.wait(timeout=120)
        return proc.returncode == 0
    if kill_after is None:
        proc.wait(timeout=120)
        assert proc.returncode == 0, (workdir / "stderr.txt").read_text()[-3000:]
        return True
    try:
        proc.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return False
    return proc.returncode == 0


def test_killed_load_packages_then_rerun_equal_a_clean_run(tmp_path: Path, small_export: Path, monkeypatch) -> None:
    """The package path (other destinations than DuckDB, run here on DuckDB): a SIGKILL at growing
    points of a run, each re-run first completing what the killed one left pending."""
    monkeypatch.setattr(common, "DIRECT_DESTINATIONS", frozenset())
    loader = "packages"
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    clean.mkdir()
    killed.mkdir()
    monkeypatch.delenv("KORE_DUCKDB_PATH", raising=False)
    land_export(get_settings(clean), small_export, show_progress=False, block_bytes=16384)
    kills = 0
    # SIGKILL at growing points of a run (start-up, mid-file extract, normalize, load, or inside a
    # group's transaction); each re-run first completes what the killed one left pending, then goes on
    for delay in (0.4, 1.0, 1.8, 2.6):
        if _land_in_subprocess(killed, small_export, delay, loader):
            break
        kills += 1
    print(f"killed {kills} times")
    assert kills >= 2, "the process must have been killed mid-run at least twice"
    _land_in_subprocess(killed, small_export, None, loader)
    for table in ("cust", "cust_address", "cust_email", "cust_rep", "ticket", "evnt", "events_in_plan",
                  "season", "note", "quarantine", "file_ledger", "load_cutoff"):  # fmt: skip
        drop = ("_dlt_load_id", "_dlt_id") if table in ("file_ledger", "load_cutoff") else ("_dlt_load_id",)
        got, want = rows_of(killed / "warehouse.duckdb", table, drop), rows_of(clean / "warehouse.duckdb", table, drop)
        assert got == want, table


def test_death_inside_a_group_transaction_then_rerun_equals_a_clean_run(
    tmp_path: Path, small_export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the direct path a group's rows, quarantined rows and ledger rows commit together: a
    process dying after any of the group's inserts leaves nothing of it, and the re-run lands every
    file once."""
    clean, died = tmp_path / "clean", tmp_path / "died"
    died.mkdir()
    monkeypatch.delenv("KORE_DUCKDB_PATH", raising=False)
    land_export(get_settings(clean), small_export, show_progress=False, block_bytes=16384)
    for n in (10, 1):  # after every dataset's and the ledger rows; after the first dataset's rows
        assert not _land_in_subprocess(died, small_export, None, "direct", die_after_inserts=n)
        assert rows_of(died / "warehouse.duckdb", "cust") == rows_of(died / "warehouse.duckdb", "file_ledger") == []
    land_export(get_settings(died), small_export, show_progress=False, block_bytes=16384)
    for table in ("cust", "ticket", "note", "quarantine", "file_ledger"):
        drop = ("_dlt_load_id", "_dlt_id") if table == "file_ledger" else ("_dlt_load_id",)
        got, want = rows_of(died / "warehouse.duckdb", table, drop), rows_of(clean / "warehouse.duckdb", table, drop)
        assert got == want and (got or table == "quarantine"), table


def test_direct_rows_and_load_packages_land_the_same_tables(
    tmp_path: Path, small_export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DuckDB fast path and dlt's load packages give the same rows, columns and types (dlt
    creates the tables on both), and both record their loads as finished in ``_dlt_loads``."""
    monkeypatch.delenv("KORE_DUCKDB_PATH", raising=False)
    direct, packages = tmp_path / "direct", tmp_path / "packages"
    land_export(get_settings(direct), small_export, show_progress=False, block_bytes=16384)
    monkeypatch.setattr(common, "DIRECT_DESTINATIONS", frozenset())
    land_export(get_settings(packages), small_export, show_progress=False, block_bytes=16384)
    tables = ("cust", "cust_address", "cust_email", "cust_rep", "ticket", "evnt", "events_in_plan", "season", "note")
    for table in (*tables, "quarantine", "file_ledger"):
        drop = ("_dlt_load_id", "_dlt_id") if table == "file_ledger" else ("_dlt_load_id",)
        got, want = (
            rows_of(direct / "warehouse.duckdb", table, drop),
            rows_of(packages / "warehouse.duckdb", table, drop),
        )
        assert got == want and (got or table == "quarantine"), table

    def shape(db: Path) -> tuple[list[tuple], int]:
        con = duckdb.connect(str(db), read_only=True)
        try:
            cols = con.sql(
                "select table_name, column_name, data_type from information_schema.columns "
                f"where table_schema = 'raw_archtics' and table_name in {tables} order by all"
            ).fetchall()
            unfinished = con.sql(
                "select count(*) from raw_archtics.file_ledger where _dlt_load_id not in "
                "(select load_id from raw_archtics._dlt_loads where status = 0)"
            ).fetchall()[0][0]
            return cols, unfinished
        finally:
            con.close()

    assert shape(direct / "warehouse.duckdb") == shape(packages / "warehouse.duckdb")
    assert shape(direct / "warehouse.duckdb")[1] == 0


def test_reconcile_removes_rows_a_rerun_load_job_doubled(workdir: Path) -> None:
    """dlt re-executes a load job whose insert committed just before a kill; the copies go."""
    export = workdir / "export"
    add_part(export, "cust", "cust/cust-part-0001.csv.gz", CUST_COLS, ok_cust_body(30), 30)
    settings = get_settings(workdir)
    land_export(settings, export, show_progress=False)
    clean = {t: rows_of(settings.duckdb_path, t) for t in ("cust", "file_ledger")}
    con = duckdb.connect(str(settings.duckdb_path))
    load_id = con.sql("select max(_dlt_load_id) from raw_archtics.cust").fetchall()[0][0]
    con.execute("insert into raw_archtics.cust select * from raw_archtics.cust")  # the re-run job
    con.execute("insert into raw_archtics.file_ledger select * from raw_archtics.file_ledger")
    con.close()
    from dlt_pipelines.archtics_export import make_pipeline

    removed = reconcile_resumed(make_pipeline(settings), [load_id])
    assert removed == {"cust": 30, "file_ledger": 1}
    assert {t: rows_of(settings.duckdb_path, t) for t in clean} == clean
