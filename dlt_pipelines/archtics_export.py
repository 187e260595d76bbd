"""Land the Archtics static export (gzip'd CSV part files + manifest) into ``raw_archtics``: the run.

The export is read and checked by :mod:`dlt_pipelines.archtics_export_reader`; on a DuckDB
warehouse the rows go from the parser straight into the tables
(:mod:`dlt_pipelines.archtics_export_direct`), on other destinations through dlt load packages
(:mod:`dlt_pipelines.archtics_export_source`); this module runs them. Why it is built this way:

* **Whole files or nothing.** Files are landed in groups of about two million rows: one
  transaction per group on the direct path, one ``pipeline.extract`` (= one load package) per group
  on the package path. If a manifest check fails, nothing of the group is committed, the bad file
  is dropped from the group and the rest is landed again. Nothing of a refused file lands; other
  files do, and the run then fails naming the refused files.
* **Exactly once, also after a kill.** A file's rows, its quarantined rows and its ``file_ledger``
  row are committed together: in one transaction (direct), or in one dlt load package. Pending
  packages (left by a killed run) are loaded before the ledger is read, so a file extracted by a
  killed run is never extracted again, and a half-loaded package is completed. Package tables are
  written with ``append`` (a merge costs 4x the load time); the one gap that leaves - dlt re-runs
  a load job whose insert had committed just before the kill - is closed by
  :func:`reconcile_resumed`, which removes duplicate natural keys (file + line, ledger path)
  within the resumed load ids.
* **Bad rows do not stop the landing.** They land in ``raw_archtics.quarantine`` with file, line
  and reason; the run fails only when the quarantined share exceeds ``max_bad_share``.
* Export rows carry the group's ``_dlt_load_id`` (on the package path from dlt's arrow normalizer,
  ``.dlt/config.toml``, ``[archtics_export.normalize.parquet_normalizer]``) and a deterministic
  ``_dlt_id`` (file digest + line) from the reader: dlt generating one costs a third of the
  landing time.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import dlt
import duckdb
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from dlt_pipelines.archtics_common import RAW_DATASET, StageTimes, discard_interrupted_packages, is_direct
from dlt_pipelines.archtics_export_direct import GroupLoad, ensure_tables
from dlt_pipelines.archtics_export_prefetch import Prefetcher
from dlt_pipelines.archtics_export_reader import CHUNK_BYTES, FileRefused, Manifest, PartFile, read_manifest
from dlt_pipelines.archtics_export_replace import replacements, settle_replacements
from dlt_pipelines.archtics_export_source import PIPELINE_NAME, cutoff_source, export_files_source, natural_key
from dlt_pipelines.duckdb_row_groups import gather_short_row_groups
from kore.config import Settings, dlt_pipeline
from kore.errors import RunFailed
from kore.runlog import RunRecord, run_record

LOAD_EVERY_ROWS = 2_000_000  # extracted rows per normalize+load (each load ends in a DuckDB checkpoint)
PREFETCH_BLOCKS = 8  # parsed blocks (of block_bytes of CSV each) the parse thread may hold ahead
RECONCILE_MARKER = "kore_reconcile_load_ids.json"
Ledger = dict[str, tuple[str, str, int, int, int]]  # path -> (sha256, dataset, rows, landed, quarantined)


class ExportFailed(RunFailed):
    """The export run finished but must not count as a success (refused files, too many bad rows)."""


class ExportPartial(ExportFailed):
    """Rows were quarantined (within the limits) and the run was not told to allow it."""

    outcome = "partial"  # the run record's outcome (kore.runlog)


def make_pipeline(settings: Settings, name: str = PIPELINE_NAME) -> dlt.Pipeline:
    """The export pipeline (its normalizer options are in ``.dlt/config.toml`` under its name)."""
    return dlt_pipeline(settings, name, RAW_DATASET)


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
            key = ", ".join(client.escape_column_name(c) for c in natural_key(table))
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


def ledger(pipeline: dlt.Pipeline) -> Ledger:
    rows = _query(pipeline, "select path, sha256, dataset, rows, landed, quarantined from {table}", "file_ledger")
    return {r[0]: (r[1], r[2], int(r[3]), int(r[4]), int(r[5])) for r in rows}


def land_export(
    settings: Settings,
    export_dir: Path,
    max_bad_share: float | None = None,
    *,
    block_bytes: int = CHUNK_BYTES,
    show_progress: bool = True,
    datasets: Iterable[str] | None = None,
    allow_quarantine: bool | None = None,
    replace: Iterable[str] = (),
) -> dict:
    """Land every part file of the export not landed yet; see the module docstring for guarantees.

    ``datasets`` limits this run to some datasets (e.g. to re-time or re-land one); the summary
    always covers everything landed from this export. ``replace`` names landed files (paths as in
    the manifest) whose corrected version, listed in the manifest with its new sha256, replaces
    them: their rows, quarantined rows and ledger row (which keeps the old sha256).

    Returns counts per dataset (rows landed, quarantined), files loaded/skipped/refused and the
    cutoff. After landing what is good, raises ExportFailed when a file was refused or a file's or
    a dataset's quarantined share is above its limit (``max_bad_share`` sets both; default the
    settings'), and ExportPartial (outcome "partial") when any row was quarantined and
    ``allow_quarantine`` (default the settings') is not set.
    """
    export_dir = Path(export_dir).resolve()
    with run_record(settings, "land_export", "archtics") as rec:
        times = StageTimes()
        with times.timed("setup"):  # dlt's fixed cost: pipeline, pending packages, cutoff, ledger
            manifest = read_manifest(export_dir)
            pipeline = make_pipeline(settings)
            resumed = len(finish_pending(pipeline))
            settle_replacements(pipeline, manifest)
            land_cutoff(pipeline, manifest)
            done = ledger(pipeline)
        refused: list[str] = []
        replaces = replacements(pipeline, manifest, done, set(replace))
        todo = parts_to_land(manifest, done, datasets, refused, replaces)
        extracted = extract_and_load(pipeline, export_dir, todo, block_bytes, show_progress, refused, times, replaces)
        settle_replacements(pipeline, manifest)
        final = ledger(pipeline)
        summary = summarize(final, manifest)
        summary.update(
            files_loaded=len(extracted),
            files_skipped=sum(1 for p in manifest.files if p.path in done and p.path not in replaces),
            files_refused=refused,
            files_replaced=sorted(p for p in replaces if p in extracted),
            packages_resumed=resumed,
            cutoff=manifest.cutoff,
            times=_split_extract(times),
        )
        file_limit = settings.max_bad_share_file if max_bad_share is None else max_bad_share
        dataset_limit = settings.max_bad_share_dataset if max_bad_share is None else max_bad_share
        over = quarantine_over_limits(final, manifest, file_limit, dataset_limit)
        allow = settings.allow_quarantine if allow_quarantine is None else allow_quarantine
        _record_or_fail(rec, summary, refused + over, allow)
        return summary


def land_cutoff(pipeline: dlt.Pipeline, manifest: Manifest) -> None:
    """Land the manifest's cutoff once; a warehouse holding another export's cutoff is refused."""
    existing = _query(pipeline, "select cutoff from {table}", "load_cutoff")
    if existing and {r[0] for r in existing} != {manifest.cutoff}:
        raise ExportFailed(
            f"raw_archtics already holds an export cut at {sorted(r[0] for r in existing)}; "
            f"this manifest is cut at {manifest.cutoff}. Use a fresh warehouse for a new export."
        )
    if not existing:
        pipeline.run(cutoff_source(manifest))


def parts_to_land(
    manifest: Manifest,
    done: Ledger,
    datasets: Iterable[str] | None,
    refused: list[str],
    replaces: dict[str, str] | None = None,
) -> list[PartFile]:
    """The part files not landed yet (of ``datasets``), and those being replaced; a landed path
    with another digest is refused unless it is being replaced."""
    only = set(datasets) if datasets is not None else None
    todo = []
    for part in manifest.files:
        if only is not None and part.dataset not in only:
            continue
        if part.path in done and part.path not in (replaces or {}):
            if done[part.path][0] != part.sha256:
                refused.append(
                    f"{part.path}: already landed with a different sha256; "
                    f"re-land the corrected file with `kore land export --replace {part.path}`"
                )
            continue
        todo.append(part)
    return todo


def extract_and_load(
    pipeline: dlt.Pipeline,
    export_dir: Path,
    todo: list[PartFile],
    block_bytes: int,
    show_progress: bool,
    refused: list[str],
    times: StageTimes,
    replaces: dict[str, str] | None = None,
) -> list[str]:
    """Land the files group by group; returns the paths landed.

    The files are parsed ahead in a thread (:mod:`dlt_pipelines.archtics_export_prefetch`) while
    the previous group is written. On DuckDB a group's rows go straight into the tables in one
    transaction (:mod:`dlt_pipelines.archtics_export_direct`); elsewhere a group is one dlt load
    package (extract, normalize, load); on DuckDB the short row groups the transactions left are
    then moved to the tables' ends (:mod:`dlt_pipelines.duckdb_row_groups`). ``times`` receives
    the seconds per step (``parse`` in the parse thread, ``parse_wait`` the writer spent waiting for
    it, ``dlt_extract``, ``normalize``, ``load``, ``row_groups``).
    """
    extracted: list[str] = []
    replaces = replaces or {}
    direct = is_direct(pipeline.destination.destination_name)
    if direct and todo:
        with times.timed("setup"):
            ensure_tables(pipeline, todo, replacing=bool(replaces))
    with (
        _progress(show_progress) as progress,
        Prefetcher(export_dir, todo, block_bytes, PREFETCH_BLOCKS, times) as pre,
        _parse_connection() if direct else contextlib.nullcontext() as parse_con,
    ):
        task = progress.add_task("landing export", total=sum(p.rows for p in todo) or 1)
        on_block = lambda n: progress.advance(task, n)  # noqa: E731
        if direct:  # the package path parses inside dlt's extract (export_files_source)
            loader = GroupLoad(pipeline, export_dir, parse_con, block_bytes, times, replaces, pre, on_block)
        for group in groups(todo, LOAD_EVERY_ROWS):
            if direct:
                with times.timed("direct_load"):
                    group = _without_refused(group, loader.land, progress, task, refused)
                extracted.extend(p.path for p in group)
                continue

            def extract(parts: list[PartFile]) -> None:
                pipeline.extract(export_files_source(export_dir, parts, block_bytes, on_block, times, replaces, pre))

            with times.timed("extract"):
                group = _without_refused(group, extract, progress, task, refused)
            if not group:
                continue
            extracted.extend(p.path for p in group)
            progress.update(task, description="loading")
            with times.timed("normalize"):
                pipeline.normalize()
            with times.timed("load"):
                pipeline.load().raise_on_failed_jobs()
    if direct and extracted:
        landed = set(extracted)
        with times.timed("row_groups"):
            gather_landed_row_groups(pipeline, {p.dataset for p in todo if p.path in landed})
    return extracted


def gather_landed_row_groups(pipeline: dlt.Pipeline, datasets: set[str]) -> dict[str, int]:
    """On DuckDB, the short row groups the landing's transactions left inside the datasets' tables
    moved to their ends (:mod:`dlt_pipelines.duckdb_row_groups`); returns the rows moved per table."""
    with pipeline.sql_client() as client:
        tables = [client.make_qualified_table_name(d) for d in sorted(datasets)]
        return gather_short_row_groups(client.native_connection, tables)


@contextlib.contextmanager
def _parse_connection() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-process DuckDB for the reader's checks of a re-read file (not the warehouse)."""
    con = duckdb.connect(config={"threads": 2})
    try:
        yield con
    finally:
        con.close()


def _split_extract(times: StageTimes) -> dict[str, float]:
    """Seconds per step, with the writing of rows apart from the parse it waited for.

    The parse runs in a thread beside the writing; the extract's own work (dlt writing the files)
    is the extract time minus the time it waited for parsed blocks (and minus a re-extract's
    synchronous parse); on the direct path the same holds for the load.
    """
    out = dict(times)
    sync = out.pop("parse_sync", 0.0)
    out["parse"] = out.get("parse", 0.0) + sync
    waited = out.get("parse_wait", 0.0) + sync
    if "extract" in out:
        out["dlt_extract"] = max(0.0, out.pop("extract") - waited)
    if "direct_load" in out:
        out["load"] = max(0.0, out.pop("direct_load") - waited)
    return {k: round(v, 3) for k, v in out.items()}


def _without_refused(
    group: list[PartFile],
    attempt: Callable[[list[PartFile]], Any],
    progress: Progress,
    task: TaskID,
    refused: list[str],
) -> list[PartFile]:
    """Land (or extract) one group, dropping refused files until the rest goes through cleanly.

    ``attempt`` commits nothing when it raises. Returns the files landed (none when every file of
    the group was refused).
    """
    while group:
        progress.update(task, description=f"{group[0].path} (+{len(group) - 1} files)")
        done_before = progress.tasks[0].completed
        try:
            attempt(group)
            return group
        except Exception as exc:  # PipelineStepFailed wraps FileRefused
            cause = _root_cause(exc)
            if not isinstance(cause, FileRefused):
                raise
            # nothing of this attempt was committed: drop the bad file, try the rest again
            refused.append(str(cause))
            bad = next((p for p in group if p.path == cause.path), group[-1])
            progress.update(task, completed=done_before + bad.rows)
            group = [p for p in group if p is not bad]
    return group


def _record_or_fail(rec: RunRecord, summary: dict, problems: list[str], allow_quarantine: bool) -> None:
    """Fill the run record; raise ExportFailed (carrying the summary) if the run must not succeed,
    ExportPartial if rows were quarantined and that is not allowed."""
    rec.rows_in = summary["rows"] + summary["quarantined"]
    rec.rows_out = summary["rows"]
    rec.rows_failed = summary["quarantined"]
    rec.detail = {k: v for k, v in summary.items() if k != "files_refused"} | {
        "files_refused": len(summary["files_refused"])
    }
    err: ExportFailed | None = None
    if problems:
        rec.outcome = "failed: ExportFailed"
        err = ExportFailed("export landing incomplete:\n  " + "\n  ".join(problems))
    elif summary["quarantined"]:
        rec.outcome = "partial"
        if not allow_quarantine:
            err = ExportPartial(
                f"export landed partially: {summary['quarantined']} rows quarantined (see raw_archtics.quarantine); "
                "correct the files and re-land them with `kore land export --replace FILE`, or accept them "
                "with --allow-quarantine"
            )
    if err is not None:
        err.summary = summary  # type: ignore[attr-defined]
        raise err


def quarantine_over_limits(done: Ledger, manifest: Manifest, file_limit: float, dataset_limit: float) -> list[str]:
    """Files and datasets whose quarantined share of the rows read is above its limit.

    Why per file and per dataset: a share over the whole export hides a dataset (or a file) whose
    rows were mostly refused, e.g. every customer name in a Latin-1 encoded part.
    """
    over, per_dataset = [], {}
    for part in manifest.files:
        if part.path not in done:
            continue
        _, ds, rows, _, bad = done[part.path]
        totals = per_dataset.setdefault(ds, [0, 0])
        totals[0], totals[1] = totals[0] + rows, totals[1] + bad
        if rows and bad / rows > file_limit:
            over.append(f"{part.path}: {bad} of {rows} rows quarantined ({bad / rows:.2%} > {file_limit:.2%} per file)")
    for ds, (rows, bad) in sorted(per_dataset.items()):
        if rows and bad / rows > dataset_limit:
            over.append(f"{ds}: {bad} of {rows} rows quarantined ({bad / rows:.2%} > {dataset_limit:.2%} per dataset)")
    if over:
        over.append("see raw_archtics.quarantine; re-land corrected files with `kore land export --replace FILE`")
    return over


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


def summarize(done: Ledger, manifest: Manifest) -> dict:
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
    """The FileRefused behind ``exc`` (dlt wraps it), else the innermost cause."""
    seen = exc
    if isinstance(seen, FileRefused):
        return seen
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
