"""Archtics changes merged straight into a DuckDB warehouse: the whole run in one transaction.

Why: through a dlt load package a run's changed rows are written to parquet, normalized, copied into
a staging dataset and merged by one load job per dataset: at a million accounts that was 4 of the
6 s of a 1% catch-up (39,009 rows), a fixed cost that does not shrink with the change. On DuckDB the
changed batches go into temporary staging tables as they are fetched (DuckDB spills them to disk
beyond its memory limit), and at the end one transaction does what dlt's ``delete-insert`` merge
does, per dataset:

* the staged rows deduplicated by ``_business_key``, the newest ``change_ts`` winning (dlt's
  ``dedup_sort``);
* the rows of the batch's keys deleted, for child lists also every row of the batch's parents
  (the same scope SQL as the package path, ``archtics_deltas.merge_scope``), then the batch
  inserted with the run's ``_dlt_load_id`` and a ``_dlt_id``;
* each dataset's cursor (the newest change time fetched) written to ``raw_archtics.delta_cursors``,
  and the run recorded as a finished load in ``_dlt_loads``.

A run killed before the commit leaves the warehouse and the cursors as they were: the next run
fetches the same changes again. A column the API sends that the raw table lacks is added as text
(the raw tables are all text). Other destinations merge through dlt's packages.
"""

from __future__ import annotations

from typing import Any

import dlt
import pyarrow as pa

from dlt_pipelines.archtics_common import BUSINESS_KEY, CHANGE_TS, dataset_columns, new_load_id, record_load, registered

CURSOR_TABLE = "delta_cursors"  # dataset -> newest change time merged (the direct path's cursors)
BATCH_VIEW = "kore_delta_batch"  # a fetched batch, registered while it is staged


class DirectMerge:
    """Stages a run's changed rows per dataset, then merges them all in one transaction."""

    def __init__(self, pipeline: dlt.Pipeline, client: Any):
        """``client``: an open dlt sql client of the pipeline's destination (the run's look-ups' one:
        each new client resolves dlt's configuration again, ~0.1 s)."""
        self.pipeline = pipeline
        self.client = client
        self.staged: dict[str, list[str]] = {}  # dataset -> the staging table's columns

    def __enter__(self) -> DirectMerge:
        return self

    def __exit__(self, *exc: object) -> None:
        for dataset in self.staged:
            self.client.native_connection.execute(f"drop table if exists {self._stage(dataset)}")

    def _q(self, name: str) -> str:
        return self.client.escape_column_name(name)

    def _stage(self, dataset: str) -> str:
        return self._q(f"kore_delta_stage_{dataset}")

    def _table(self, name: str) -> str:
        return self.client.make_qualified_table_name(name)

    def cursors(self) -> dict[str, str]:
        """The cursors the last committed direct run left (none before the first)."""
        if CURSOR_TABLE not in dataset_columns(self.client):
            return {}
        rows = self.client.native_connection.execute(f"select dataset, since from {self._table(CURSOR_TABLE)}")
        return {str(d): str(s) for d, s in rows.fetchall()}

    def stage(self, dataset: str, batch: pa.Table) -> None:
        """Add a batch of changed rows (all text) to the dataset's staging table."""
        con = self.client.native_connection
        stage = self._stage(dataset)
        with registered(con, BATCH_VIEW, batch):
            if dataset not in self.staged:
                con.execute(f"create or replace temp table {stage} as select * from {BATCH_VIEW}")
                self.staged[dataset] = list(batch.column_names)
            else:
                for column in [c for c in batch.column_names if c not in self.staged[dataset]]:
                    con.execute(f"alter table {stage} add column {self._q(column)} varchar")
                    self.staged[dataset].append(column)
                con.execute(f"insert into {stage} by name select * from {BATCH_VIEW}")

    def commit(self, scopes: dict[str, str], cursors: dict[str, str]) -> str:
        """Merge every staged dataset (``scopes``: its delete scope, with ``{staging_table}``) and
        write the ``cursors``, in one transaction; returns the run's load id."""
        load_id = new_load_id()
        with self.client.begin_transaction():
            con = self.client.native_connection
            for dataset, columns in self.staged.items():
                self._merge(con, dataset, columns, scopes[dataset], load_id)
            self._write_cursors(con, cursors, load_id)
            record_load(self.client, self.pipeline, load_id)
        return load_id

    def _merge(self, con: Any, dataset: str, columns: list[str], scope: str, load_id: str) -> None:
        table, stage = self._table(dataset), self._stage(dataset)
        have = set(dataset_columns(self.client).get(dataset, ()))
        for column in [c for c in columns if c not in have]:
            con.execute(f"alter table {table} add column {self._q(column)} varchar")
        newest = f"order by {self._q(CHANGE_TS)} desc nulls last" if CHANGE_TS in columns else ""
        con.execute(f"delete from {table} where {scope.format(staging_table=stage)}")
        con.execute(
            f"insert into {table} by name select * exclude (_kore_rank), ? as _dlt_load_id, "
            f"concat(?, cast(row_number() over () as varchar)) as _dlt_id from ("
            f"select *, row_number() over (partition by {self._q(BUSINESS_KEY)} {newest}) as _kore_rank from {stage}"
            ") d where _kore_rank = 1",
            [load_id, f"{load_id}:{dataset}:"],
        )

    def _write_cursors(self, con: Any, cursors: dict[str, str], load_id: str) -> None:
        table = self._table(CURSOR_TABLE)
        con.execute(f"create table if not exists {table} (dataset varchar, since varchar, _dlt_load_id varchar)")
        if cursors:
            names = list(cursors)
            con.execute(f"delete from {table} where dataset in ({', '.join(['?'] * len(names))})", names)
            con.executemany(f"insert into {table} values (?, ?, ?)", [(d, s, load_id) for d, s in cursors.items()])
