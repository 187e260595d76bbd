"""Warehouse I/O of the dedup step: the only module that reads or writes ``kore_dedup.*``.

Keeps connections short (DuckDB allows one writer: dbt and dlt run in between).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pandas as pd

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


def read_table(wh: Warehouse, table: str, schema: str = SCHEMA, where: str = "") -> pd.DataFrame:
    """A whole kore_dedup table as a frame (empty frame when the table does not exist yet)."""
    if not wh.table_exists(schema, table):
        return pd.DataFrame()
    return wh.query_df(f"select * from {schema}.{table} {where}")


def read_records(wh: Warehouse) -> pd.DataFrame:
    if not wh.table_exists(VIEW_SCHEMA, "dedup_person_records"):
        raise RuntimeError("dedup.dedup_person_records does not exist: run `kore dbt build` (the dedup views) first")
    return wh.query_df(f"select * from {VIEW_SCHEMA}.dedup_person_records")


def read_candidate_pairs(wh: Warehouse) -> pd.DataFrame | None:
    """The candidate view, or None when it is absent (the engine then blocks by itself)."""
    if not wh.table_exists(VIEW_SCHEMA, "dedup_candidate_pairs"):
        return None
    return wh.query_df(f"select record_id_l, record_id_r, blocking_key from {VIEW_SCHEMA}.dedup_candidate_pairs")


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
    wh.replace_table(SCHEMA, name, pd.DataFrame({"id": pd.Series(sorted(ids), dtype="string")}))
    return f"{SCHEMA}.{name}"


def delete_where_in(wh: Warehouse, table: str, columns: tuple[str, ...], ids_table: str) -> None:
    """Delete rows of kore_dedup.<table> whose any of ``columns`` is in the ids table."""
    if not wh.table_exists(SCHEMA, table):
        return
    cond = " or ".join(f"{_text(c)} in (select id from {ids_table})" for c in columns)
    wh.execute(f"delete from {SCHEMA}.{table} where {cond}")


def rows_where_in(wh: Warehouse, table: str, column: str, ids_table: str, schema: str = SCHEMA) -> pd.DataFrame:
    if not wh.table_exists(schema, table):
        return pd.DataFrame()
    return wh.query_df(f"select * from {schema}.{table} where {_text(column)} in (select id from {ids_table})")


def _text(column: str) -> str:
    """Compare id columns as text; only numeric ones need a cast (a cast on text defeats pruning)."""
    return f"cast({column} as varchar(40))" if column == "acct_id" else column
