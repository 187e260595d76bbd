"""The dlt sources of the export landing: part files (rows, quarantine, ledger) and the cutoff.

The package path of destinations other than DuckDB (on DuckDB the rows skip the package:
:mod:`dlt_pipelines.archtics_export_direct`, which shares :func:`part_blocks` and :func:`ledger_row`).

Why one resource yields all three: a file's rows, its quarantined rows and its ``file_ledger``
row must travel in the same dlt load package, so a file is landed exactly once even when a run is
killed (the run module loads pending packages before it reads the ledger). Tables are written with
``append``: a merge costs 4x the load time, and the one duplicate an append can leave (a re-run
load job) is removed by ``archtics_export.reconcile_resumed`` using :data:`NATURAL_KEYS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pyarrow as pa

from dlt_pipelines.archtics_common import BUSINESS_KEY, CHANGE_TS, ROW_HASH, SOURCE_FILE, SOURCE_LINE, StageTimes
from dlt_pipelines.archtics_export_prefetch import Prefetcher
from dlt_pipelines.archtics_export_reader import CHUNK_BYTES, Manifest, Parsed, PartFile, read_part

PIPELINE_NAME = "archtics_export"
APPEND = "append"  # fastest load path; exactly-once is restored by reconcile_resumed() (see there)

# natural key of each table the export writes: a key seen twice within one load id is a duplicate
NATURAL_KEYS = {
    "account_merges": ("note_id", "old_acct_id"),  # written by earlier versions; may be in an old schema
    "quarantine": ("source_file", "source_line"),
    "file_ledger": ("path",),
    "load_cutoff": ("cutoff",),
}
DATASET_NATURAL_KEY = (SOURCE_FILE, SOURCE_LINE)  # a landed dataset row is one physical CSV line

QUARANTINE_SCHEMA = pa.schema(
    [("source_file", pa.string()), ("source_line", pa.int64()), ("dataset", pa.string()),
     ("reason", pa.string()), ("raw_text", pa.string())]
)  # fmt: skip


def natural_key(table: str) -> tuple[str, ...]:
    """The columns that identify one row of a table the export writes."""
    return NATURAL_KEYS.get(table, DATASET_NATURAL_KEY)


@dlt.source(name=PIPELINE_NAME, max_table_nesting=0)
def export_files_source(
    export_dir: Path,
    parts: list[PartFile],
    block: int = CHUNK_BYTES,
    on_block: Callable[[int], Any] | None = None,
    times: StageTimes | None = None,
    replaces: dict[str, str] | None = None,
    prefetch: Prefetcher | None = None,
) -> Any:
    """Part files, one after the other: their rows, quarantined rows and ledger rows (one package).

    ``times`` receives the seconds spent reading and checking the files (``parse``); ``replaces``
    maps a re-landed file's path to the sha256 it replaces (kept in its ledger row). With
    ``prefetch`` the blocks come from its background parse (same blocks, same order, same errors).
    """
    times = times if times is not None else StageTimes()
    replaces = replaces or {}

    @dlt.resource(name="export_files", write_disposition=APPEND)
    def export_files() -> Iterator[Any]:
        con = duckdb.connect(config={"threads": 2})
        try:
            for part in parts:
                yield from _part_tables(export_dir, part, con, block, on_block, times, replaces, prefetch)
        finally:
            con.close()

    return export_files


def _part_tables(
    export_dir: Path,
    part: PartFile,
    con: duckdb.DuckDBPyConnection,
    block: int,
    on_block: Callable[[int], Any] | None,
    times: StageTimes,
    replaces: dict[str, str],
    prefetch: Prefetcher | None = None,
) -> Iterator[Any]:
    """One part file's good rows, quarantine rows and, last, its ledger row."""
    good = bad = 0
    for parsed in part_blocks(export_dir, part, con, block, times, prefetch):
        if parsed.table is not None and parsed.table.num_rows:
            good += parsed.table.num_rows
            yield dlt.mark.with_table_name(with_table_columns(parsed.table, part), part.dataset)
        if parsed.bad:
            bad += len(parsed.bad)
            q = pa.Table.from_pylist(parsed.bad, schema=QUARANTINE_SCHEMA)
            yield dlt.mark.with_table_name(q, "quarantine")
        if on_block is not None:
            on_block(parsed.records)
    if not good:  # a header-only (or all-quarantined) part still creates its dataset's table
        yield dlt.mark.with_table_name(empty_dataset_table(part), part.dataset)
    yield dlt.mark.with_table_name([ledger_row(part, good, bad, replaces)], "file_ledger")


def part_blocks(
    export_dir: Path,
    part: PartFile,
    con: duckdb.DuckDBPyConnection,
    block: int,
    times: StageTimes,
    prefetch: Prefetcher | None = None,
) -> Iterator[Parsed]:
    """The parsed blocks of one part file: from the prefetch thread when there is one (its parse
    seconds are counted there), else read here and counted as ``parse``."""
    if prefetch is not None:
        return prefetch.blocks(part, con)
    return times.iterate("parse", read_part(export_dir, part, con, block))


def ledger_row(part: PartFile, landed: int, quarantined: int, replaces: dict[str, str]) -> dict[str, Any]:
    """A part file's ``file_ledger`` row: what was read, landed and quarantined (and what it replaced)."""
    row: dict[str, Any] = {"path": part.path, "sha256": part.sha256, "dataset": part.dataset,
                           "rows": landed + quarantined, "landed": landed, "quarantined": quarantined}  # fmt: skip
    if part.path in replaces:
        row["replaced_sha256"] = replaces[part.path]
    return row


def parsed_schema(part: PartFile) -> pa.Schema:
    """The columns of a parsed block of this part: source columns as text, then lineage."""
    fields = [pa.field(c, pa.string()) for c in part.columns]
    fields += [pa.field(SOURCE_FILE, pa.string()), pa.field(SOURCE_LINE, pa.int64()), pa.field(ROW_HASH, pa.string()),
               pa.field(BUSINESS_KEY, pa.string()), pa.field("_dlt_id", pa.string())]  # fmt: skip
    return pa.schema(fields)


def with_table_columns(table: pa.Table, part: PartFile) -> pa.Table:
    """A parsed block with every column of its raw table (``change_ts`` empty), for dlt to create."""
    if CHANGE_TS in table.column_names:
        return table
    return table.add_column(len(part.columns), pa.field(CHANGE_TS, pa.string()), pa.nulls(table.num_rows, pa.string()))


def empty_dataset_table(part: PartFile) -> pa.Table:
    """No rows, the columns of the dataset's raw table: a parsed block's, and ``change_ts``, which
    only the deltas fill. Created with the table: added by the first catch-up, the new column made
    DuckDB rewrite every row of the table at its next checkpoint (0.6 s of a 2.3 s catch-up at 100k)."""
    return with_table_columns(parsed_schema(part).empty_table(), part)


@dlt.source(name=PIPELINE_NAME, max_table_nesting=0)
def cutoff_source(manifest: Manifest) -> Any:
    """The export cutoff: where the delta pipeline's incrementals start."""

    @dlt.resource(
        name="load_cutoff",
        write_disposition=APPEND,
        columns={"cutoff": {"data_type": "text"}, "generated_at": {"data_type": "text"}},
    )
    def load_cutoff() -> Iterator[dict]:
        dlt.current.source_state()["cutoff"] = manifest.cutoff
        yield {"cutoff": manifest.cutoff, "generated_at": manifest.generated_at}

    return load_cutoff
