"""KORE apps' changed rows written straight into a DuckDB warehouse: the whole run in one transaction.

Why: through dlt's load packages the parsed Arrow tables are written to parquet, normalized, copied
into a staging dataset and merged: ~14 s of a 1M-account first landing, and a fixed cost on every
run. On DuckDB the rows the cursor lets through go in with ``insert ... by name`` from Arrow, doing
what the package path's ``merge`` does:

* per entity table: the rows of the written ids deleted, the rows inserted with the run's
  ``_dlt_load_id`` and a ``_dlt_id`` (staging orders by the load id);
* the quarantine merged on its key (file, line, hash of the line), as dlt merges it, but only the
  lines it does not already hold as they are (:func:`not_landed`);
* per entity table its row of ``raw_kore_app.entity_cursors``: the cursor
  (:class:`~dlt_pipelines.state_cursor.StateCursor`'s state: the newest ``modified_at`` and the ids
  at it) and the file it read (fingerprint of bytes and manifest columns, good rows, quarantined
  lines), so the next run does not even parse a file that is still the same: all its rows are in,
  and its quarantined lines too. The run is recorded as a finished load in ``_dlt_loads``.

All in one transaction: a run killed before the commit leaves rows, quarantine and cursors as they
were, and the next run writes the same rows again. A cursor starts where the last direct run left
it, else where the package path's dlt state left it (a warehouse landed by dlt continues there,
also when the workdir lost dlt's local state: it is restored from the warehouse). A run that finds
nothing to write opens no transaction. Missing tables and columns are created by one dlt run of
empty tables with the package path's hints (:func:`ensure_tables`), so both paths give the same
tables; that run commits before the rows (a crash can leave new tables empty, nothing else).
Other destinations (SQL Server) load dlt packages.
"""

from __future__ import annotations

import json
from typing import Any

import dlt
import pyarrow as pa

from dlt_pipelines.archtics_common import (
    dataset_columns,
    destination_columns,
    discard_interrupted_packages,
    new_load_id,
    record_load,
    registered,
)
from dlt_pipelines.state_cursor import StateCursor

CURSOR_TABLE = "entity_cursors"  # per entity table: its cursor and the file whose rows it holds
CURSOR_STATE = ("cursor", "keys_at_cursor")  # StateCursor's state
# a table's row of CURSOR_TABLE: the cursor, and the export file (fingerprint: bytes and manifest
# columns) whose rows are all landed with the counts it gave, so an unchanged file is not read again
STATE_COLUMNS = (*CURSOR_STATE, "file_fingerprint", "rows_read", "quarantined")
ROWS_VIEW = "kore_app_rows"  # the Arrow table being written, registered while it is inserted
DLT_COLUMNS = ("_dlt_load_id", "_dlt_id")
QUARANTINE_KEY = ("source_file", "source_line", "raw_hash")
QUARANTINE_SCHEMA = pa.schema(
    [pa.field("source_file", pa.string(), False), pa.field("source_line", pa.int64(), False),
     ("entity", pa.string()), ("reason", pa.string()), ("raw_text", pa.string()),
     pa.field("raw_hash", pa.string(), False)]
)  # fmt: skip


class Table:
    """One table a run writes: its rows and the hints the package path gives it."""

    def __init__(self, name: str, rows: pa.Table, key: tuple[str, ...], columns: dict[str, Any] | None = None):
        self.name, self.rows, self.key, self.columns = name, rows, key, columns


def finish_pending(pipeline: dlt.Pipeline) -> None:
    """Load what a killed package-path run left (rows and dlt state) before reading the cursors."""
    discard_interrupted_packages(pipeline.working_dir)
    if pipeline.list_extracted_load_packages():
        pipeline.normalize()
    if pipeline.list_normalized_load_packages():
        pipeline.load().raise_on_failed_jobs()


def saved_states(pipeline: dlt.Pipeline) -> dict[str, dict[str, Any]] | None:
    """Per entity table what the last committed direct run left (:data:`STATE_COLUMNS`); None when
    the dataset does not exist yet."""
    with pipeline.sql_client() as client:
        if not client.has_dataset():
            return None
        if CURSOR_TABLE not in dataset_columns(client):
            return {}
        rows = client.native_connection.execute(
            f"select table_name, {', '.join(STATE_COLUMNS)} from {client.make_qualified_table_name(CURSOR_TABLE)}"
        ).fetchall()
    out = {str(r[0]): dict(zip(STATE_COLUMNS, r[1:], strict=True)) for r in rows}
    for state in out.values():
        state["keys_at_cursor"] = json.loads(state["keys_at_cursor"])
    return out


def changed_rows(
    pipeline: dlt.Pipeline,
    tables: dict[str, pa.Table],
    saved: dict[str, dict[str, Any]] | None,
    initial: str,
    column: str,
    key: str,
) -> tuple[dict[str, pa.Table], dict[str, dict[str, Any]]]:
    """Per table the rows the cursor lets through, and the cursor state after them. A table the
    direct path has not landed yet starts from the package path's state (restored from the warehouse
    when this workdir lost it)."""
    if saved is not None and any(t not in saved for t in tables):
        pipeline.sync_destination()
    legacy = pipeline.state.get("sources", {}).get(pipeline.pipeline_name, {}).get("resources", {})
    changed: dict[str, pa.Table] = {}
    states: dict[str, dict[str, Any]] = {}
    for name, table in tables.items():
        state = {k: v for k, v in ((saved or {}).get(name) or legacy.get(name) or {}).items() if k in CURSOR_STATE}
        cursor = StateCursor(column, initial, key, state=state)
        changed[name] = cursor.table(table)
        cursor.commit()
        states[name] = {k: state[k] for k in CURSOR_STATE}
    return changed, states


def not_landed(pipeline: dlt.Pipeline, name: str, rows: pa.Table) -> pa.Table:
    """The ``rows`` the table ``name`` does not hold as they are (all of them when it does not exist):
    the quarantine of an unchanged file is not written again."""
    with pipeline.sql_client() as client:
        if name not in dataset_columns(client):
            return rows
        con = client.native_connection
        with registered(con, ROWS_VIEW, rows):
            cols = ", ".join(client.escape_column_name(c) for c in rows.column_names)
            sql = f"select * from {ROWS_VIEW} except select {cols} from {client.make_qualified_table_name(name)}"
            return con.sql(sql).to_arrow_table().cast(rows.schema)


def ensure_tables(pipeline: dlt.Pipeline, tables: list[Table]) -> list[str]:
    """Have dlt create the tables and columns ``tables`` need and the warehouse lacks, with the
    package path's hints (one run of empty tables); returns the tables it created or altered."""
    have = destination_columns(pipeline)
    missing = [t for t in tables if not {*t.rows.column_names, *DLT_COLUMNS} <= set(have.get(t.name, ()))]
    if missing:

        @dlt.source(name=pipeline.pipeline_name)
        def empty_tables() -> Any:
            return [
                dlt.resource([t.rows.schema.empty_table()], name=t.name, table_name=t.name,
                             primary_key=list(t.key), write_disposition="merge", columns=t.columns)
                for t in missing
            ]  # fmt: skip

        pipeline.run(empty_tables())
    return sorted(t.name for t in missing)


def write(pipeline: dlt.Pipeline, tables: list[Table], cursors: dict[str, dict[str, Any]]) -> str | None:
    """Merge ``tables`` (rows replace the rows with their key) and write ``cursors``, in one
    transaction; returns the load id (None when there was nothing to write)."""
    tables = [t for t in tables if t.rows.num_rows]
    if not tables and not cursors:
        return None
    ensure_tables(pipeline, tables)
    load_id = new_load_id()
    with pipeline.sql_client() as client, client.begin_transaction():
        con = client.native_connection
        for t in tables:
            _merge(client, con, t, load_id)
        if cursors:
            _write_cursors(client, con, cursors, load_id)
        record_load(client, pipeline, load_id)
    return load_id


def _merge(client: Any, con: Any, t: Table, load_id: str) -> None:
    table = client.make_qualified_table_name(t.name)
    with registered(con, ROWS_VIEW, t.rows):
        match = " and ".join(f"d.{client.escape_column_name(k)} = r.{client.escape_column_name(k)}" for k in t.key)
        con.execute(f"delete from {table} d where exists (select 1 from {ROWS_VIEW} r where {match})")
        con.execute(
            f"insert into {table} by name select *, ? as _dlt_load_id, "
            f"concat(?, cast(row_number() over () as varchar)) as _dlt_id from {ROWS_VIEW}",
            [load_id, f"{load_id}:"],
        )


def _write_cursors(client: Any, con: Any, states: dict[str, dict[str, Any]], load_id: str) -> None:
    table = client.make_qualified_table_name(CURSOR_TABLE)
    con.execute(
        f"create table if not exists {table} (table_name varchar, cursor varchar, keys_at_cursor varchar, "
        "file_fingerprint varchar, rows_read bigint, quarantined bigint, _dlt_load_id varchar)"
    )
    names = list(states)
    con.execute(f"delete from {table} where table_name in ({', '.join(['?'] * len(names))})", names)
    con.executemany(
        f"insert into {table} values (?, ?, ?, ?, ?, ?, ?)",
        [
            [n, s["cursor"], json.dumps(s["keys_at_cursor"]), s["file_fingerprint"], s["rows_read"], s["quarantined"]]
            + [load_id]
            for n, s in states.items()
        ],
    )
