"""Landing mechanics the export and delta pipelines share (the contract itself - datasets, business
keys, cursors, child lists, typed columns - is :mod:`kore.contracts.archtics`).

Both pipelines write the SAME ``raw_archtics.<dataset>`` tables, so they must agree on the columns
they add (source file/line, row hash, business key), on how a row is hashed (so a delta that changes
nothing is recognised as such), on how a typed value is checked, and on how the leftovers of a
killed dlt run are cleared.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import shutil
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from kore.contracts.archtics import RAW_SCHEMA, SOURCE_FILE_COLUMN, Dataset

T = TypeVar("T")

RAW_DATASET = RAW_SCHEMA

# Columns the pipelines add; never part of the row hash.
SOURCE_FILE = SOURCE_FILE_COLUMN
SOURCE_LINE = "_source_line"
ROW_HASH = "_row_hash"
BUSINESS_KEY = "_business_key"  # business key columns as one NULL-safe text value (merge key of deltas)
CHANGE_TS = "change_ts"  # carried by every API row; not an export column

# Timestamps: ``YYYY-MM-DD HH:MM:SS`` (optionally ``.fff``) or a bare date; both engines parse these.
TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2}(\.\d{1,6})?)?$"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
INTEGER_PATTERN = r"^-?\d{1,18}$"

# Row hash: md5 over the source columns in name order, joined by \x1f, NULL written as \x1e.
# The same definition is computed by DuckDB for export chunks (vectorised) and by Python for API
# rows, so an API row identical to the landed row has the identical hash.
HASH_SEP = "\x1f"
HASH_NULL = "\x1e"

# Destinations whose rows skip dlt's load packages: the export's rows and the deltas' merge are
# written by DuckDB itself, in one transaction per group / run (``archtics_export_direct``,
# ``archtics_deltas_direct``); other destinations (SQL Server) load dlt packages.
DIRECT_DESTINATIONS = frozenset({"duckdb"})


def is_direct(destination_name: str) -> bool:
    """Whether rows go straight into this destination (read at call time: tests switch it off)."""
    return destination_name in DIRECT_DESTINATIONS


def new_load_id(after: str | None = None) -> str:
    """A load id in dlt's form (a Unix timestamp as text), later than ``after``: a replaced file keeps
    the version with the latest load id, and freshness reads the time from it."""
    now = time.time()
    if after is not None:
        now = max(now, float(after) + 1e-6)
    return str(now)


def dataset_columns(client: Any) -> dict[str, list[str]]:
    """Each table of the client's dataset with its columns in table order (none before the dataset
    exists): what a direct write checks before it adds a table or column."""
    rows = client.native_connection.execute(
        "select table_name, column_name from information_schema.columns where table_schema = ? "
        "order by table_name, ordinal_position",
        [client.dataset_name],
    ).fetchall()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(str(table), []).append(str(column))
    return out


def destination_columns(pipeline: Any) -> dict[str, list[str]]:
    """:func:`dataset_columns` of the pipeline's dataset, through a client of its own."""
    with pipeline.sql_client() as client:
        return dataset_columns(client)


@contextlib.contextmanager
def registered(con: Any, name: str, rows: Any) -> Iterator[None]:
    """``rows`` (an Arrow table or stream) readable by DuckDB as ``name`` for the block, then gone."""
    con.register(name, rows)
    try:
        yield
    finally:
        con.unregister(name)


def record_load(client: Any, pipeline: Any, load_id: str) -> None:
    """Record a direct write as a finished load in dlt's ``_dlt_loads`` (inside the caller's
    transaction): the landing guard and freshness read it as they read dlt's own loads. Under the
    pipeline's schema; before its first dlt run it has none: the pipeline's name, no version hash."""
    known = pipeline.default_schema_name
    version_hash = pipeline.default_schema.version_hash if known else None
    client.native_connection.execute(
        f"insert into {client.make_qualified_table_name('_dlt_loads')} "
        "(load_id, schema_name, status, inserted_at, schema_version_hash) values (?, ?, 0, now(), ?)",
        [load_id, known or pipeline.pipeline_name, version_hash],
    )


def hash_columns(columns: Iterable[str]) -> list[str]:
    """The columns that take part in the row hash: source columns only, in a canonical order."""
    return sorted(c for c in columns if not c.startswith("_") and c != CHANGE_TS)


def row_hash(row: Mapping[str, str | None], columns: Iterable[str] | None = None) -> str:
    """md5 of a row's source values (see HASH_SEP/HASH_NULL); equal rows give equal hashes."""
    cols = hash_columns(columns if columns is not None else row.keys())
    return _digest([row.get(c) for c in cols])


def _digest(values: list) -> str:
    """md5 of the values in hash order, joined by HASH_SEP, NULL written as HASH_NULL."""
    return hashlib.md5(HASH_SEP.join([HASH_NULL if v is None else str(v) for v in values]).encode("utf-8")).hexdigest()


class RowHasher:
    """:func:`row_hash` for many rows: the hashed columns are sorted once per set of keys instead of
    once per row (the catch-up hashes every fetched row)."""

    def __init__(self) -> None:
        self._columns: dict[tuple[str, ...], list[str]] = {}

    def __call__(self, row: Mapping[str, str | None]) -> str:
        keys = tuple(row)
        cols = self._columns.get(keys)
        if cols is None:
            cols = self._columns[keys] = hash_columns(keys)
        return _digest([row[c] for c in cols])


def business_key(row: Mapping[str, str | None], ds: Dataset) -> str:
    """The business key columns joined into one text value; NULL-safe, unlike a SQL join on them."""
    return HASH_SEP.join(HASH_NULL if row.get(c) is None else str(row.get(c)) for c in ds.business_key)


def sql_name(name: str) -> str:
    """A column name quoted for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


def _joined_sql(columns: Iterable[str]) -> str:
    """The text columns joined by HASH_SEP, NULL written as HASH_NULL (as :func:`_digest` joins them).

    One ``concat`` with the separators as literals: ~20% faster than ``concat_ws(chr(31), ...)``
    over the export's 50 columns (the row hash is a third of the export's parse)."""
    parts = [f"coalesce({sql_name(c)}, '{HASH_NULL}')" for c in columns]
    sep = f", '{HASH_SEP}', "
    return f"concat({sep.join(parts)})" if parts else "''"


def row_hash_sql(columns: Iterable[str]) -> str:
    """:func:`row_hash` of rows with these text columns, as a DuckDB expression (the export is hashed
    by DuckDB, the fetched changes are too on DuckDB: one definition, equal hashes -- tests)."""
    return f"md5({_joined_sql(hash_columns(columns))})"


def business_key_sql(ds: Dataset) -> str:
    """:func:`business_key` as a DuckDB expression over the dataset's text columns."""
    return _joined_sql(ds.business_key)


def discard_interrupted_packages(working_dir: str | Path) -> list[str]:
    """Remove extracted dlt packages that a kill left half-deleted; returns their load ids.

    dlt's normalize step first renames the normalized package into the load storage (atomic) and
    then deletes the extracted copy (not atomic). A kill in between leaves an extracted package
    whose load id already sits in the load storage, or one without its jobs folder, and the next
    normalize fails on it. Such a package is a leftover: its data is in the load storage already.
    """
    root = Path(working_dir)
    extracted = root / "normalize" / "extracted"
    removed: list[str] = []
    if not extracted.is_dir():
        return removed
    for pkg in sorted(extracted.iterdir()):
        load_id = pkg.name
        in_load = any((root / "load" / state / load_id).exists() for state in ("normalized", "loaded"))
        if in_load or not (pkg / "new_jobs").is_dir():
            shutil.rmtree(pkg, ignore_errors=True)
            removed.append(load_id)
    return removed


class StageTimes(dict):
    """Seconds spent per step of a landing run (parse, dlt extract, normalize, load, HTTP fetch ...).

    Returned in the run summaries and the benchmarks' JSON so each change is judged by what it removes.
    """

    @contextlib.contextmanager
    def timed(self, step: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(step, time.perf_counter() - t0)

    def add(self, step: str, seconds: float) -> None:
        self[step] = self.get(step, 0.0) + seconds

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.items()}

    def iterate(self, step: str, items: Iterable) -> Iterator:
        """Yield from ``items``, counting only the time spent producing them as ``step``."""
        it = iter(items)
        while True:
            t0 = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                self.add(step, time.perf_counter() - t0)
                return
            self.add(step, time.perf_counter() - t0)
            yield item


_DONE = object()


class ReadAhead(Iterator[T]):
    """``items``, produced by a thread (started here) up to ``depth`` items ahead of the consumer.

    The items and their order are the same; an error the producer raises is raised to the consumer
    where the item would have come. :meth:`close` stops the producer: it ends when the item it is
    producing is done, and drops ``items`` (a generator's ``finally`` runs then, in the thread) --
    close waits for that at most ``wait`` seconds (an HTTP request in the middle of its retries),
    then leaves the daemon thread to it. Used by :func:`read_ahead` (the delta pages) and by the
    export's parse thread (``archtics_export_prefetch``).
    """

    def __init__(self, items: Iterable[T], depth: int = 2, name: str = "read-ahead", wait: float = 10.0):
        self._slots: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._wait = wait
        self._thread = threading.Thread(target=self._produce, args=(items,), name=name, daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._slots.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self, items: Iterable[T]) -> None:  # an unfinished generator is closed as it is dropped
        try:
            for item in items:
                if not self._put((item, None)):
                    return
            self._put((_DONE, None))
        except BaseException as exc:  # raised in the consumer
            self._put((_DONE, exc))

    def __iter__(self) -> ReadAhead[T]:
        return self

    def __next__(self) -> T:
        item, exc = self._slots.get()
        if item is _DONE:
            self._slots.put((_DONE, exc))  # asked again: the same end
            if exc is not None:
                raise exc
            raise StopIteration
        return item

    def close(self) -> None:
        self._stop.set()
        deadline = time.monotonic() + self._wait
        while self._thread.is_alive() and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                while True:
                    self._slots.get_nowait()
            self._thread.join(timeout=0.2)

    def __enter__(self) -> ReadAhead[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_ahead(items: Iterable[T], depth: int = 2, name: str = "read-ahead", wait: float = 10.0) -> Iterator[T]:
    """``items`` fetched a few ahead by a thread (:class:`ReadAhead`), as a generator: a consumer
    that stops early (an error of its own, or closing it) stops the producer.

    Why: the delta API is paged and each page's request waits for the server; fetched one after the
    other, the wait and our work on the page (hashing, the raw-table look-ups) add up. Here the next
    pages are requested while the current one is worked on.
    """
    with ReadAhead(items, depth, name, wait) as stream:
        yield from stream
