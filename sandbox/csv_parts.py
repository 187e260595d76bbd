"""Write a dataset as gzip'd CSV part files of a fixed row count, and describe them for the manifest.

Large Archtics exports arrive as many part files; the landing pipeline commits them one by one, so
the generator writes the same shape. Tables are written with pyarrow's C++ CSV writer and zlib
(gzip header mtime 0), so the bytes, and therefore the manifest's sha256, depend only on the seed.
"""

from __future__ import annotations

import gzip
import hashlib
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv


def as_text_table(columns: dict[str, object], order: list[str], n: int) -> pa.Table:
    """Build a table of string columns in ``order``; missing columns become all-null.

    Empty strings are turned into nulls: the export format says "empty = null", and writing a
    quoted ``""`` would give the reader a value the source never had.
    """
    arrays = []
    for name in order:
        v = columns.get(name)
        if v is None:
            arr = pa.nulls(n, pa.string())
        else:
            arr = v if isinstance(v, pa.Array | pa.ChunkedArray) else pa.array(v, from_pandas=True)
            if arr.type != pa.string():
                arr = pc.cast(arr, pa.string())
            arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)
        if len(arr) != n:
            raise ValueError(f"column {name} has {len(arr)} values, expected {n}")
        arrays.append(arr)
    return pa.table(arrays, names=order)


def gzip_csv_bytes(table: pa.Table, level: int = 3, extra_lines: tuple[str, ...] = ()) -> bytes:
    """CSV (header, RFC 4180 quoting) of ``table`` compressed as gzip with a fixed header.

    ``extra_lines`` are appended verbatim: the sandbox's deliberately malformed rows."""
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=True, quoting_style="needed"))
    body = sink.getvalue().to_pybytes() + "".join(line + "\n" for line in extra_lines).encode("utf-8")
    return gzip.compress(body, compresslevel=level, mtime=0)


# CSV rendering and zlib both release the GIL: two parts are written at once on two cores.
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="csv-part")
MAX_IN_FLIGHT = 3


def _write_part(
    path: Path, rel: str, part: pa.Table, dataset: str, columns: list[str], level: int, extra: tuple[str, ...] = ()
) -> dict:
    data = gzip_csv_bytes(part, level, extra)
    path.write_bytes(data)
    return {
        "dataset": dataset,
        "path": rel,
        "rows": part.num_rows + len(extra),
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "columns": list(columns),
    }


class PartWriter:
    """Accumulates rows of one dataset and writes ``<dataset>/<dataset>-part-NNNN.csv.gz`` files."""

    def __init__(
        self,
        out_dir: Path,
        dataset: str,
        columns: list[str],
        part_rows: int,
        level: int = 3,
        malformed: tuple[str, ...] = (),
    ):
        """``malformed`` lines go at the end of the first part (real exports are dirty; the landing
        must quarantine them with file, line and reason). The manifest counts them as rows."""
        self.malformed = malformed
        self.out_dir = out_dir
        self.dataset = dataset
        self.columns = columns
        self.part_rows = part_rows
        self.level = level
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self._futures: list[Future] = []
        (out_dir / dataset).mkdir(parents=True, exist_ok=True)

    def add(self, table: pa.Table) -> None:
        if table.column_names != self.columns:
            raise ValueError(f"{self.dataset}: columns differ from the dataset definition")
        self.pending.append(table)
        self.pending_rows += table.num_rows
        while self.pending_rows >= self.part_rows:
            self._flush(self.part_rows)

    def _flush(self, rows: int) -> None:
        t = pa.concat_tables(self.pending)
        part, rest = t.slice(0, rows), t.slice(rows)
        self.pending = [rest] if rest.num_rows else []
        self.pending_rows = rest.num_rows
        self._write(part)

    def _write(self, part: pa.Table) -> None:
        rel = f"{self.dataset}/{self.dataset}-part-{len(self._futures) + 1:04d}.csv.gz"
        running = [f for f in self._futures if not f.done()]
        if len(running) >= MAX_IN_FLIGHT:  # bound memory held by queued parts
            running[0].result()
        extra = self.malformed if not self._futures else ()
        self._futures.append(
            _POOL.submit(_write_part, self.out_dir / rel, rel, part, self.dataset, self.columns, self.level, extra)
        )

    @property
    def files(self) -> list[dict]:
        """Manifest entries of the parts written so far (waits for parts still being written)."""
        return [f.result() for f in self._futures]

    def close(self) -> list[dict]:
        """Write what is left (an empty dataset still gets one header-only part)."""
        if self.pending_rows or not self._futures:
            t = (
                pa.concat_tables(self.pending)
                if self.pending
                else pa.table({c: pa.array([], pa.string()) for c in self.columns})
            )
            self.pending, self.pending_rows = [], 0
            self._write(t)
        return self.files
