"""GX's SQL datasource on the warehouse: the suites' metrics are computed by the warehouse engine.

Why: validating with GX's pandas engine copied every checked column of every table into Python (at
100k accounts the checks were the slowest stage of the flow). GX's ``SqlAlchemyExecutionEngine``
turns the same expectations into aggregate queries (``count``, ``sum(case ...)``, a ``group by``
for uniqueness) and fetches only the counts and up to ``partial_unexpected_count`` example keys.

DuckDB (``duckdb_engine``): GX 1.24 cannot use duckdb_engine as it is, for two reasons fixed here
with a registered dialect subclass, :class:`KoreDuckDBDialect` (URL ``duckdb+kore://``):

- GX fetches a result *after* returning the connection to the pool; SQLAlchemy then rolls back the
  transaction it began, and a DuckDB rollback on the same DuckDB connection discards the pending
  result (every metric came back empty: "list index out of range", GX issue #10738). The checks only
  read, so the dialect runs every statement in DuckDB's autocommit mode (no BEGIN, no ROLLBACK).
- (speed) GX reflects every validated table's columns and primary key through the dialect; through
  duckdb_engine's PostgreSQL catalog emulation that is ~55 ms a table (the primary-key query even
  fails: DuckDB has no REGCLASS), ~4 s of a 76-suite run whatever the data's size. The dialect reads
  each schema's columns in one catalog query and primary keys from ``duckdb_constraints()``.
- GX picks SQL per dialect *name* and knows no "duckdb" (regex expectations raised "Regex is not
  supported for dialect duckdb"). duckdb_engine is SQLAlchemy's PostgreSQL dialect underneath and
  DuckDB evaluates PostgreSQL's ``~`` as a regex search, as GX's pandas engine does, so the dialect
  reports PostgreSQL's name to GX.

The connections are cursors of the run's own warehouse connection (``creator``), so no second
DuckDB instance opens the file (a second ``duckdb.connect`` with other options is refused).

SQL Server: ``mssql+pyodbc`` from :func:`kore.config.mssql_connection`. GX cannot evaluate regex
expectations in T-SQL; :func:`needs_frame` sends those (and ``between`` on text columns, which need
a lenient cast) to GX's pandas engine with only their own column and the key columns.
"""

from __future__ import annotations

from typing import Any

from duckdb_engine import ConnectionWrapper
from duckdb_engine import Dialect as DuckDBDialect
from sqlalchemy.dialects import registry

from kore.config import Settings, mssql_connection

DIALECT_URL = "duckdb+kore:///"
BETWEEN_TYPES = ("expect_column_values_to_be_between", "expect_column_max_to_be_between")
TEXT_TYPES = ("varchar", "text", "char", "nvarchar", "nchar", "string", "ntext")
SQLSERVER_UNSUPPORTED = ("expect_column_values_to_match_regex", "expect_column_values_to_not_match_regex")


class KoreDuckDBDialect(DuckDBDialect):
    """duckdb_engine for read-only validation: autocommit, and PostgreSQL's name for GX (see above)."""

    name = "postgresql"
    supports_statement_cache = False

    def do_begin(self, connection: Any) -> None:
        """No BEGIN: every statement commits on its own, so no rollback can discard a result."""

    def do_rollback(self, connection: Any) -> None:
        """Nothing to roll back (reads in autocommit mode)."""

    def do_commit(self, connection: Any) -> None:
        """Nothing to commit (reads in autocommit mode)."""

    def get_multi_columns(
        self,
        connection: Any,
        schema: str | None = None,
        filter_names: Any = None,
        scope: Any = None,
        kind: Any = None,
        **kw: Any,
    ) -> Any:
        """Columns of ``filter_names`` from one catalog query per schema (a check run only reads, so
        a schema's columns do not change while this engine lives)."""
        cache = self.__dict__.setdefault("_kore_columns", {})
        key = (schema, scope, kind)
        if key not in cache:
            everything = super().get_multi_columns(connection, schema, None, scope, kind, **kw)
            cache[key] = dict(everything)
        found = cache[key]
        if filter_names is None:
            return list(found.items())
        wanted = [(schema, name) for name in filter_names]
        return [(k, found[k]) for k in wanted if k in found]

    def get_pk_constraint(self, connection: Any, table_name: str, schema: str | None = None, **kw: Any) -> dict:
        """The primary key from DuckDB's own catalog (the PostgreSQL emulation's query fails)."""
        rows = connection.exec_driver_sql(
            "select constraint_column_names from duckdb_constraints() where constraint_type = 'PRIMARY KEY' "
            "and table_name = ? and schema_name = coalesce(?, current_schema())",
            (table_name, schema),
        ).fetchall()
        return {"constrained_columns": list(rows[0][0]) if rows else [], "name": None}


registry.register("duckdb.kore", __name__, "KoreDuckDBDialect")


def add_warehouse_datasource(context: Any, settings: Settings, duckdb_con: Any = None) -> Any:
    """GX's SQL datasource on the configured warehouse (DuckDB: cursors of ``duckdb_con``)."""
    if settings.target == "duckdb":
        if duckdb_con is None:
            raise ValueError("the DuckDB datasource needs the run's warehouse connection")
        return context.data_sources.add_sql(
            "kore_warehouse",
            connection_string=DIALECT_URL,
            kwargs={"creator": lambda: ConnectionWrapper(duckdb_con.cursor())},
        )
    url = mssql_connection().sqlalchemy_url().render_as_string(hide_password=False)
    return context.data_sources.add_sql("kore_warehouse", connection_string=url)


def needs_frame(target: str, expectation: dict[str, Any], column_types: dict[str, str]) -> bool:
    """Whether GX's SQL engine cannot evaluate ``expectation`` here, so it runs on a small frame.

    ``column_types`` maps the table's real column names to their SQL types (lower case).
    """
    kind = expectation["type"]
    if target != "duckdb" and kind in SQLSERVER_UNSUPPORTED:
        return True
    if kind in BETWEEN_TYPES:  # text compared with numbers/dates: pandas coerces, SQL would refuse
        col = (expectation.get("kwargs") or {}).get("column")
        return str(column_types.get(col, "")).lower().startswith(TEXT_TYPES)
    return False
