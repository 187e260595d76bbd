"""Find tables in the warehouse and read the columns a suite needs into a DataFrame.

Names are resolved through ``information_schema`` case-insensitively, because dbt creates
``kore.SyncedContacts`` as ``syncedcontacts`` on DuckDB but keeps the case on SQL Server.
DuckDB is read through the run's ``kore.warehouse`` connection; SQL Server through a SQLAlchemy
``mssql+pyodbc`` engine (pandas reads SQL Server properly only through SQLAlchemy).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from kore.config import Settings, mssql_connection
from kore.warehouse import Warehouse


def mssql_engine(settings: Settings):
    """A SQLAlchemy engine for the configured SQL Server. Creating it does not connect."""
    from sqlalchemy import create_engine

    return create_engine(mssql_connection().sqlalchemy_url(), fast_executemany=True, pool_pre_ping=True)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def key_text_sql(expr: str) -> str:
    """DuckDB SQL for :func:`kore.contracts.checks.normalize_key` of ``expr``: text, trimmed,
    ``1001.0`` as ``1001``, NULL when empty (keys compare as text)."""
    trimmed = f"regexp_replace(cast({expr} as varchar), '^\\s+|\\s+$', '', 'g')"
    return f"nullif(regexp_replace({trimmed}, '^(-?[0-9]+)\\.0+$', '\\1'), '')"


class TableReader:
    """Catalogue look-ups and column reads for one check run (one open warehouse connection)."""

    def __init__(self, settings: Settings, wh: Warehouse):
        self.settings = settings
        self.wh = wh
        self._engine: Any = None
        self._tables: dict[str, tuple[str, str]] | None = None
        self._columns: dict[tuple[str, str], dict[str, str]] | None = None
        self._types: dict[tuple[str, str], dict[str, str]] = {}

    def _catalogue(self) -> dict[str, tuple[str, str]]:
        if self._tables is None:
            rows = self.wh.query_rows("select table_schema, table_name from information_schema.tables")
            self._tables = {f"{s}.{t}".lower(): (str(s), str(t)) for s, t in rows}
        return self._tables

    def resolve(self, qualified: str) -> tuple[str, str] | None:
        """``schema.table`` as it is spelled in the warehouse, or None when it does not exist."""
        return self._catalogue().get(qualified.lower())

    def exists(self, qualified: str) -> bool:
        return self.resolve(qualified) is not None

    def columns(self, schema: str, table: str) -> dict[str, str]:
        """Lower-case name → real name of the table's columns (the catalogue is read once per run)."""
        if self._columns is None:
            rows = self.wh.query_rows(
                "select table_schema, table_name, column_name, data_type from information_schema.columns"
            )
            self._columns = {}
            for s, t, c, d in rows:
                self._columns.setdefault((str(s), str(t)), {})[str(c).lower()] = str(c)
                self._types.setdefault((str(s), str(t)), {})[str(c)] = str(d).lower()
        return dict(self._columns.get((schema, table), {}))

    def column_types(self, schema: str, table: str) -> dict[str, str]:
        """Real column name → SQL type (lower case), from the same catalogue read."""
        self.columns(schema, table)
        return dict(self._types.get((schema, table), {}))

    def count(self, qualified: str) -> int | None:
        real = self.resolve(qualified)
        if real is None:
            return None
        return int(self.wh.scalar(f"select count(*) from {quote(real[0])}.{quote(real[1])}"))

    def read(self, schema: str, table: str, columns: list[str]) -> pd.DataFrame:
        cols = ", ".join(quote(c) for c in columns) if columns else "1 as one"
        return self.query_df(f"select {cols} from {quote(schema)}.{quote(table)}")

    def read_matching(self, schema: str, table: str, columns: list[str], keys: dict[str, Any]) -> pd.DataFrame:
        """``columns`` of the rows whose key columns, as normalised key text (trimmed, ``1001.0`` is
        ``1001``, empty is ``''``), equal a row of ``keys`` (real column name -> values, as
        :func:`kore.contracts.checks.key_text` gives them). DuckDB joins in the engine; SQL Server
        reads the columns and filters here."""
        from kore.contracts.checks import key_text

        wanted = pd.DataFrame({f"k{i}": list(v) for i, v in enumerate(keys.values())}).drop_duplicates()
        names = list(keys)
        if self.settings.target != "duckdb":
            df = self.read(schema, table, list(dict.fromkeys([*columns, *names])))
            norm = pd.DataFrame({f"k{i}": df[c].map(key_text) for i, c in enumerate(names)})
            mask = norm.merge(wanted.assign(_hit=1), how="left", on=list(wanted.columns))["_hit"].notna().to_numpy()
            return df.loc[mask, columns].reset_index(drop=True)
        norm = [f"coalesce({key_text_sql('t.' + quote(c))}, '')" for c in names]
        on = " and ".join(f"{n} = w.k{i}" for i, n in enumerate(norm))
        picked = ", ".join(f"t.{quote(c)}" for c in columns)
        self.wh.con.register("kore_check_wanted_keys", wanted)
        try:
            sql = f"select {picked} from {quote(schema)}.{quote(table)} t join kore_check_wanted_keys w on {on}"
            return self.wh.query_df(sql)
        finally:
            self.wh.con.unregister("kore_check_wanted_keys")

    def orphan_keys(
        self, child: tuple[str, str], column: str, parent: tuple[str, str], parent_column: str, limit: int
    ) -> tuple[int, int, list[str]]:
        """(non-null references, references to no parent row, up to ``limit`` distinct orphan keys)
        of ``child.column`` -> ``parent.parent_column``, keys compared as normalised text, counted
        by DuckDB (no column leaves the engine)."""
        c_src, p_src = (f"{quote(s)}.{quote(t)}" for s, t in (child, parent))
        with_ = (
            f"with c as (select {key_text_sql(quote(column))} as k from {c_src}), "
            f"p as (select distinct {key_text_sql(quote(parent_column))} as k from {p_src}), "
            "o as (select c.k from c left join p on c.k = p.k where c.k is not null and p.k is null) "
        )
        refs, orphans = self.wh.query_rows(with_ + "select (select count(k) from c), (select count(*) from o)")[0]
        if not orphans:  # the usual case: no second pass over both tables for examples there are none of
            return int(refs), 0, []
        examples = [str(r[0]) for r in self.wh.query_rows(with_ + f"select distinct k from o limit {int(limit)}")]
        return int(refs), int(orphans), examples

    def repeated_rows(
        self, schema: str, table: str, columns: list[str], keys: list[str], limit: int
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` rows (their ``keys``) whose combination of ``columns`` occurs more than once."""
        src = f"{quote(schema)}.{quote(table)}"
        on = " and ".join(f"t.{quote(c)} = d.{quote(c)}" for c in columns)
        cols = ", ".join(quote(c) for c in columns)
        picked = ", ".join(f"t.{quote(k)}" for k in keys)
        body = f"from {src} t join (select {cols} from {src} group by {cols} having count(*) > 1) d on {on}"
        if self.settings.target == "duckdb":
            sql = f"select {picked} {body} limit {int(limit)}"
        else:
            sql = f"select top {int(limit)} {picked} {body}"
        return self.query_df(sql).to_dict("records")

    def query_df(self, sql: str) -> pd.DataFrame:
        """A SELECT (without parameters) as a DataFrame, on either engine."""
        if self.settings.target == "duckdb":
            return self.wh.query_df(sql)
        from sqlalchemy import text

        if self._engine is None:
            self._engine = mssql_engine(self.settings)
        with self._engine.connect() as con:
            return pd.read_sql(text(sql), con)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
