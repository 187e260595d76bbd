"""Warehouse I/O of the dedup step: the only module that reads or writes ``kore_dedup.*``.

Keeps connections short (DuckDB allows one writer: dbt and dlt run in between): a run opens one for
its reads and writes, never across runs. On DuckDB, frames travel as Arrow (``fetch_df`` here,
``Warehouse`` writes): no Python string object per text cell, no second copy of a large frame.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa

from kore.config import Settings
from kore.warehouse import Warehouse, connect

SCHEMA = "kore_dedup"
VIEW_SCHEMA = "dedup"
DECISION_KINDS = ("set_primary", "force_match", "forbid_match", "review_accept", "review_reject")
DECISION_COLUMNS = (
    "decision_id",
    "kind",
    "record_id_l",
    "record_id_r",
    "acct_id",
    "contact_key",
    "note",
    "decided_at",
    "decided_by",
)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


_NULLABLE_INT = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
}


def fetch_df(wh: Warehouse, sql: str) -> pd.DataFrame:
    """A query's result as a frame; on DuckDB through Arrow.

    Why: DuckDB's ``.df()`` builds Python string objects for every text cell (~0.5 s per 100k rows of
    40 text columns); Arrow hands the text buffers to pandas' Arrow-backed strings without that.
    Types match ``Warehouse.query_df``: integer columns with nulls become nullable ``Int`` columns.
    """
    if wh.target != "duckdb":
        return wh.query_df(sql)
    tbl = wh.con.sql(sql).to_arrow_table()
    df = tbl.to_pandas()
    for i, f in enumerate(tbl.schema):
        if f.type in _NULLABLE_INT and tbl.column(i).null_count:
            df[f.name] = tbl.column(i).to_pandas(types_mapper=_NULLABLE_INT.get).array
    return df


def write_df(wh: Warehouse, table: str, df: pd.DataFrame, replace: bool = False) -> None:
    """Create/replace (``replace``) or append to kore_dedup.<table> from a frame (appends insert by
    column name; on DuckDB the frame travels as Arrow, see ``Warehouse.replace_table``)."""
    (wh.replace_table if replace else wh.append_df)(SCHEMA, table, df)


def read_table(wh: Warehouse, table: str, schema: str = SCHEMA, where: str = "", columns: str = "*") -> pd.DataFrame:
    """A whole kore_dedup table as a frame (empty frame when the table does not exist yet)."""
    if not wh.table_exists(schema, table):
        return pd.DataFrame()
    return fetch_df(wh, f"select {columns} from {schema}.{table} {where}")


def read_records(wh: Warehouse) -> pd.DataFrame:
    if not wh.table_exists(VIEW_SCHEMA, "dedup_person_records"):
        raise RuntimeError("dedup.dedup_person_records does not exist: run `kore dbt build` (the dedup views) first")
    return check_records(fetch_df(wh, f"select * from {VIEW_SCHEMA}.dedup_person_records"))


def check_records(records: pd.DataFrame) -> pd.DataFrame:
    """Refuse person records without a record_id or with one repeated: every cluster, mapping and
    golden contact is keyed on it. (dbt checks the same on the whole view when the SQL changes --
    the kore_primary_key test of dedup_person_records; this guards every run, on the rows it reads.)"""
    if "record_id" in records.columns and len(records):
        ids = records["record_id"]
        missing, repeated = int(ids.isna().sum()), int(ids.duplicated().sum())
        if missing or repeated:
            raise ValueError(
                f"dedup.dedup_person_records is malformed: {missing} record(s) without record_id, "
                f"{repeated} repeated record_id(s); fix the view (a join that fans out?) and re-run dbt"
            )
    return records


def read_candidate_pairs(wh: Warehouse) -> pd.DataFrame | None:
    """The candidate view, or None when it is absent (the engine then blocks by itself)."""
    if not wh.table_exists(VIEW_SCHEMA, "dedup_candidate_pairs"):
        return None
    return fetch_df(wh, f"select record_id_l, record_id_r, blocking_key from {VIEW_SCHEMA}.dedup_candidate_pairs")


def decisions(wh: Warehouse) -> pd.DataFrame:
    df = read_table(wh, "decisions")
    if not len(df):
        return pd.DataFrame(columns=list(DECISION_COLUMNS))
    return df


def add_decision(
    settings: Settings,
    kind: str,
    record_id_l: str | None = None,
    record_id_r: str | None = None,
    acct_id: str | None = None,
    contact_key: str | None = None,
    note: str = "",
    decided_by: str = "person",
) -> dict:
    """Record a manual decision; every later run re-applies it."""
    if kind not in DECISION_KINDS:
        raise ValueError(f"unknown decision kind {kind!r}")
    if record_id_l is not None and record_id_r is not None and record_id_l > record_id_r:
        record_id_l, record_id_r = record_id_r, record_id_l
    row = {
        "decision_id": uuid.uuid4().hex[:16],
        "kind": kind,
        "record_id_l": record_id_l,
        "record_id_r": record_id_r,
        "acct_id": None if acct_id is None else str(acct_id),
        "contact_key": contact_key,
        "note": note,
        "decided_at": now(),
        "decided_by": decided_by,
    }
    df = pd.DataFrame([row]).astype("string")
    with connect(settings) as wh:
        wh.append_df(SCHEMA, "decisions", df)
    return row


def write_ids(wh: Warehouse, ids: set[str] | list[str], name: str = "_ids") -> str:
    """A scratch table of ids (for deletes and lookups by a set of ids); returns its qualified name."""
    write_df(wh, name, pd.DataFrame({"id": pd.Series(sorted(ids), dtype="string")}), replace=True)
    return f"{SCHEMA}.{name}"


def delete_where_in(wh: Warehouse, table: str, columns: tuple[str, ...], ids_table: str) -> None:
    """Delete rows of kore_dedup.<table> whose any of ``columns`` is in the ids table."""
    if not wh.table_exists(SCHEMA, table):
        return
    cond = " or ".join(f"{_text(c)} in (select id from {ids_table})" for c in columns)
    wh.execute(f"delete from {SCHEMA}.{table} where {cond}")


def rows_where_in(
    wh: Warehouse, table: str, column: str, ids_table: str, schema: str = SCHEMA, columns: str = "*"
) -> pd.DataFrame:
    if not wh.table_exists(schema, table):
        return pd.DataFrame()
    return fetch_df(wh, f"select {columns} from {schema}.{table} where {_text(column)} in (select id from {ids_table})")


def _text(column: str) -> str:
    """Compare id columns as text; only numeric ones need a cast (a cast on text defeats pruning)."""
    return f"cast({column} as varchar(40))" if column == "acct_id" else column
