"""GX in the warehouse: the SQL data source gives the pandas engine's results, failures keep examples.

The suites run as GX's SQL data source on the warehouse (``expectations.gx_sql``) instead of copying
tables into pandas. These tests validate one DuckDB table with both GX engines and compare, and run
``kore check`` on a warehouse with defects GX's SQL engine must still report with their keys.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from expectations.gx_sql import needs_frame
from expectations.gx_validate import GxValidator
from expectations.suites import parse_suite
from kore.config import Settings
from tests.test_checks import build_warehouse, check, failed, sql

# every expectation type the suites use, each failing on some rows of the table below
EXPECTATIONS = [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "name"}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "grp"}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
    {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["grp", "v"]}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "v", "min_value": 0, "max_value": 4}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "ts", "max_value": {"$PARAMETER": "now"}}},
    {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "txt", "regex": r"^\s*-?\d+\s*$"}},
    {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "txt", "regex": r"\d", "mostly": 0.5}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "v", "value_set": [0, 1, 2]}},
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1, "max_value": 50}},
    # nulls in a combination compare as equal: (null, 3) twice is a duplicate
    {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["name", "v"]}},
]


@pytest.fixture
def table(tmp_path: Path):
    settings = Settings(workdir=tmp_path)
    settings.ensure_dirs()
    con = duckdb.connect(str(settings.duckdb_path))
    con.execute(
        """create schema s; create table s."Rows" as select
             i as id,
             case when i % 10 = 0 then null else 'n' || i end as name,
             i % 40 as grp,
             i % 7 as v,
             case when i % 9 = 0 then 'x' || i else cast(i as varchar) end as txt,
             timestamp '2026-01-01' + to_days(cast(i * 20 as integer)) as ts
           from range(100) t(i)"""
    )
    yield settings, con
    con.close()


def _outcomes(results) -> list[tuple]:
    return sorted((r.check, r.status, r.failing_rows, r.detail) for r in results)


def test_sql_datasource_gives_the_pandas_engines_results(table):
    settings, con = table
    spec = parse_suite(
        {"name": "s.Rows", "expectations": EXPECTATIONS, "meta": {"kore": {"layer": "raw", "table": "s.Rows"}}}
    )
    params = {"now": datetime(2027, 1, 1) + timedelta(days=1)}
    gx = GxValidator(settings, con)
    columns = {c: c for c in ("id", "name", "grp", "v", "txt", "ts")}
    in_sql, sql_doc = gx.validate_table(spec, ("s", "Rows"), columns, EXPECTATIONS, params)
    frame = con.execute('select * from s."Rows"').df()
    on_frame, _ = gx.validate(spec, "s.Rows", frame, EXPECTATIONS, params, {"id": "id"})
    assert _outcomes(in_sql) == _outcomes(on_frame)
    assert {r.status for r in in_sql} == {"passed", "failed"} and not [r for r in in_sql if r.status == "error"]
    # really validated in the warehouse: GX's batch was the table, not a frame
    assert sql_doc["meta"]["active_batch_definition"]["data_asset_name"] == "s.Rows"


def test_needs_frame_only_for_what_the_targets_sql_cannot_evaluate():
    regex = EXPECTATIONS[6]
    between = {"type": "expect_column_values_to_be_between", "kwargs": {"column": "price", "min_value": 0}}
    assert not needs_frame("duckdb", regex, {})
    assert needs_frame("sqlserver", regex, {})
    assert needs_frame("duckdb", between, {"price": "varchar"})
    assert not needs_frame("duckdb", between, {"price": "decimal(12,2)"})
    assert not needs_frame("sqlserver", EXPECTATIONS[0], {})


def test_failing_expectations_are_reported_with_their_keys(tmp_path):
    wh = build_warehouse(tmp_path)
    sql(wh, "insert into raw_archtics.cust select * from raw_archtics.cust where acct_id = '1004'")
    sql(wh, "update raw_archtics.cust set acct_id = 'x1002' where acct_id = '1002'")
    sql(wh, "update raw_archtics.file_ledger set landed = landed + 1 where dataset = 'cust'")
    report = check(wh, layer="raw")
    [dup] = failed(report, "compound_columns_to_be_unique(acct_id,cust_name_id)", "raw_archtics.cust")
    assert dup.severity == "warn" and dup.failing_rows == 2
    assert dup.examples == [{"acct_id": "1004", "cust_name_id": "1"}] * 2
    [fmt] = failed(report, "column_values_to_match_regex(acct_id)", "raw_archtics.cust")
    assert fmt.failing_rows == 1 and fmt.examples == [{"acct_id": "x1002", "cust_name_id": "1"}]
    con = duckdb.connect(str(wh.duckdb_path), read_only=True)
    try:
        stored = con.execute(
            "select examples from ops.check_results where check_name = ? and run_id = ?",
            [fmt.check, report.run_id],
        ).fetchone()
        record = con.execute("select detail from ops.run_history where stage = 'check'").fetchall()[-1]
    finally:
        con.close()
    assert json.loads(stored[0]) == [{"acct_id": "x1002", "cust_name_id": "1"}]
    # the run record says where the time went, suite by suite and audit by audit
    seconds = json.loads(record[0])["seconds"]
    assert {"setup gx", "suite raw_archtics.cust", "audit reference:acct_id->raw_archtics.cust.acct_id"} <= set(seconds)
    assert report.slowest(3)["suites_total"] > 0 and len(report.slowest(3)) == 3 + 4  # + setups, suites, audits, aheads


def test_read_matching_filters_in_the_warehouse_with_key_text_semantics(table):
    from expectations.frames import TableReader
    from kore.contracts.checks import key_text
    from kore.warehouse import connect

    settings, con = table
    con.execute("create table s.k as select * from (values (' 1001', 'a', 'x'), ('1002.0', 'b', 'y'), "
                "('1003', 'c', 'z'), (null, 'd', 'w'), ('1001', 'e', 'v')) t(acct_id, name_id, city)")  # fmt: skip
    con.close()
    wanted = {"acct_id": [key_text(v) for v in (1001, "1002", None)], "name_id": ["a", "b", "d"]}
    with connect(settings) as wh:
        got = TableReader(settings, wh).read_matching("s", "k", ["acct_id", "city"], wanted)
    assert sorted(got["city"]) == ["w", "x", "y"]


def test_reference_audit_in_sql_compares_keys_as_text(tmp_path):
    wh = build_warehouse(tmp_path)
    sql(wh, "update raw_archtics.ticket set acct_id = ' 1001.0' where seat_num = '1'")  # the same account
    sql(wh, "update raw_archtics.ticket set acct_id = '1001.5' where seat_num = '3'")  # no such account
    report = check(wh, layer="raw")
    [orphan] = failed(report, "reference:acct_id->raw_archtics.cust.acct_id", "raw_archtics.ticket")
    assert orphan.failing_rows == 1 and orphan.examples == [{"acct_id": "1001.5"}]
    assert orphan.detail == "8 references, 1 point to no raw_archtics.cust row"


def test_the_dialect_reflects_what_duckdb_engine_does_with_one_catalog_query_per_schema(table):
    """GX reflects every validated table; the dialect answers from one catalog query per schema (not
    one per table) with duckdb_engine's own answer: the same columns and types, a view's too, a
    primary key, and an unknown table still refused."""
    import sqlalchemy as sa
    from duckdb_engine import ConnectionWrapper

    from expectations.gx_sql import DIALECT_URL

    _, con = table
    con.execute(
        'create table s.keyed (k integer primary key, v varchar); create view s.v_rows as select id, txt from s."Rows"'
    )
    con.execute("create schema t; create table t.other (a date, b double)")
    ours = sa.create_engine(DIALECT_URL, creator=lambda: ConnectionWrapper(con.cursor()))
    plain = sa.create_engine("duckdb:///", creator=lambda: ConnectionWrapper(con.cursor()))
    catalog_queries = []
    sa.event.listen(
        ours, "before_cursor_execute", lambda *a: catalog_queries.append(a[2]) if "pg_catalog" in a[2] else None
    )
    mine, theirs = sa.inspect(ours), sa.inspect(plain)
    tables = [("s", "Rows"), ("s", "keyed"), ("s", "v_rows"), ("t", "other")]

    def described(cols: list[dict]) -> list[tuple]:
        return [(c["name"], str(c["type"]), c["nullable"]) for c in cols]

    for schema, name in tables:
        assert described(mine.get_columns(name, schema=schema)) == described(theirs.get_columns(name, schema=schema))
    columns_queries = [q for q in catalog_queries if "pg_attribute" in q]
    assert len(columns_queries) == 2, len(columns_queries)  # schemas s and t, whatever the number of tables
    assert mine.get_pk_constraint("keyed", schema="s")["constrained_columns"] == ["k"]
    assert mine.get_pk_constraint("Rows", schema="s")["constrained_columns"] == []
    with pytest.raises(sa.exc.NoSuchTableError):
        mine.get_columns("missing", schema="s")


_KEY_VALUES = st.one_of(
    st.none(),
    st.just(float("nan")),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.integers(-(10**6), 10**6).map(float),
    st.text(alphabet=" \t-0123456789.eA:x", max_size=8),
)


@given(st.lists(_KEY_VALUES, max_size=12))
def test_normalize_keys_is_normalize_key_per_value(values):
    """The audits' column-wise key rule is the per-value one: ``1001``, ``'1001'``, ``1001.0`` and
    ``' 1001.00 '`` are one key, empty and null are none."""
    from kore.contracts.checks import normalize_key, normalize_keys

    assert list(normalize_keys(pd.Series(values, dtype=object))) == [normalize_key(v) for v in values]


def test_uniqueness_query_is_valid_tsql_with_null_safe_keys():
    """SQL Server runs the same duplicate-rows query (no ``is not distinct from`` before 2022)."""
    import sqlglot

    from expectations.gx_unique import duplicates_query

    sql_text = duplicates_query(["acct_id", "cust_name_id"], ["acct_id"], "sqlserver").format(batch="raw.cust")
    parsed = sqlglot.parse_one(sql_text, read="tsql")
    assert "IS NULL" in parsed.sql("tsql") and "DISTINCT FROM" not in sql_text.upper()
