"""The person-record contract (``kore.contracts.person_fields``) holds wherever the records are made.

Why: the dbt view ``dedup.dedup_person_records`` (SQL, not Python) and the benchmark's own SQL build
the records the engine reads; a column added to one and not to the contract (or the reverse) would
silently become null in the engine. The view is built by dbt on the small fixture warehouse and its
columns are read back; the benchmark's SQL runs on a small generated export.
"""

from __future__ import annotations

import json

import duckdb
import pytest

from benchmarks import dedup as bench
from dbt_build.runner import run_dbt
from dedup.engine import ensure_columns
from kore.config import Settings
from kore.contracts.person_fields import (
    COLUMN_PURPOSE,
    DISPLAY_FIELDS,
    GOLDEN_FIELDS,
    PERSON_FIELDS,
    PERSON_RECORD_COLUMNS,
)
from tests import dbt_fixture

VARS = ["--vars", json.dumps({"excluded_account_types": "Comp, Internal"})]


def test_every_column_says_what_it_is_for_and_the_subsets_are_columns():
    assert PERSON_RECORD_COLUMNS == tuple(COLUMN_PURPOSE)
    assert all(purpose.strip() for purpose in COLUMN_PURPOSE.values())
    assert set(PERSON_FIELDS) <= set(PERSON_RECORD_COLUMNS)
    assert set(GOLDEN_FIELDS) == set(PERSON_FIELDS) - {"full_name"}
    assert {f + "_display" for f in DISPLAY_FIELDS} <= set(PERSON_RECORD_COLUMNS)
    assert set(DISPLAY_FIELDS) <= set(GOLDEN_FIELDS)


def test_the_dbt_view_has_exactly_the_contract_columns(tmp_path_factory: pytest.TempPathFactory):
    settings = Settings(workdir=tmp_path_factory.mktemp("dedup_contract"))
    dbt_fixture.build(settings.duckdb_path, with_dedup=False)
    run_dbt(settings, ["build", "--select", "+dedup_person_records", "--exclude", "test_type:data", *VARS])
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:
        cols = [d[0] for d in con.execute("select * from dedup.dedup_person_records limit 0").description]
    finally:
        con.close()
    assert tuple(cols) == PERSON_RECORD_COLUMNS


def test_the_benchmark_builds_the_contract_columns(tmp_path):
    assert set(bench.NOT_BUILT) <= set(PERSON_RECORD_COLUMNS)
    bench.generate(tmp_path, 30)
    records = bench.build_person_records(tmp_path)
    assert list(records.columns) == [*bench.BUILT_COLUMNS, "row_hash"]
    assert len(records) > 0
    # what it leaves out, the engine fills in (as nulls): together the contract
    assert set(ensure_columns(records).columns) == set(PERSON_RECORD_COLUMNS)
