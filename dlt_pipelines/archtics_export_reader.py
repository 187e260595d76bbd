"""Read and check the part files of the Archtics static export (gzip'd CSV + ``manifest.json``).

What the landing relies on (the dlt side is :mod:`dlt_pipelines.archtics_export_source`):

* **Whole files or nothing.** A part file is checked against the manifest: the sha256 of the .gz
  bytes before reading, the header columns and the data-row count while reading. Any mismatch
  raises :class:`FileRefused` (after the last block for the row count), so the caller can drop the
  file from its extract; nothing of a refused file may land.
* **Line-exact quarantine at arrow speed.** Record boundaries are found with numpy (a newline
  ends a record when the number of quotes before it is even, RFC 4180), which gives every record
  its physical start line even when values contain newlines. pyarrow parses the records (all
  columns as text); rows with the wrong number of fields, invalid UTF-8, blank lines or values
  that do not parse as their declared type (``kore.contracts.archtics``) become quarantine rows
  with file, line and reason.
* Hashing and type checks run in an in-process DuckDB over each arrow chunk (fast, vectorised);
  this is a compute library here, independent of the warehouse target (DuckDB or SQL Server).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from isal import igzip, isal_zlib

from dlt_pipelines.archtics_common import (
    BUSINESS_KEY,
    DATE_PATTERN,
    INTEGER_PATTERN,
    ROW_HASH,
    SOURCE_FILE,
    SOURCE_LINE,
    TIMESTAMP_PATTERN,
    business_key_sql,
    registered,
    row_hash_sql,
    sql_name,
)
from kore.contracts.archtics import DATASETS, Dataset
from kore.errors import KoreError

CHUNK_BYTES = 16 * 1024 * 1024  # decompressed bytes parsed at once: bounds memory per file


class FileRefused(Exception):
    """A part file failed a manifest check; none of its rows were landed."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path


# --------------------------------------------------------------------------------------------
# manifest


class ManifestInvalid(KoreError, ValueError):
    """The manifest is missing, not JSON or malformed: nothing is landed; a one-line user error."""


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
        raise ManifestInvalid(f"no manifest.json in {export_dir}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestInvalid(f"{path} is not valid JSON ({exc}); nothing was landed") from exc
    if not isinstance(doc, dict) or doc.get("format_version") != 1:
        version = doc.get("format_version") if isinstance(doc, dict) else None
        raise ManifestInvalid(f"{path}: unsupported format_version {version!r}")
    files = []
    try:
        for f in doc["files"]:
            if f["dataset"] not in DATASETS:
                raise ManifestInvalid(f"{path}: unknown dataset {f['dataset']!r} for {f['path']}")
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
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, ManifestInvalid):
            raise
        raise ManifestInvalid(f"{path}: malformed entry ({type(exc).__name__}: {exc})") from exc


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
    newlines: int = -1  # line breaks in data (as many as records: none inside a value); -1 unknown

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
    newlines = np.flatnonzero(buf == 10)
    if len(newlines) and b'"' in data:
        # the parity of the quotes of each line (the bytes up to and including its newline), then
        # the running parity: XOR reductions over bytes, ~4x faster than locating every quote of
        # an export that quotes each field (a quarter of a ticket part's bytes are quotes)
        line_starts = np.empty(len(newlines), np.int64)
        line_starts[0] = 0
        line_starts[1:] = newlines[:-1] + 1
        is_quote = (buf[: int(newlines[-1]) + 1] == 34).view(np.uint8)
        odd_before = np.bitwise_xor.accumulate(np.bitwise_xor.reduceat(is_quote, line_starts))
        ends_idx = np.flatnonzero(odd_before == 0)
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
    n_lines = int(ends_idx[-1]) + 1
    return Records(data[:cut], starts, ends, lines, n_lines), data[cut:], first_line + n_lines


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


def check_sql(columns: list[str], ds: Dataset) -> str:
    """SELECT computing each row's hash and the reason it is malformed (NULL when it is fine)."""
    hash_expr, key_expr = row_hash_sql(columns), business_key_sql(ds)
    whens = []
    for c in ds.integer_columns:
        if c in columns:
            whens.append(
                f"when {sql_name(c)} is not null and not regexp_full_match({sql_name(c)}, '{INTEGER_PATTERN[1:-1]}') "
                f"then '{c} is not an integer'"
            )
    for c in ds.timestamp_columns:
        if c in columns:
            whens.append(
                f"when {sql_name(c)} is not null and (not regexp_full_match({sql_name(c)}, '{TIMESTAMP_PATTERN[1:-1]}') "
                f"or try_strptime(substr({sql_name(c)}, 1, 19), ['%Y-%m-%d %H:%M:%S', '%Y-%m-%d']) is null) "
                f"then '{c} is not a valid timestamp'"
            )
    for c in ds.date_columns:
        if c in columns:
            whens.append(
                f"when {sql_name(c)} is not null and (not regexp_full_match({sql_name(c)}, '{DATE_PATTERN[1:-1]}') "
                f"or try_strptime({sql_name(c)}, '%Y-%m-%d') is null) then '{c} is not a valid date'"
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

        # pyarrow's parser is ~35% faster when it need not look for line breaks inside quoted
        # values: safe when every line break of the block ends a record and there is no CR at all
        n_lines = recs.newlines if data is recs.data and recs.newlines >= 0 else data.count(b"\n")
        plain = b"\r" not in data and n_lines == len(idx)
        parse_opts = pacsv.ParseOptions(
            newlines_in_values=not plain, ignore_empty_lines=False, invalid_row_handler=on_invalid
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
        with registered(self.con, "chunk", table):
            checks = self.con.sql(self.sql).to_arrow_table()
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
    missing = [c for c in DATASETS[part.dataset].required_columns if c not in part.columns]
    if missing:  # the manifest's column list, checked against the dataset's contract
        raise FileRefused(part.path, f"required column(s) {', '.join(missing)} of {part.dataset} missing")
    path = export_dir / part.path
    if not path.exists():
        raise FileRefused(part.path, "listed in the manifest but missing")
    actual = sha256_of(path)
    if actual != part.sha256:
        raise FileRefused(part.path, f"sha256 {actual[:12]}... does not match the manifest ({part.sha256[:12]}...)")
    records = 0
    try:
        with igzip.open(path, "rb") as fh:  # ISA-L inflate: ~2.8x zlib's speed on the export's parts
            header = fh.readline().decode("utf-8-sig").rstrip("\r\n")
            cols = next(csv.reader([header]), [])
            if tuple(cols) != part.columns:
                raise FileRefused(part.path, "header columns differ from the manifest")
            parser = BlockParser(part, cols, con)
            for recs in iter_records(fh, 2, block):
                parsed = parser.parse(recs)
                records += parsed.records
                yield parsed
    except (OSError, EOFError, zlib.error, isal_zlib.error) as exc:
        raise FileRefused(part.path, f"unreadable gzip ({type(exc).__name__}: {exc})") from exc
    if records != part.rows:
        raise FileRefused(part.path, f"{records} data rows, the manifest says {part.rows}")
