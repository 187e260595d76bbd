"""Land the Archtics static export (gzip'd CSV part files + manifest) into ``raw_archtics``.

Why it is built this way:

* **Whole files or nothing.** A part file is checked against the manifest (sha256 of the .gz
  bytes before reading; header columns and data-row count while reading). Files are extracted
  in groups of about a million rows, one ``pipeline.extract`` (= one load package) per group; if a
  check fails the extract raises, dlt never commits that extract's package, the bad file is dropped
  from the group and the rest is extracted again. Nothing of a refused file lands; other files do,
  and the run then fails naming the refused files.
* **Exactly once, also after a kill.** A file's rows, its quarantined rows and its
  ``file_ledger`` row travel in the same dlt load package. Pending packages (left by a killed
  run) are loaded before the ledger is read, so a file extracted by a killed run is never
  extracted again, and a half-loaded package is completed. Tables are written with ``append``
  (a merge costs 4x the load time); the one gap that leaves - dlt re-runs a load job whose insert
  had committed just before the kill - is closed by :func:`reconcile_resumed`, which removes
  duplicate natural keys (file + line, ledger path) within the resumed load ids.
* **Line-exact quarantine at arrow speed.** Record boundaries are found with numpy (a newline
  ends a record when the number of quotes before it is even, RFC 4180), which gives every record
  its physical start line even when values contain newlines. pyarrow parses the records (all
  columns as text); rows with the wrong number of fields, invalid UTF-8, blank lines or values
  that do not parse as their declared type go to ``raw_archtics.quarantine`` with file, line and
  reason. The run fails only when the quarantined share exceeds ``max_bad_share``.
* Hashing and type checks run in an in-process DuckDB over each arrow chunk (fast, vectorised);
  this is a compute library here, independent of the warehouse target (DuckDB or SQL Server).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from dlt.common.pipeline import LoadInfo
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dlt_pipelines.archtics_common import (
    BUSINESS_KEY,
    DATASETS,
    HASH_NULL,
    HASH_SEP,
    INTEGER_PATTERN,
    MERGE_NOTE,
    RAW_DATASET,
    ROW_HASH,
    SOURCE_FILE,
    SOURCE_LINE,
    TIMESTAMP_PATTERN,
    Dataset,
    discard_interrupted_packages,
    hash_columns,
)
from kore.config import Settings, dlt_destination
from kore.runlog import run_record

PIPELINE_NAME = "archtics_export"
CHUNK_BYTES = 16 * 1024 * 1024
LOAD_EVERY_ROWS = (
    1_000_000  # extracted rows per normalize+load  # decompressed bytes parsed at once: bounds memory per file
)
APPEND = "append"  # fastest load path; exactly-once is restored by reconcile_resumed() (see there)
RECONCILE_MARKER = "kore_reconcile_load_ids.json"

# natural key of each table the export writes: a key seen twice within one load id is a duplicate
MERGE_COLUMNS = ("old_acct_id", "new_acct_id", "note_id", "change_ts", "_dlt_id")
NATURAL_KEYS = {
    "account_merges": ("note_id", "old_acct_id"),
    "quarantine": ("source_file", "source_line"),
    "file_ledger": ("path",),
    "load_cutoff": ("cutoff",),
}


class FileRefused(Exception):
    """A part file failed a manifest check; none of its rows were landed."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path


class ExportFailed(RuntimeError):
    """The export run finished but must not count as a success (refused files, too many bad rows)."""


# --------------------------------------------------------------------------------------------
# manifest


@dataclass(frozen=True)
class PartFile:
    dataset: str
    path: str  # relative to the export dir; also the _source_file value
    rows: int
    sha256: str
    columns: tuple[str, ...]
    bytes: int = 0


@dataclass(frozen=True)
class Manifest:
    cutoff: str
    generated_at: str
    files: tuple[PartFile, ...]


def read_manifest(export_dir: Path) -> Manifest:
    """Parse ``manifest.json``; a missing or malformed manifest stops the run before anything lands."""
    path = export_dir / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"no manifest.json in {export_dir}")
    doc = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("format_version") != 1:
        raise ValueError(f"{path}: unsupported format_version {doc.get('format_version')!r}")
    files = []
    for f in doc["files"]:
        if f["dataset"] not in DATASETS:
            raise ValueError(f"{path}: unknown dataset {f['dataset']!r} for {f['path']}")
        files.append(
            PartFile(
                dataset=f["dataset"],
                path=f["path"],
                rows=int(f["rows"]),
                sha256=f["sha256"].lower(),
                columns=tuple(f["columns"]),
                bytes=int(f.get("bytes", 0)),
            )
        )
    return Manifest(cutoff=doc["cutoff"], generated_at=str(doc.get("generated_at", "")), files=tuple(files))


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(4 * 1024 * 1024):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# CSV records with physical line numbers


@dataclass
class Records:
    """A run of complete CSV records cut from the decompressed stream."""

    data: bytes
    starts: np.ndarray  # byte offset of each record in data
    ends: np.ndarray  # byte offset of each record's terminating newline
    lines: np.ndarray  # physical line number (header = 1) where each record starts

    def __len__(self) -> int:
        return len(self.starts)

    def text(self, i: int) -> bytes:
        raw = self.data[int(self.starts[i]) : int(self.ends[i])]
        return raw[:-1] if raw.endswith(b"\r") else raw


def split_records(data: bytes, first_line: int) -> tuple[Records, bytes, int]:
    """Cut ``data`` (which starts at a record boundary) into complete records.

    Returns the records, the unfinished tail (to prepend to the next block) and the line number the
    tail starts on. A newline ends a record iff an even number of quote characters precede it.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(buf == 34)
    newlines = np.flatnonzero(buf == 10)
    if len(quotes):
        ends_idx = np.flatnonzero((np.searchsorted(quotes, newlines) & 1) == 0)
    else:
        ends_idx = np.arange(len(newlines))
    if not len(ends_idx):
        return Records(data[:0], *(np.empty(0, np.int64),) * 3), data, first_line
    ends = newlines[ends_idx].astype(np.int64)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    lines = np.empty_like(ends)
    lines[0] = first_line
    lines[1:] = first_line + ends_idx[:-1] + 1
    cut = int(ends[-1]) + 1
    return Records(data[:cut], starts, ends, lines), data[cut:], first_line + int(ends_idx[-1]) + 1


def iter_records(stream: io.BufferedIOBase, first_line: int, block: int) -> Iterator[Records]:
    """Complete records from a binary stream, ``block`` bytes at a time (bounded memory)."""
    tail, line = b"", first_line
    while True:
        chunk = stream.read(block)
        eof = not chunk
        data = tail + chunk
        if eof:
            if not data:
                return
            if not data.endswith(b"\n"):
                data += b"\n"
        recs, tail, line = split_records(data, line)
        if len(recs):
            yield recs
        if eof:
            if tail:  # an opening quote never closed: the rest of the file is one broken record
                n = np.array([0], np.int64)
                yield Records(tail + b"\n", n, np.array([len(tail)], np.int64), np.array([line], np.int64))
            return


# --------------------------------------------------------------------------------------------
# parsing and checking one block of records


@dataclass
class Parsed:
    table: pa.Table | None  # good rows: source columns (text) + _source_file, _source_line, _row_hash
    bad: list[dict[str, Any]] = field(default_factory=list)  # quarantine rows
    records: int = 0


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def check_sql(columns: list[str], ds: Dataset) -> str:
    """SELECT computing each row's hash and the reason it is malformed (NULL when it is fine)."""
    parts = [f"coalesce({_q(c)}, chr({ord(HASH_NULL)}))" for c in hash_columns(columns)]
    hash_expr = f"md5(concat_ws(chr({ord(HASH_SEP)}), {', '.join(parts)}))"
    key_parts = [f"coalesce({_q(c)}, chr({ord(HASH_NULL)}))" for c in ds.business_key]
    key_expr = f"concat_ws(chr({ord(HASH_SEP)}), {', '.join(key_parts)})"
    whens = []
    for c in ds.integer_columns:
        if c in columns:
            whens.append(
                f"when {_q(c)} is not null and not regexp_full_match({_q(c)}, '{INTEGER_PATTERN[1:-1]}') "
                f"then '{c} is not an integer'"
            )
    for c in ds.timestamp_columns:
        if c in columns:
            whens.append(
                f"when {_q(c)} is not null and (not regexp_full_match({_q(c)}, '{TIMESTAMP_PATTERN[1:-1]}') "
                f"or try_strptime(substr({_q(c)}, 1, 19), ['%Y-%m-%d %H:%M:%S', '%Y-%m-%d']) is null) "
                f"then '{c} is not a valid timestamp'"
            )
    reason = f"case {' '.join(whens)} end" if whens else "cast(null as varchar)"
    return f"select {hash_expr} as h, {key_expr} as k, {reason} as reason from chunk"


class BlockParser:
    """Parses blocks of records of one part file into good rows and quarantine rows."""

    def __init__(self, part: PartFile, columns: list[str], con: duckdb.DuckDBPyConnection):
        self.part = part
        self.columns = columns
        self.con = con
        self.sql = check_sql(columns, DATASETS[part.dataset])
        self.id_prefix = part.sha256[:16] + ":"
        self.read_opts = pacsv.ReadOptions(column_names=columns, use_threads=True, block_size=4 << 20)
        self.convert_opts = pacsv.ConvertOptions(
            column_types={c: pa.string() for c in columns}, strings_can_be_null=True, null_values=[""]
        )

    def _bad(self, recs: Records, i: int, reason: str) -> dict[str, Any]:
        return {
            "source_file": self.part.path,
            "source_line": int(recs.lines[i]),
            "dataset": self.part.dataset,
            "reason": reason,
            "raw_text": recs.text(i).decode("utf-8", errors="backslashreplace"),
        }

    def parse(self, recs: Records) -> Parsed:
        out = Parsed(table=None, records=len(recs))
        keep = np.ones(len(recs), dtype=bool)
        lengths = recs.ends - recs.starts
        for i in np.flatnonzero(lengths <= 1):  # empty, or a lone "\r"
            if not recs.text(int(i)):
                keep[i] = False
                out.bad.append(self._bad(recs, int(i), "blank line"))
        for i in self._bad_utf8(recs):
            if keep[i]:
                keep[i] = False
                out.bad.append(self._bad(recs, i, "invalid UTF-8"))
        idx = np.flatnonzero(keep)
        if not len(idx):
            return out
        data = recs.data if len(idx) == len(recs) else self._select(recs, idx)
        invalid: list[str] = []

        def on_invalid(row: Any) -> str:
            invalid.append(row.text)
            return "skip"

        parse_opts = pacsv.ParseOptions(
            newlines_in_values=True, ignore_empty_lines=False, invalid_row_handler=on_invalid
        )
        table = pacsv.read_csv(io.BytesIO(data), self.read_opts, parse_opts, self.convert_opts)
        if invalid:
            bad_pos = self._locate(recs, idx, invalid)
            for pos in bad_pos:
                i = int(idx[pos])
                n_fields = "wrong number of fields"
                out.bad.append(self._bad(recs, i, f"{n_fields} (expected {len(self.columns)})"))
            mask = np.ones(len(idx), dtype=bool)
            mask[bad_pos] = False
            idx = idx[mask]
        if table.num_rows != len(idx):
            raise FileRefused(
                self.part.path,
                f"unbalanced quotes between lines {int(recs.lines[0])} and {int(recs.lines[-1])}: "
                "record boundaries are ambiguous",
            )
        self.con.register("chunk", table)
        try:
            checks = self.con.sql(self.sql).to_arrow_table()
        finally:
            self.con.unregister("chunk")
        reasons = checks.column("reason")
        bad_rows = np.flatnonzero(pc.is_valid(reasons).to_numpy(zero_copy_only=False))
        if len(bad_rows):
            for r in bad_rows:
                out.bad.append(self._bad(recs, int(idx[r]), str(reasons[int(r)].as_py())))
            good = np.ones(table.num_rows, dtype=bool)
            good[bad_rows] = False
            table = table.filter(pa.array(good))
            checks = checks.filter(pa.array(good))
            idx = idx[good]
        table = table.append_column(SOURCE_FILE, pa.array(np.full(len(idx), self.part.path, dtype=object), pa.string()))
        lines = pa.array(recs.lines[idx], pa.int64())
        table = table.append_column(SOURCE_LINE, lines)
        table = table.append_column(ROW_HASH, checks.column("h"))
        table = table.append_column(BUSINESS_KEY, checks.column("k"))
        # a deterministic _dlt_id (file digest + line) instead of dlt's random one: free, and the
        # delta pipeline, which merges into these tables, needs the column filled
        out.table = table.append_column(
            "_dlt_id", pc.binary_join_element_wise(self.id_prefix, pc.cast(lines, pa.string()), "")
        )
        return out

    @staticmethod
    def _bad_utf8(recs: Records) -> list[int]:
        """Indices of records holding bytes that are not UTF-8 (usually none: one decode call)."""
        bad, pos = [], 0
        while True:
            try:
                recs.data[pos:].decode("utf-8")
                return bad
            except UnicodeDecodeError as exc:
                at = pos + exc.start
                i = int(np.searchsorted(recs.ends, at))  # record whose terminator is at/after the byte
                bad.append(i)
                pos = int(recs.ends[i]) + 1

    @staticmethod
    def _select(recs: Records, idx: np.ndarray) -> bytes:
        """The bytes of the records at ``idx`` (sorted), joined back together."""
        # contiguous runs of kept records become single slices
        breaks = np.flatnonzero(np.diff(idx) != 1)
        run_starts = np.concatenate(([0], breaks + 1))
        run_ends = np.concatenate((breaks, [len(idx) - 1]))
        return b"".join(
            recs.data[int(recs.starts[idx[a]]) : int(recs.ends[idx[b]]) + 1]
            for a, b in zip(run_starts, run_ends, strict=True)
        )

    @staticmethod
    def _locate(recs: Records, idx: np.ndarray, texts: list[str]) -> list[int]:
        """Positions (in ``idx``) of the records pyarrow rejected, found by their text.

        Only records of the same byte length are compared, so this stays cheap with many bad rows.
        """
        lengths = recs.ends[idx] - recs.starts[idx]
        found: set[int] = set()
        for text in texts:
            raw = text.encode("utf-8")
            for n in (len(raw), len(raw) + 1):  # the record may end in "\r\n"
                hit = next(
                    (
                        int(p)
                        for p in np.flatnonzero(lengths == n)
                        if int(p) not in found and recs.text(int(idx[p])) == raw
                    ),
                    None,
                )
                if hit is not None:
                    found.add(hit)
                    break
            else:
                raise FileRefused("?", f"cannot locate a rejected CSV row ({len(raw)} bytes)")
        return sorted(found)


def read_part(
    export_dir: Path, part: PartFile, con: duckdb.DuckDBPyConnection, block: int = CHUNK_BYTES
) -> Iterator[Parsed]:
    """Check and parse one part file; raises FileRefused on any manifest mismatch (after the last block)."""
    path = export_dir / part.path
    if not path.exists():
        raise FileRefused(part.path, "listed in the manifest but missing")
    actual = sha256_of(path)
    if actual != part.sha256:
        raise FileRefused(part.path, f"sha256 {actual[:12]}... does not match the manifest ({part.sha256[:12]}...)")
    records = 0
    try:
        with gzip.open(path, "rb") as fh:
            header = fh.readline().decode("utf-8-sig").rstrip("\r\n")
            cols = next(csv.reader([header]), [])
            if tuple(cols) != part.columns:
                raise FileRefused(part.path, "header columns differ from the manifest")
            parser = BlockParser(part, cols, con)
            for recs in iter_records(fh, 2, block):
                parsed = parser.parse(recs)
                records += parsed.records
                yield parsed
    except (OSError, EOFError, zlib.error) as exc:
        raise FileRefused(part.path, f"unreadable gzip ({type(exc).__name__}: {exc})") from exc
    if records != part.rows:
        raise FileRefused(part.path, f"{records} data rows, the manifest says {part.rows}")


# --------------------------------------------------------------------------------------------
# dlt source


QUARANTINE_SCHEMA = pa.schema(
    [("source_file", pa.string()), ("source_line", pa.int64()), ("dataset", pa.string()),
     ("reason", pa.string()), ("raw_text", pa.string())]
)  # fmt: skip


@dlt.source(name=PIPELINE_NAME, max_table_nesting=0)
def export_files_source(
    export_dir: Path,
    parts: list[PartFile],
    block: int = CHUNK_BYTES,
    on_block: Callable[[int], Any] | None = None,
) -> Any:
    """Part files, one after the other: their rows, quarantined rows and ledger rows (one package)."""

    @dlt.resource(name="export_files", write_disposition=APPEND)
    def export_files() -> Iterator[Any]:
        con = duckdb.connect(config={"threads": 2})
        try:
            for part in parts:
                good = bad = 0
                for parsed in read_part(export_dir, part, con, block):
                    if parsed.table is not None and parsed.table.num_rows:
                        good += parsed.table.num_rows
                        yield dlt.mark.with_table_name(parsed.table, part.dataset)
                        if part.dataset == "note":
                            merges = account_merges(parsed.table)
                            if merges.num_rows:
                                yield dlt.mark.with_table_name(merges, "account_merges")
                    if parsed.bad:
                        bad += len(parsed.bad)
                        q = pa.Table.from_pylist(parsed.bad, schema=QUARANTINE_SCHEMA)
                        yield dlt.mark.with_table_name(q, "quarantine")
                    if on_block is not None:
                        on_block(parsed.records)
                ledger = {"path": part.path, "sha256": part.sha256, "dataset": part.dataset, "rows": good + bad,
                          "landed": good, "quarantined": bad}  # fmt: skip
                yield dlt.mark.with_table_name([ledger], "file_ledger")
        finally:
            con.close()

    return export_files


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


# --------------------------------------------------------------------------------------------
# running


def make_pipeline(settings: Settings, name: str = PIPELINE_NAME) -> dlt.Pipeline:
    settings.ensure_dirs()
    settings.apply_env()
    # arrow tables get _dlt_load_id/_dlt_id like JSON rows do (the raw-table contract names them)
    os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
    # no _dlt_id for export rows: generating it costs a third of the landing time, and
    # (_source_file, _source_line) identifies each row; delta rows get _dlt_id from dlt as usual
    return dlt.pipeline(
        pipeline_name=name,
        destination=dlt_destination(settings),
        dataset_name=RAW_DATASET,
        pipelines_dir=str(settings.dlt_data_dir),
    )


def finish_pending(pipeline: dlt.Pipeline) -> list[str]:
    """Load the packages a killed run left behind, then remove what a re-run job doubled.

    The resumed load ids are written to a marker file first, so a kill during the load or the
    clean-up leads to the clean-up on the next start too.
    """
    marker = Path(pipeline.working_dir) / RECONCILE_MARKER
    ids: set[str] = set(json.loads(marker.read_text())) if marker.exists() else set()
    discard_interrupted_packages(pipeline.working_dir)
    if pipeline.list_extracted_load_packages():
        pipeline.normalize()
    pending = list(pipeline.list_normalized_load_packages())
    ids |= set(pending)
    if pending:
        marker.write_text(json.dumps(sorted(ids)))
        pipeline.load().raise_on_failed_jobs()
    if ids:
        reconcile_resumed(pipeline, sorted(ids))
        marker.unlink(missing_ok=True)
    return sorted(ids)


def _natural_key(table: str) -> tuple[str, ...]:
    return NATURAL_KEYS.get(table, (SOURCE_FILE, SOURCE_LINE))


def reconcile_resumed(pipeline: dlt.Pipeline, load_ids: list[str]) -> dict[str, int]:
    """Drop exact duplicate rows that a re-executed load job inserted within ``load_ids``.

    A duplicate is detected by its natural key (a landed row is one physical CSV line). Because a
    re-executed job inserts the same file again, the copies are identical, so keeping one
    DISTINCT copy per load id restores the exact clean-run contents. Returns rows removed per table.
    """
    removed: dict[str, int] = {}
    schema = pipeline.default_schema
    ids = ", ".join("'" + i.replace("'", "") + "'" for i in load_ids)
    with pipeline.sql_client() as client:
        if not client.has_dataset():
            return removed
        for table in schema.data_table_names():
            name = client.make_qualified_table_name(table)
            key = ", ".join(client.escape_column_name(c) for c in _natural_key(table))
            dup_sql = (
                f"select _dlt_load_id, sum(n - 1) from (select _dlt_load_id, {key}, count(*) as n "
                f"from {name} where _dlt_load_id in ({ids}) group by _dlt_load_id, {key} "
                "having count(*) > 1) d group by _dlt_load_id"
            )
            try:
                with client.execute_query(dup_sql) as cur:
                    doubled = [(r[0], int(r[1])) for r in cur.fetchall() if int(r[1]) > 0]
            except Exception as exc:
                if "exist" in str(exc).lower():
                    continue
                raise
            for load_id, extra in doubled:
                for stmt in dedupe_statements(pipeline.destination.destination_name, name, load_id):
                    client.execute_sql(stmt)
                removed[table] = removed.get(table, 0) + extra
    return removed


def dedupe_statements(destination: str, table: str, load_id: str) -> list[str]:
    """Keep one copy of each identical row of one load id (dialect-specific, hence isolated here)."""
    where = f"_dlt_load_id = '{load_id}'"
    if destination == "mssql":
        return [
            "begin transaction",
            f"select distinct * into #kore_dedupe from {table} where {where}",
            f"delete from {table} where {where}",
            f"insert into {table} select * from #kore_dedupe",
            "drop table #kore_dedupe",
            "commit",
        ]
    return [
        "begin transaction",
        f"create temp table kore_dedupe as select distinct * from {table} where {where}",
        f"delete from {table} where {where}",
        f"insert into {table} select * from kore_dedupe",
        "drop table kore_dedupe",
        "commit",
    ]


def _query(pipeline: dlt.Pipeline, sql_template: str, table: str) -> list[tuple]:
    """Rows of a small ops query against a raw table, [] when the table does not exist yet."""
    with pipeline.sql_client() as client:
        if not client.has_dataset():
            return []
        name = client.make_qualified_table_name(table)
        try:
            with client.execute_query(sql_template.format(table=name)) as cur:
                return [tuple(r) for r in cur.fetchall()]
        except Exception as exc:  # the table appears with the first load
            if "exist" in str(exc).lower() or "not found" in str(exc).lower() or "invalid object" in str(exc).lower():
                return []
            raise


def ledger(pipeline: dlt.Pipeline) -> dict[str, tuple[str, str, int, int, int]]:
    rows = _query(pipeline, "select path, sha256, dataset, rows, landed, quarantined from {table}", "file_ledger")
    return {r[0]: (r[1], r[2], int(r[3]), int(r[4]), int(r[5])) for r in rows}


def land_export(
    settings: Settings,
    export_dir: Path,
    max_bad_share: float = 0.01,
    *,
    block_bytes: int = CHUNK_BYTES,
    show_progress: bool = True,
    datasets: Iterable[str] | None = None,
) -> dict:
    """Land every part file of the export not landed yet; see the module docstring for guarantees.

    ``datasets`` limits this run to some datasets (e.g. to re-time or re-land one); the summary
    always covers everything landed from this export.

    Returns counts per dataset (rows landed, quarantined), files loaded/skipped/refused and the
    cutoff. Raises ExportFailed after landing what is good when a file was refused or the share of
    quarantined rows is above ``max_bad_share``.
    """
    export_dir = Path(export_dir).resolve()
    with run_record(settings, "land_export", "archtics") as rec:
        manifest = read_manifest(export_dir)
        pipeline = make_pipeline(settings)
        resumed = len(finish_pending(pipeline))
        existing = _query(pipeline, "select cutoff from {table}", "load_cutoff")
        if existing and {r[0] for r in existing} != {manifest.cutoff}:
            raise ExportFailed(
                f"raw_archtics already holds an export cut at {sorted(r[0] for r in existing)}; "
                f"this manifest is cut at {manifest.cutoff}. Use a fresh warehouse for a new export."
            )
        if not existing:
            pipeline.run(cutoff_source(manifest))
        done = ledger(pipeline)
        refused: list[str] = []
        extracted: list[str] = []
        todo = []
        only = set(datasets) if datasets is not None else None
        for part in manifest.files:
            if only is not None and part.dataset not in only:
                continue
            if part.path in done:
                if done[part.path][0] != part.sha256:
                    refused.append(f"{part.path}: already landed with a different sha256; not re-landed")
                continue
            todo.append(part)
        with _progress(show_progress) as progress:
            task = progress.add_task("landing export", total=sum(p.rows for p in todo) or 1)
            for group in groups(todo, LOAD_EVERY_ROWS):
                while group:
                    progress.update(task, description=f"{group[0].path} (+{len(group) - 1} files)")
                    done_before = progress.tasks[0].completed
                    try:
                        pipeline.extract(
                            export_files_source(export_dir, group, block_bytes, lambda n: progress.advance(task, n))
                        )
                    except Exception as exc:  # PipelineStepFailed wraps FileRefused
                        cause = _root_cause(exc)
                        if not isinstance(cause, FileRefused):
                            raise
                        # nothing of this extract was committed: drop the bad file, extract the rest again
                        refused.append(str(cause))
                        bad = next((p for p in group if p.path == cause.path), group[-1])
                        progress.update(task, completed=done_before + bad.rows)
                        group = [p for p in group if p is not bad]
                        continue
                    extracted.extend(p.path for p in group)
                    progress.update(task, description="loading")
                    pipeline.normalize()
                    info: LoadInfo = pipeline.load()
                    info.raise_on_failed_jobs()
                    break
        summary = summarize(ledger(pipeline), manifest)
        summary.update(
            files_loaded=len(extracted),
            files_skipped=sum(1 for p in manifest.files if p.path in done),
            files_refused=refused,
            packages_resumed=resumed,
            cutoff=manifest.cutoff,
        )
        rec.rows_in = summary["rows"] + summary["quarantined"]
        rec.rows_out = summary["rows"]
        rec.rows_failed = summary["quarantined"]
        rec.detail = {k: v for k, v in summary.items() if k != "files_refused"} | {"files_refused": len(refused)}
        problems = list(refused)
        if summary["bad_share"] > max_bad_share:
            problems.append(
                f"{summary['quarantined']} of {summary['rows'] + summary['quarantined']} rows quarantined "
                f"({summary['bad_share']:.2%} > {max_bad_share:.2%}); see raw_archtics.quarantine"
            )
        if problems:
            rec.outcome = "failed: ExportFailed"
            err = ExportFailed("export landing incomplete:\n  " + "\n  ".join(problems))
            err.summary = summary  # type: ignore[attr-defined]
            raise err
        return summary


def account_merges(notes: pa.Table) -> pa.Table:
    """Account merges recorded in a block of note rows ("Merged account <old> into <new>")."""
    empty = pa.table({c: pa.array([], pa.string()) for c in MERGE_COLUMNS})
    if "text" not in notes.column_names or not notes.num_rows:
        return empty
    text = notes.column("text")
    hit = pc.fill_null(pc.match_substring_regex(text, MERGE_NOTE.pattern, ignore_case=True), False)
    if not pc.any(hit).as_py():
        return empty
    rows = notes.filter(hit)
    parts = pc.extract_regex(rows.column("text"), r"(?i)^\s*Merged account\s+(?P<old>\d+)\s+into\s+(?P<new>\d+)")
    parts = parts.combine_chunks() if isinstance(parts, pa.ChunkedArray) else parts
    ts = rows.column("upd_datetime") if "upd_datetime" in rows.column_names else pa.nulls(rows.num_rows, pa.string())
    return pa.table(
        {
            "old_acct_id": parts.field("old"),
            "new_acct_id": parts.field("new"),
            "note_id": rows.column("note_id"),
            "change_ts": ts,
            "_dlt_id": pc.binary_join_element_wise(rows.column("_dlt_id"), "m", ""),
        }
    )


def groups(parts: list[PartFile], max_rows: int) -> Iterator[list[PartFile]]:
    """Consecutive runs of part files of about ``max_rows`` rows: one extract + load each.

    Loads have a fixed cost, so small files share one; a refused file costs a re-extract of its
    group only.
    """
    group: list[PartFile] = []
    rows = 0
    for p in parts:
        if group and rows + p.rows > max_rows:
            yield group
            group, rows = [], 0
        group.append(p)
        rows += p.rows
    if group:
        yield group


def summarize(done: dict[str, tuple[str, str, int, int, int]], manifest: Manifest) -> dict:
    """Counts per dataset over every landed file of this export (so a re-run reports the same)."""
    per: dict[str, dict[str, int]] = {}
    for part in manifest.files:
        if part.path not in done:
            continue
        _, ds, rows, landed, bad = done[part.path]
        d = per.setdefault(ds, {"files": 0, "rows": 0, "quarantined": 0})
        d["files"] += 1
        d["rows"] += landed
        d["quarantined"] += bad
    rows = sum(d["rows"] for d in per.values())
    bad = sum(d["quarantined"] for d in per.values())
    return {
        "files": len(manifest.files),
        "rows": rows,
        "quarantined": bad,
        "bad_share": bad / (rows + bad) if rows + bad else 0.0,
        "datasets": per,
    }


def _root_cause(exc: BaseException) -> BaseException:
    seen = exc
    while seen.__cause__ is not None or getattr(seen, "exception", None) is not None:
        nxt = seen.__cause__ or seen.exception  # type: ignore[attr-defined]
        if nxt is seen:
            break
        seen = nxt
        if isinstance(seen, FileRefused):
            return seen
    return seen


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        disable=not enabled,
        transient=False,
    )
