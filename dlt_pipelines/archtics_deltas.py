"""Land Archtics changes since the export cutoff (the catch-up, then every incremental) over HTTP.

Why it is built this way:

* **One cursor per dataset** in dlt's resource state (``since``), starting at the export cutoff
  read from ``raw_archtics.load_cutoff``: the first run is the large catch-up, later runs continue
  from the newest change time fetched. The API returns rows with change time ``>= since``; rows at
  the boundary that were already loaded are fetched again and dropped by the row-hash look-up
  below. The cursor travels in the same load package as the rows, and packages a killed run left
  behind are loaded before anything new is fetched, so a crash loses and doubles nothing. (Not
  ``dlt.sources.incremental``: its per-run cost - configuration resolution and ~50 jsonpath
  compilations - was most of a small catch-up's time, and the look-up already drops the boundary.)
* **Merge into the export's tables** (``delete-insert``) on ``_business_key`` - the business key
  columns joined into one text value, because some business keys contain NULLs
  (ticket.return_datetime) and NULL never equals NULL in a SQL join. ``change_ts`` sorts
  duplicates within a batch so the newest version wins.
* **Child lists** (cust_address, cust_email, cust_rep per account; events_in_plan per plan) are
  also deleted by parent key (in the merge's destination scope, which replaces dlt's ``merge_key``): the rows of every parent in the batch are deleted and the
  new list inserted, so a removed address disappears. The delete is written as two key semi-joins
  (:func:`merge_scope`), so a merge costs what changed, not a comparison with every raw row.
* **Unchanged rows write nothing**: each row's ``_row_hash`` (same definition as the export's)
  is looked up in the raw table; rows already there are skipped (child lists: a parent's list is
  skipped when every row is there and the row count is the same). On DuckDB the hashing and the
  look-up are SQL over each fetched batch (``archtics_deltas_direct``), elsewhere Python.
* **Account merges** ("Merged account <old> into <new>" notes) land as ordinary ``note`` rows;
  dbt parses them (``int_archtics_account_merges``). The rows of the old account are kept:
  Archtics itself marks them (``rec_status`` 'I') and moves the tickets, and those changes arrive
  as ordinary rows, so the replica stays equal to the source.
* **HTTP** (token, retries, paging) is :mod:`dlt_pipelines.archtics_api_client`.
* **On DuckDB the merge skips dlt's packages**: the changed batches are staged and merged, with
  the cursors (``raw_archtics.delta_cursors``), in one transaction
  (:mod:`dlt_pipelines.archtics_deltas_direct`: same scope, same newest-wins rule); a warehouse
  whose earlier runs went through packages continues from the cursors in dlt's state. Other
  destinations (SQL Server) merge through dlt as described above.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import dlt
import pyarrow as pa
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from dlt_pipelines.archtics_api_client import ArchticsClient
from dlt_pipelines.archtics_common import (
    BUSINESS_KEY,
    CHANGE_TS,
    RAW_DATASET,
    ROW_HASH,
    RowHasher,
    StageTimes,
    business_key,
    discard_interrupted_packages,
    is_direct,
    read_ahead,
    registered,
)
from dlt_pipelines.archtics_deltas_direct import DirectMerge
from kore.config import Settings, archtics_credentials, dlt_pipeline
from kore.contracts.archtics import DATASETS, Dataset
from kore.landing import require_landing_complete
from kore.runlog import run_record

PIPELINE_NAME = "archtics_deltas"
LOOKUP_CHUNK = {"mssql": 1000}  # IN-list size per destination (SQL Server: 2,100 parameters per statement)
LOOKUP_CHUNK_DEFAULT = 10_000
CURSOR_STATE = "since"  # resource-state key of a dataset's cursor (newest change_ts fetched)
SEMI_JOIN_DESTINATIONS = ("duckdb",)  # look-ups as one semi-join against an Arrow table of the values
LOOKUP_VIEW = "_kore_lookup_values"  # the batch's values, registered on the DuckDB connection
LOOKUP_BATCH_ROWS = 50_000  # rows checked against the raw table at once (each check scans its hash column)


# --------------------------------------------------------------------------------------------
# skipping unchanged rows


class ExistingRows:
    """Looks up what the raw tables already hold, so unchanged rows are not written again."""

    def __init__(self, pipeline: dlt.Pipeline):
        self.pipeline = pipeline
        self._known: dict[str, bool] = {}
        self.chunk = LOOKUP_CHUNK.get(pipeline.destination.destination_name, LOOKUP_CHUNK_DEFAULT)
        self.native = pipeline.destination.destination_name in SEMI_JOIN_DESTINATIONS
        self._client: Any = None

    def __enter__(self) -> ExistingRows:
        """One connection for all lookups of a run (opening one costs ~0.1 s); closed before the load."""
        self._client = self.pipeline.sql_client()
        self._client.open_connection()
        return self

    @property
    def client(self) -> Any:
        """The open sql client of the run (inside ``with``)."""
        return self._client

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            self._client.close_connection()
            self._client = None

    @contextlib.contextmanager
    def _conn(self) -> Iterator[Any]:
        if self._client is not None:
            yield self._client
        else:
            with self.pipeline.sql_client() as client:
                yield client

    def _has(self, client: Any, table: str) -> bool:
        """Whether the raw table exists yet (a first run into an empty dataset has nothing to compare)."""
        if table not in self._known:
            try:
                with client.execute_query(f"select 1 from {client.make_qualified_table_name(table)} where 1 = 0"):
                    pass
                self._known[table] = True
            except Exception:
                self._known[table] = False
        return self._known[table]

    def hashes(self, table: str, hashes: list[str]) -> set[str]:
        if not hashes:
            return set()
        with self._conn() as client:
            if not self._has(client, table):
                return set()
            name = client.make_qualified_table_name(table)
            return {r[0] for r in self._matching(client, f"select {ROW_HASH} from {name}", ROW_HASH, hashes)}

    def counts(self, table: str, column: str, values: list[str]) -> dict[str, int]:
        if not values:
            return {}
        with self._conn() as client:
            if not self._has(client, table):
                return {}
            name = client.make_qualified_table_name(table)
            col = client.escape_column_name(column)
            rows = self._matching(client, f"select {col}, count(*) from {name}", col, values, f" group by {col}")
            return {str(r[0]): int(r[1]) for r in rows}

    def _matching(self, client: Any, select: str, column: str, values: list[str], tail: str = "") -> list[tuple]:
        """The rows of ``<select> where <column> in (<values>)<tail>``.

        On DuckDB the values go in as one Arrow table and the look-up is one semi-join: one scan of
        the raw column per batch. IN lists of ``chunk`` literals scanned the column once per chunk
        (five scans of 10M ticket hashes for a 50,000-row batch at a million accounts). Other
        destinations take IN lists of ``chunk`` parameters (SQL Server: 2,100 per statement).
        """
        if self.native:
            con = client.native_connection
            with registered(con, LOOKUP_VIEW, pa.table({"v": pa.array(values, pa.string())})):
                return con.execute(f"{select} where {column} in (select v from {LOOKUP_VIEW}){tail}").fetchall()
        out: list[tuple] = []
        for i in range(0, len(values), self.chunk):
            part = values[i : i + self.chunk]
            marks = ", ".join(["%s"] * len(part))
            with client.execute_query(f"{select} where {column} in ({marks}){tail}", *part) as cur:
                out.extend(tuple(r) for r in cur.fetchall())
        return out


def changed_rows(ds: Dataset, rows: list[dict[str, Any]], existing: ExistingRows) -> list[dict[str, Any]]:
    """The rows of a batch that change the replica (rows already present by hash are dropped)."""
    if not rows:
        return rows
    present = existing.hashes(ds.name, [r[ROW_HASH] for r in rows])
    if not ds.is_child_list:
        return [r for r in rows if r[ROW_HASH] not in present]
    parent = ds.parent_key[0]
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(str(r.get(parent)), []).append(r)
    have = existing.counts(ds.name, parent, list(groups))
    out: list[dict[str, Any]] = []
    for pid, grp in groups.items():
        unchanged = all(r[ROW_HASH] in present for r in grp) and have.get(pid, 0) == len(grp)
        if not unchanged:
            out.extend(grp)
    return out


# --------------------------------------------------------------------------------------------
# dlt source


def _text(value: Any) -> str | None:
    """A fetched value as the raw tables hold it: text, empty as NULL."""
    return None if value is None or value == "" else str(value)


def _prepare(row: dict[str, Any], ds: Dataset, hasher: RowHasher) -> dict[str, Any]:
    row = {k: _text(v) for k, v in row.items()}
    row[ROW_HASH] = hasher(row)
    row[BUSINESS_KEY] = business_key(row, ds)
    return row


def resume_cursor(state: dict[str, Any], cutoff: str) -> str:
    """Where this dataset's fetch starts: the cursor of the last run, else the export cutoff.

    Warehouses landed before the cursor moved out of ``dlt.sources.incremental`` keep their place:
    that cursor is read from the incremental's own state entry.
    """
    legacy = state.get("incremental", {}).get(CHANGE_TS, {}).get("last_value")
    return str(state.get(CURSOR_STATE) or legacy or cutoff)


def merge_scope(ds: Dataset) -> str:
    """The rows a merge deletes before inserting the batch: those of the batch's keys only.

    Written out (dlt's ``destination_scope``) because dlt joins on primary key OR merge key in one
    correlated EXISTS, which no engine can run as a hash join: DuckDB compared every raw row with
    every staged row. Two ``IN`` subqueries are two semi-joins (one index seek per key on SQL
    Server), so the merge costs what changed plus one scan of the key column.
    """
    keys = [BUSINESS_KEY, *(ds.parent_key if ds.is_child_list else ())]
    return " OR ".join(f'"{k}" IN (SELECT "{k}" FROM {{staging_table}})' for k in keys)


def dataset_resource(
    ds: Dataset,
    client: ArchticsClient,
    existing: ExistingRows,
    cutoff: str,
    page_size: int,
    stats: dict,
    columns: list[str] | None = None,
    on_page: Callable[[str, int], Any] | None = None,
    times: StageTimes | None = None,
) -> Any:
    """One dataset's changes, merged into raw_archtics.<dataset>.

    ``times`` receives the seconds spent waiting for pages (``http_fetch``) and looking up what the
    raw table holds (``lookup``).
    """
    times = times if times is not None else StageTimes()
    hints: dict[str, Any] = {c: {"data_type": "text"} for c in columns or ()}
    hints[CHANGE_TS] = {"data_type": "text", "dedup_sort": "desc"}

    @dlt.resource(
        name=ds.name,
        table_name=ds.name,
        write_disposition={
            "disposition": "merge",
            "strategy": "delete-insert",
            "destination_scope": merge_scope(ds),
        },
        primary_key=[BUSINESS_KEY],
        columns=hints,
    )
    def changes() -> Iterator[Any]:
        state = dlt.current.resource_state()
        cursor: dict[str, str] = {}
        since = resume_cursor(state, cutoff)
        yield from dataset_changes(ds, client, existing, since, page_size, stats, cursor, on_page, times)
        state[CURSOR_STATE] = cursor[ds.name]  # committed with this run's load package

    return changes


def dataset_changes(
    ds: Dataset,
    client: ArchticsClient,
    existing: ExistingRows,
    since: str,
    page_size: int,
    stats: dict,
    cursor: dict[str, str],
    on_page: Callable[[str, int], Any] | None = None,
    times: StageTimes | None = None,
) -> Iterator[pa.Table]:
    """One dataset's changed rows since ``since``, as Arrow batches (unchanged rows dropped); when
    the pages are exhausted, ``cursor[dataset]`` holds the newest change time fetched. The pages
    are fetched a few ahead by a thread (:func:`read_ahead`)."""
    times = times if times is not None else StageTimes()
    hasher = RowHasher()
    pages = read_ahead(client.changes(ds.name, since, page_size), name=f"fetch-{ds.name}")
    for rows in fetched_batches(ds, pages, since, stats, cursor, on_page, times):
        rows = [_prepare(r, ds, hasher) for r in rows]
        with times.timed("lookup"):
            keep = changed_rows(ds, rows, existing)
        count_written(stats, ds, len(rows), len(keep))
        if keep:
            yield as_arrow(keep)


def fetched_batches(
    ds: Dataset,
    pages: Iterable[list[dict[str, Any]]],
    since: str,
    stats: dict,
    cursor: dict[str, str],
    on_page: Callable[[str, int], Any] | None,
    times: StageTimes,
    batch_rows: int = LOOKUP_BATCH_ROWS,
) -> Iterator[list[dict[str, Any]]]:
    """The fetched rows as they came, in batches of at least ``batch_rows`` (the package path: one
    look-up, one scan of the raw table, per batch, not per page); a child list's parent is never
    split between two batches (its list is compared whole). Counts pages and rows fetched into
    ``stats``; at the end ``cursor[dataset]`` holds the newest change time fetched."""
    newest = since
    st = stats.setdefault(ds.name, {"fetched": 0, "written": 0, "unchanged": 0, "pages": 0})
    held: list[dict[str, Any]] = []  # child lists: the last parent of a page may continue on the next
    parent = ds.parent_key[0] if ds.is_child_list else None
    for page in times.iterate("http_fetch", pages):
        st["pages"] += 1
        newest = max([newest, *(str(r[CHANGE_TS]) for r in page if r.get(CHANGE_TS))])
        st["fetched"] += len(page)
        if on_page is not None:
            on_page(ds.name, len(page))
        rows = held + page
        held = []
        if len(rows) < batch_rows:
            held = rows
            continue
        if parent and rows:
            last = _text(rows[-1].get(parent))
            cut = len(rows)
            while cut > 0 and _text(rows[cut - 1].get(parent)) == last:
                cut -= 1
            rows, held = rows[:cut], rows[cut:]
        if rows:
            yield rows
    if held:
        yield held
    cursor[ds.name] = newest


def count_written(stats: dict, ds: Dataset, rows: int, written: int) -> None:
    """Count a batch's rows written and skipped as unchanged."""
    st = stats[ds.name]
    st["written"] += written
    st["unchanged"] += rows - written


def fetch_ahead(
    client: ArchticsClient, sinces: dict[str, str], page_size: int
) -> Iterator[Iterator[list[dict[str, Any]]]]:
    """Each dataset's pages (in ``sinces`` order), fetched by one thread ahead of the consumer --
    across datasets too: the next datasets' pages are requested while the one before is staged and
    merged (up to 16 pages wait: 80,000 rows at the default page size). Each dataset's page
    iterator must be consumed to its end before the next one is taken (as the run does)."""
    end = object()

    def every_page() -> Iterator[Any]:
        for name, since in sinces.items():
            yield from client.changes(name, since, page_size)
            yield end

    stream = read_ahead(every_page(), depth=16, name="fetch-changes")

    def one_dataset() -> Iterator[list[dict[str, Any]]]:
        for page in stream:
            if page is end:
                return
            yield page

    try:
        for _ in sinces:
            yield one_dataset()
    finally:
        stream.close()


def as_arrow(rows: list[dict[str, Any]]) -> pa.Table:
    """The batch as one Arrow table of text columns: dlt writes it to parquet as is, and its
    normalize step adds ``_dlt_load_id``/``_dlt_id`` without a Python pass over every row.

    The business key is declared not null, as the resource's primary key is: otherwise dlt warns,
    once per dataset and run, that the Arrow schema's hints differ from its own."""
    shapes = dict.fromkeys(tuple(r) for r in rows)  # the API's rows share one or a few column lists
    names = list(dict.fromkeys(k for shape in shapes for k in shape))
    schema = pa.schema([pa.field(n, pa.string(), nullable=n != BUSINESS_KEY) for n in names])
    # column by column: ~40% faster than ``Table.from_pylist`` (0.97 -> 0.58 s for 39k rows x 50 columns)
    return pa.Table.from_pydict({n: pa.array([r.get(n) for r in rows], pa.string()) for n in names}, schema=schema)


@dlt.source(name=PIPELINE_NAME, max_table_nesting=0)
def archtics_changes(
    client: ArchticsClient,
    existing: ExistingRows,
    cutoff: str,
    page_size: int = 5000,
    datasets: tuple[str, ...] = tuple(DATASETS),
    stats: dict | None = None,
    columns: dict[str, list[str]] | None = None,
    on_page: Callable[[str, int], Any] | None = None,
    times: StageTimes | None = None,
) -> Any:
    # every value is text: keep dlt from turning 'YYYY-MM-DD HH:MM:SS' strings into timestamps
    dlt.current.source_schema().remove_type_detection("iso_timestamp")
    stats = stats if stats is not None else {}
    cols = columns or {}
    return [
        dataset_resource(DATASETS[d], client, existing, cutoff, page_size, stats, cols.get(d), on_page, times)
        for d in datasets
    ]


# --------------------------------------------------------------------------------------------
# running


def read_cutoff(pipeline: dlt.Pipeline, existing: ExistingRows | None = None) -> str:
    """The export cutoff from raw_archtics.load_cutoff (written by the export pipeline); through the
    run's open connection when there is one."""
    with contextlib.nullcontext(existing.client) if existing is not None else pipeline.sql_client() as client:
        try:
            with client.execute_query(f"select cutoff from {client.make_qualified_table_name('load_cutoff')}") as cur:
                rows = [str(r[0]) for r in cur.fetchall()]
        except Exception as exc:
            raise RuntimeError(
                "raw_archtics.load_cutoff is missing: land the export (land_export) before the deltas"
            ) from exc
    if len(set(rows)) != 1:
        raise RuntimeError(f"raw_archtics.load_cutoff must hold exactly one cutoff, found {sorted(set(rows))}")
    return rows[0]


def make_pipeline(settings: Settings) -> dlt.Pipeline:
    return dlt_pipeline(settings, PIPELINE_NAME, RAW_DATASET)


def finish_pending(pipeline: dlt.Pipeline) -> int:
    """Load what a killed run extracted (rows + incremental state) before fetching anything new."""
    discard_interrupted_packages(pipeline.working_dir)
    if pipeline.list_extracted_load_packages():
        pipeline.normalize()
    pending = pipeline.list_normalized_load_packages()
    if pending:
        pipeline.load().raise_on_failed_jobs()
    return len(pending)


def merge_direct(
    pipeline: dlt.Pipeline,
    existing: ExistingRows,
    client: ArchticsClient,
    cutoff: str,
    page_size: int,
    names: tuple[str, ...],
    stats: dict,
    on_page: Callable[[str, int], Any] | None,
    times: StageTimes,
) -> None:
    """The run on DuckDB: every dataset's changes staged, then merged with the cursors in one
    transaction (:mod:`dlt_pipelines.archtics_deltas_direct`). A cursor starts where the last direct
    run left it, else where the package path's dlt state left it, else at the export cutoff."""
    resources = pipeline.state.get("sources", {}).get(PIPELINE_NAME, {}).get("resources", {})
    cursor: dict[str, str] = {}
    with DirectMerge(pipeline, existing.client) as merge:
        with times.timed("extract"):
            saved = merge.cursors()
            order = merge.largest_first(names)
            sinces = {name: saved.get(name) or resume_cursor(resources.get(name, {}), cutoff) for name in order}
            merge.begin()
            with contextlib.closing(fetch_ahead(client, sinces, page_size)) as fetched:
                for name, pages in zip(order, fetched, strict=True):
                    ds, staged = DATASETS[name], 0
                    # each page staged as it comes: the raw table is looked up once, by the merge
                    for rows in fetched_batches(ds, pages, sinces[name], stats, cursor, on_page, times, 1):
                        with times.timed("stage"):  # prepared and staged in DuckDB
                            staged += merge.stage(ds, rows)
                    with times.timed("merge"):  # while the next datasets' pages are fetched
                        count_written(stats, ds, staged, merge.merge(ds, merge_scope(ds)))
        with times.timed("commit"):  # the cursors, the load's record, DuckDB's commit
            merge.commit({}, cursor)


def _split_extract(times: StageTimes, direct: bool) -> dict[str, float]:
    """Seconds per step, with the extract's own work (dlt writing its files; on DuckDB batching the
    pages) apart from the HTTP fetch, the look-ups, the staging and the merges it includes (on DuckDB
    ``stage`` holds the preparing and staging of each page in SQL, and ``merge`` each dataset's
    look-up, delete and insert, done while the next datasets are fetched)."""
    out = dict(times)
    if "extract" in out:
        inner = sum(out.get(step, 0.0) for step in ("http_fetch", "lookup", "stage", "merge"))
        own = out.pop("extract") - inner
        out["prepare" if direct else "dlt_extract"] = max(0.0, own)
    return {k: round(v, 3) for k, v in out.items()}


def land_deltas(
    settings: Settings,
    api_url: str,
    client_id: str = "",
    client_secret: str = "",
    page_size: int = 5000,
    *,
    datasets: tuple[str, ...] | None = None,
    show_progress: bool = True,
    client_options: dict[str, Any] | None = None,
) -> dict:
    """Fetch and merge all changes since the last run (first run: since the export cutoff).

    Credentials not passed come from ``kore.config.archtics_credentials()``. Returns per dataset:
    rows fetched, written, skipped as unchanged, pages; plus HTTP request and retry counts.
    Secrets are never logged.
    """
    names = tuple(datasets or DATASETS)
    if not (client_id and client_secret):
        creds = archtics_credentials()
        client_id = client_id or creds.get("client_id", "")
        client_secret = client_secret or creds.get("client_secret", "")
    with run_record(settings, "land_deltas", "archtics") as rec, contextlib.ExitStack() as run:
        times = StageTimes()
        with times.timed("setup"):  # fixed cost: pipeline, pending packages, cutoff, token + catalogue
            pipeline = make_pipeline(settings)
            direct = is_direct(pipeline.destination.destination_name)
            resumed = finish_pending(pipeline)
            # merging into a half-landed export would put older export rows after newer deltas.
            # On DuckDB one connection serves the run (cutoff, look-ups, merge), and the guard's
            # scans (each export file's rows counted: ~0.2 s at 1M) run on a cursor of it, in a
            # thread, while the rest is set up; a second connection with other options is refused
            guard = functools.partial(require_landing_complete, settings, "kore land deltas", ("archtics_export",))
            existing = run.enter_context(ExistingRows(pipeline)) if direct else None
            if existing is not None:
                pool = run.enter_context(ThreadPoolExecutor(1, thread_name_prefix="landing-guard"))
                complete = pool.submit(guard, existing.client.native_connection.cursor())
            else:
                complete = Future()
                complete.set_result(guard())
            try:
                cutoff = read_cutoff(pipeline, existing)
                deadlines = {"call_deadline": settings.http_call_deadline, "run_deadline": settings.http_run_deadline}
                client = ArchticsClient(api_url, client_id, client_secret, **{**deadlines, **(client_options or {})})
                offered = client.datasets()
            finally:  # the guard's refusal comes first, as when it ran before the rest
                complete.result()
        missing = [n for n in names if n not in offered]
        if missing:
            raise RuntimeError(f"the Archtics API does not offer datasets {missing}")
        stats: dict[str, dict[str, int]] = {}
        t0 = time.perf_counter()
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), disable=not show_progress
        ) as progress:
            task = progress.add_task("fetching Archtics changes")
            columns = {n: list(offered[n].get("columns") or []) for n in names if isinstance(offered[n], dict)}
            fetched = [0]

            def on_page(dataset: str, n: int) -> None:
                fetched[0] += n
                progress.update(task, description=f"fetching Archtics changes: {dataset}, {fetched[0]:,} rows")

            if existing is not None:
                merge_direct(pipeline, existing, client, cutoff, page_size, names, stats, on_page, times)
            else:
                # one connection for every look-up of the extract (each new one resolves dlt's config)
                with times.timed("extract"), ExistingRows(pipeline) as existing:
                    source = archtics_changes(
                        client, existing, cutoff, page_size, names, stats, columns, on_page, times
                    )
                    pipeline.extract(source)
                progress.update(task, description="loading Archtics changes")
                with times.timed("normalize"):
                    pipeline.normalize()
                with times.timed("load_merge"):
                    pipeline.load().raise_on_failed_jobs()
        written = sum(s["written"] for s in stats.values())
        summary = {
            "cutoff": cutoff,
            "rows_fetched": sum(s["fetched"] for s in stats.values()),
            "rows_written": written,
            "rows_unchanged": sum(s["unchanged"] for s in stats.values()),
            "datasets": stats,
            "http": dict(client.stats),
            "packages_resumed": resumed,
            "seconds": round(time.perf_counter() - t0, 3),
            "times": _split_extract(times, direct),
        }
        rec.rows_in = summary["rows_fetched"]
        rec.rows_out = written
        rec.detail = summary
        return summary
