"""The incremental dbt build gives the warehouse a full rebuild gives, and does work in proportion to
the change.

A small synthetic warehouse (the benchmark's generator, benchmarks/dbt.py) is built in full; then a
delta lands the way the Archtics delta pipeline lands it (changed names, returns, a late-arriving
older change, a new expanded plan row) and dedup moves some accounts to another contact. The
incremental build's tables must equal a `--full-refresh` build of the same data, row for row, except
for the watermark columns that record which run wrote a row.
"""

from __future__ import annotations

import duckdb
import pytest

from benchmarks.dbt import (
    SELECT_PHASE_1,
    SELECT_PHASE_2,
    synthetic_dedup,
    synthetic_dedup_delta,
    synthetic_delta,
    synthetic_raw,
)
from kore.config import Settings
from kore.dbt_runner import run_dbt

ACCOUNTS = 3000
DELTA_LOAD = "1730500000.000002"
LATE_LOAD = "1730600000.000003"
# table -> (key columns to sort by, watermark columns that legitimately differ between the builds)
TABLES = {
    "stg.stg_archtics__custs": ("cust_name_key", ("batch_load_id",)),
    "stg.stg_archtics__cust_emails": ("cust_email_key", ("batch_load_id",)),
    "stg.stg_archtics__tickets": ("ticket_key", ("batch_load_id",)),
    "marts.fct_ticket_purchases": ("ticket_key", ("batch_load_id",)),
    "marts.dim_account": ("acct_id", ("source_load_id",)),
    "kore.SyncedTicketPurchases": ("external_key", ("_source_load_id", "_built_at")),
}


def _build(settings: Settings, *extra: str) -> None:
    run_dbt(settings, ["run", *SELECT_PHASE_1, *extra])
    run_dbt(settings, ["run", *SELECT_PHASE_2, *extra])


def _snapshot(settings: Settings) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:
        out = {}
        for table, (key, skip) in TABLES.items():
            schema, name = table.split(".")
            cols = [
                c
                for (c,) in con.execute(
                    "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
                    "order by ordinal_position",
                    [schema, name],
                ).fetchall()
                if c not in skip
            ]
            out[table] = con.execute(f"select {', '.join(cols)} from {table} order by {key}").fetchall()
        return out
    finally:
        con.close()


def _late_and_plan_changes(con: duckdb.DuckDBPyConnection) -> None:
    """A name change that lands late with an older change time than the staged row (it must not win),
    and a new expanded per-event row of a plan seat (the plan-level row stops counting)."""
    con.execute(
        f"insert into raw_archtics.cust select * replace ('Stale' as name_last, '2019-01-01 00:00:00' as upd_date, "
        f"'{LATE_LOAD}' as _dlt_load_id) from raw_archtics.cust where cast(acct_id as bigint) = 1005"
    )
    con.execute(
        f"insert into raw_archtics.ticket select * replace (cast(5 as varchar) as event_id, '{LATE_LOAD}' as "
        f"_dlt_load_id, '2025-01-01 00:00:00' as upd_datetime) from raw_archtics.ticket "
        f"where cast(acct_id as bigint) = 1001 and plan_event_id is not null"
    )


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict:
    settings = Settings(workdir=tmp_path_factory.mktemp("dbt_incremental"))
    settings.ensure_dirs()
    con = duckdb.connect(str(settings.duckdb_path))
    try:
        synthetic_raw(con, ACCOUNTS)
        synthetic_dedup(con, ACCOUNTS)
    finally:
        con.close()
    run_dbt(settings, ["seed"])
    _build(settings)
    con = duckdb.connect(str(settings.duckdb_path))
    try:
        delta = synthetic_delta(con, ACCOUNTS, load_id=DELTA_LOAD)
        moved = synthetic_dedup_delta(con)
        _late_and_plan_changes(con)
    finally:
        con.close()
    _build(settings)
    incremental = _snapshot(settings)
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:  # rows the incremental run wrote carry its watermark (the newest load, LATE_LOAD)
        rewritten = {
            table: con.execute(f"select avg(case when {col} = '{LATE_LOAD}' then 1.0 else 0 end) from {table}").fetchone()[0]
            for table, col in (("stg.stg_archtics__tickets", "batch_load_id"), ("stg.stg_archtics__custs", "batch_load_id"),
                               ("marts.fct_ticket_purchases", "batch_load_id"), ("marts.dim_account", "source_load_id"),
                               ("kore.SyncedTicketPurchases", "_source_load_id"))
        }  # fmt: skip
    finally:
        con.close()
    _build(settings, "--full-refresh")
    return {"settings": settings, "incremental": incremental, "full": _snapshot(settings), "delta": delta,
            "moved": moved, "rewritten": rewritten}  # fmt: skip


def test_incremental_build_equals_a_full_rebuild(builds: dict) -> None:
    assert builds["delta"]["names_changed"] > 0 and builds["delta"]["tickets_returned"] > 0 and builds["moved"] > 0
    for table in TABLES:
        inc, full = builds["incremental"][table], builds["full"][table]
        assert len(inc) == len(full), f"{table}: {len(inc)} rows incrementally, {len(full)} in a full rebuild"
        assert inc == full, f"{table}: the incremental build differs from a full rebuild"


def test_late_older_change_does_not_win_and_a_new_expanded_row_retires_the_plan_row(builds: dict) -> None:
    con = duckdb.connect(str(builds["settings"].duckdb_path), read_only=True)
    try:
        names = con.execute("select name_last from stg.stg_archtics__custs where acct_id = 1005").fetchall()
        assert names and all(n != "Stale" for (n,) in names)
        plan_rows = con.execute(
            "select is_active from marts.fct_ticket_purchases where acct_id = 1001 and is_plan_level_row = 1"
        ).fetchall()
        assert plan_rows == [(0,)]
    finally:
        con.close()


def test_incremental_build_rewrites_only_what_the_delta_touched(builds: dict) -> None:
    """~1% of names and tickets changed: each incremental table rewrote a small share of its rows, yet
    some (the run did happen)."""
    for table, share in builds["rewritten"].items():
        assert 0 < share < 0.1, f"{table}: the incremental run rewrote {share:.1%} of the rows"


def test_data_tests_check_the_rows_the_latest_run_wrote(builds: dict) -> None:
    """A duplicate the latest run did not write is outside a routine build's tests (older runs were
    tested when they ran); var kore_test_all_rows tests every row and finds it; a duplicate in the
    latest run's rows fails the routine test."""
    import json

    settings = builds["settings"]
    unique = ["test", "--select", "fct_ticket_purchases,test_name:unique"]

    def duplicate(batch: str) -> None:
        con = duckdb.connect(str(settings.duckdb_path))
        try:
            con.execute("delete from marts.fct_ticket_purchases where load_id = 'dup'")
            con.execute(
                f"insert into marts.fct_ticket_purchases select * replace ('dup' as load_id, {batch} as batch_load_id) "
                "from marts.fct_ticket_purchases where acct_id = 1002 and is_plan_level_row = 1"
            )
        finally:
            con.close()

    duplicate("'0'")
    assert run_dbt(settings, unique, check=False).ok
    assert not run_dbt(settings, [*unique, "--vars", json.dumps({"kore_test_all_rows": True})], check=False).ok
    duplicate("(select max(batch_load_id) from marts.fct_ticket_purchases)")
    assert not run_dbt(settings, unique, check=False).ok
