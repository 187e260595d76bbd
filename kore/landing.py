"""Is the landing complete? The guard every stage after the landing runs first.

Why: a landing killed during its load step leaves a warehouse that looks usable -- the file ledger
says nine files landed while ``raw_archtics.cust`` holds none of their rows -- and dbt, the checks
and dedup would happily build empty or partial tables from it. A stage that reads the raw layer
calls :func:`require_landing_complete` and stops with one line saying which landing to re-run.

What counts as incomplete (each is repaired by re-running the landing named in the message):

* a dlt pipeline of the workdir holds **pending load packages** (extracted or normalized but not
  loaded: a landing or pull was killed or failed mid-load);
* a ``raw_archtics.file_ledger`` row whose load package never completed (its ``_dlt_load_id`` is
  not a finished load in ``_dlt_loads``);
* a file in the ledger twice (a ``--replace`` whose clean-up did not finish);
* a dataset in the ledger whose **raw table is missing**;
* **ledger and tables disagree**: a file's rows in its table (by ``_source_file``) differ from the
  rows the ledger says landed. Once the catch-up has merged changes into a dataset (rows without
  ``_source_file``), a file may hold fewer rows than it landed (its rows replaced by newer versions)
  but never more.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kore.config import Settings
from kore.contracts.archtics import DATASETS, RAW_SCHEMA, SOURCE_FILE_COLUMN
from kore.errors import NotReady
from kore.warehouse import Warehouse, connect

# the command that completes what each landing pipeline left pending (pipeline name prefix -> command)
RERUN_COMMANDS = {
    "archtics_export": "kore land export",
    "archtics_deltas": "kore land deltas",
    "kore_apps": "kore land kore-apps",
    "crm_pull": "kore crm pull",
}
EXPORT_COMMAND = RERUN_COMMANDS["archtics_export"]


class LandingIncomplete(NotReady):
    """The warehouse holds a half-landed load; a user error whose message is one line."""


@dataclass(frozen=True)
class Problem:
    what: str  # one short sentence
    command: str  # the landing to re-run


def rerun_command(pipeline_name: str) -> str:
    return next((c for p, c in RERUN_COMMANDS.items() if pipeline_name.startswith(p)), f"the {pipeline_name} landing")


def pending_packages(settings: Settings, pipelines: tuple[str, ...] | None = None) -> list[Problem]:
    """Pipelines of the workdir (those whose names start with one of ``pipelines``, default all)
    with load packages extracted or normalized but not loaded."""
    root = Path(settings.dlt_pipelines_dir)
    folders = sorted(p for p in root.iterdir() if (p / "state.json").exists()) if root.is_dir() else []
    folders = [f for f in folders if pipelines is None or f.name.startswith(pipelines)]
    if not folders:  # nothing landed here: dlt's import (~0.8 s) is not needed to say so
        return []
    import dlt
    from dlt.pipeline.exceptions import CannotRestorePipelineException

    out = []
    for folder in folders:
        try:
            pipeline = dlt.attach(folder.name, pipelines_dir=str(root))
        except CannotRestorePipelineException:
            continue
        n = len(pipeline.list_extracted_load_packages()) + len(pipeline.list_normalized_load_packages())
        if n:
            out.append(
                Problem(f"pipeline {folder.name} has {n} load package(s) not loaded", rerun_command(folder.name))
            )
    return out


def ledger_problems(wh: Warehouse) -> list[Problem]:
    """The export's file ledger against the raw tables (see the module docstring)."""
    if not wh.table_exists(RAW_SCHEMA, "file_ledger"):
        return []
    cols = _columns(wh, "file_ledger")
    if not {"path", "dataset", "landed"} <= cols:
        return []
    out = []
    if "_dlt_load_id" in cols and wh.table_exists(RAW_SCHEMA, "_dlt_loads"):
        open_ids = wh.query_rows(
            f"select count(distinct _dlt_load_id) from {RAW_SCHEMA}.file_ledger where _dlt_load_id not in "
            f"(select load_id from {RAW_SCHEMA}._dlt_loads where status = 0)"
        )[0][0]
        if open_ids:
            out.append(Problem(f"{open_ids} load(s) of the file ledger never completed", EXPORT_COMMAND))
    twice = wh.query_rows(
        f"select count(*) from (select path from {RAW_SCHEMA}.file_ledger group by path having count(*) > 1) d"
    )[0][0]
    if twice:  # a replacement (--replace) loaded the new version; removing the old one did not finish
        out.append(Problem(f"{twice} file(s) are in the ledger twice (an interrupted --replace)", EXPORT_COMMAND))
    ledger: dict[str, dict[str, int]] = {}
    for path, dataset, landed in wh.query_rows(f"select path, dataset, landed from {RAW_SCHEMA}.file_ledger"):
        files = ledger.setdefault(str(dataset), {})
        files[str(path)] = files.get(str(path), 0) + int(landed or 0)
    for dataset in sorted(set(ledger) | {d for d in DATASETS if wh.table_exists(RAW_SCHEMA, d)}):
        out.extend(_dataset_problems(wh, dataset, ledger.get(dataset, {})))
    return out


def _dataset_problems(wh: Warehouse, dataset: str, files: dict[str, int]) -> list[Problem]:
    if not dataset.isidentifier() or not wh.table_exists(RAW_SCHEMA, dataset):
        return [Problem(f"{RAW_SCHEMA}.{dataset} is missing ({len(files)} file(s) in the ledger)", EXPORT_COMMAND)]
    if SOURCE_FILE_COLUMN not in _columns(wh, dataset):
        return [Problem(f"{RAW_SCHEMA}.{dataset} has no {SOURCE_FILE_COLUMN} column", EXPORT_COMMAND)]
    rows = wh.query_rows(
        f"select {SOURCE_FILE_COLUMN}, count(*) from {RAW_SCHEMA}.{dataset} group by {SOURCE_FILE_COLUMN}"
    )
    in_table = {r[0]: int(r[1]) for r in rows}
    merged = in_table.pop(None, 0) > 0  # the catch-up replaced some export rows by newer versions
    bad = [
        (path, landed, in_table.get(path, 0))
        for path, landed in sorted(files.items())
        if (in_table.get(path, 0) > landed) or (not merged and in_table.get(path, 0) != landed)
    ]
    unknown = sorted(set(in_table) - set(files))
    out = []
    if bad:
        path, landed, got = bad[0]
        more = f" (and {len(bad) - 1} more file(s))" if len(bad) > 1 else ""
        out.append(
            Problem(f"{RAW_SCHEMA}.{dataset} holds {got} rows of {path}, the ledger {landed}{more}", EXPORT_COMMAND)
        )
    if unknown:
        out.append(
            Problem(
                f"{RAW_SCHEMA}.{dataset} holds rows of {len(unknown)} file(s) missing from the ledger", EXPORT_COMMAND
            )
        )
    return out


def _columns(wh: Warehouse, table: str) -> set[str]:
    rows = wh.query_rows(
        "select column_name from information_schema.columns where lower(table_schema) = lower(?) "
        "and lower(table_name) = lower(?)",
        [RAW_SCHEMA, table],
    )
    return {str(r[0]).lower() for r in rows}


def landing_problems(settings: Settings, pipelines: tuple[str, ...] | None = None, con: Any = None) -> list[Problem]:
    """Everything that makes the landed data incomplete; [] when the stages may run. ``pipelines``
    limits the pending-package check to some landings (see :func:`pending_packages`); ``con``: a
    warehouse connection to read through (closed after), else one is opened."""
    problems = pending_packages(settings, pipelines)
    if con is None and settings.target == "duckdb" and not settings.duckdb_path.exists():
        return problems
    with connect(settings, con) as wh:
        problems += ledger_problems(wh)
    return problems


def require_landing_complete(
    settings: Settings, stage: str, pipelines: tuple[str, ...] | None = None, con: Any = None
) -> None:
    """Raise :class:`LandingIncomplete` (one line: what, and which landing to re-run) if the landing
    is incomplete; ``stage`` names the caller in the message; ``con`` as in :func:`landing_problems`."""
    problems = landing_problems(settings, pipelines, con)
    if not problems:
        return
    commands = list(dict.fromkeys(p.command for p in problems))
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    raise LandingIncomplete(
        f"{stage} refused: the landing is incomplete: {problems[0].what}{more}; "
        f"rerun `{'` and `'.join(commands)}` first"
    )
