"""dlt's DuckDB destination, with file paths quoted in its load SQL.

Why: dlt 1.31 loads a parquet load file with ``INSERT ... SELECT * FROM read_parquet('<path>')``
without escaping the path, so a workdir whose path holds a ``'`` (``/data/o'brien/kore``) fails
every load job (the ledger, loaded through another job type, lands; the data does not). This
factory is dlt's own ``duckdb`` destination (same type name, configuration and client) whose copy
job doubles the quotes, as SQL string literals require. Remove it when dlt escapes the path itself.
"""

from __future__ import annotations

from typing import Any

from dlt.common.storages.load_storage import ParsedLoadJobFileName
from dlt.destinations import duckdb as dlt_duckdb
from dlt.destinations.impl.duckdb.duck import DuckDbClient, DuckDbCopyJob


def sql_string(value: str) -> str:
    """A SQL string literal (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


class QuotedPathCopyJob(DuckDbCopyJob):
    def run(self) -> None:
        self._sql_client = self._job_client.sql_client
        table = self._sql_client.make_qualified_table_name(self.load_table_name)
        file_format = ParsedLoadJobFileName.parse(self._file_path).file_format
        if file_format == "parquet":
            reader, options = "read_parquet", ", union_by_name=true"
        elif file_format in ("jsonl", "typed-jsonl"):
            reader, options = "read_json", ""
        else:
            raise ValueError(self._file_path)
        self._sql_client.execute_sql(
            f"INSERT INTO {table} BY NAME SELECT * FROM {reader}({sql_string(self._file_path)}{options})"
        )


class QuotedPathDuckDbClient(DuckDbClient):
    def create_load_job(self, table: Any, file_path: str, load_id: str, restore: bool = False) -> Any:
        job = super().create_load_job(table, file_path, load_id, restore)
        return QuotedPathCopyJob(file_path) if type(job) is DuckDbCopyJob else job


class duckdb(dlt_duckdb):  # noqa: N801 - dlt's factory naming
    """``dlt.destinations.duckdb`` with :class:`QuotedPathCopyJob` (same destination type)."""

    @property
    def destination_type(self) -> str:
        return dlt_duckdb().destination_type

    @property
    def client_class(self) -> type[DuckDbClient]:
        return QuotedPathDuckDbClient
