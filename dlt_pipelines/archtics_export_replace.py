"""Re-landing a corrected export file (``kore land export --replace FILE``).

Why it is built this way: a landed file is normally never landed again (its path is in the ledger).
When a file turns out to be wrong (e.g. a part written in Latin-1, most of its rows quarantined), the
client sends a corrected file and a manifest entry with its new sha256. The corrected file is landed
like any other -- its rows, quarantined rows and ledger row (with ``replaced_sha256``, the digest it
replaces) in one load package -- and only then are the old version's rows removed, by lineage
(``_source_file`` = the path, ``_dlt_load_id`` = an older load), in one transaction. A run killed
between the two leaves two ledger rows for the path; every run starts by settling that (the version
the manifest lists wins), so a plain re-run repairs it.

A file is not replaced once the catch-up has merged changes into its dataset: the corrected file
holds the rows as of the export's cutoff, older than the merged ones.
"""

from __future__ import annotations

import dlt

from dlt_pipelines.archtics_common import SOURCE_FILE
from dlt_pipelines.archtics_export_reader import Manifest
from kore.errors import UsageError

Ledger = dict[str, tuple[str, str, int, int, int]]  # path -> (sha256, dataset, rows, landed, quarantined)


class ReplaceRefused(UsageError):
    """A ``--replace`` that cannot be done (unknown file, same digest, dataset already merged)."""


def _lit(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _rows(pipeline: dlt.Pipeline, sql: str) -> list[tuple]:
    with pipeline.sql_client() as client, client.execute_query(sql) as cur:
        return [tuple(r) for r in cur.fetchall()]


def _table(pipeline: dlt.Pipeline, name: str) -> str | None:
    """The qualified name of a table the export pipeline has created, else None."""
    if not pipeline.default_schema_name or name not in pipeline.default_schema.tables:
        return None
    with pipeline.sql_client() as client:
        return client.make_qualified_table_name(name)


def replacements(pipeline: dlt.Pipeline, manifest: Manifest, done: Ledger, names: set[str]) -> dict[str, str]:
    """Landed path -> sha256 being replaced, for the files named (manifest paths, or paths ending
    in one); raises ReplaceRefused when a named file cannot be replaced."""
    out: dict[str, str] = {}
    for name in sorted(names):
        rel = name.replace("\\", "/")
        part = next((p for p in manifest.files if rel == p.path or rel.endswith("/" + p.path)), None)
        if part is None:
            raise ReplaceRefused(f"--replace {name}: not a file of the manifest")
        if part.path not in done:
            continue  # never landed: it lands as any new file does
        if done[part.path][0] == part.sha256:
            raise ReplaceRefused(
                f"--replace {part.path}: the manifest lists the sha256 already landed; "
                "list the corrected file's sha256, rows and columns in manifest.json"
            )
        table = _table(pipeline, part.dataset)
        if table and _rows(pipeline, f"select count(*) from {table} where {SOURCE_FILE} is null")[0][0]:
            raise ReplaceRefused(
                f"--replace {part.path}: the catch-up has merged changes into {part.dataset}; "
                "a re-landed file would bring back older versions of those rows"
            )
        out[part.path] = done[part.path][0]
    return out


def settle_replacements(pipeline: dlt.Pipeline, manifest: Manifest) -> list[str]:
    """Remove the older versions of files landed twice (a replacement, maybe interrupted before its
    clean-up); the version whose sha256 the manifest lists wins. Returns the paths settled."""
    ledger = _table(pipeline, "file_ledger")
    if ledger is None:
        return []
    rows = _rows(
        pipeline,
        f"select path, dataset, sha256, _dlt_load_id from {ledger} where path in "
        f"(select path from {ledger} group by path having count(*) > 1)",
    )
    wanted = {p.path: p.sha256 for p in manifest.files}
    versions: dict[str, list[tuple[str, str, str]]] = {}
    for path, dataset, sha, load_id in rows:
        versions.setdefault(path, []).append((dataset, sha, load_id))
    for path, found in sorted(versions.items()):
        current = [v for v in found if v[1] == wanted.get(path)] or found
        dataset, _, keep = max(current, key=lambda v: v[2])
        statements = [f"delete from {ledger} where path = {_lit(path)} and _dlt_load_id <> {_lit(keep)}"]
        for table, column in (
            (_table(pipeline, dataset), SOURCE_FILE),
            (_table(pipeline, "quarantine"), "source_file"),
        ):
            if table:
                statements.append(f"delete from {table} where {column} = {_lit(path)} and _dlt_load_id <> {_lit(keep)}")
        with pipeline.sql_client() as client, client.begin_transaction():
            for sql in statements:
                client.execute_sql(sql)
    return sorted(versions)
