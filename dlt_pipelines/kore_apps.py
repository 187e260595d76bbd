"""Land the KORE apps' own data (deal sheets, premium deals, touchpoints...) into ``raw_kore_app.*``.

Input is the apps' database export: ``manifest.json`` plus one JSONL file per entity
(``<entity_snake>.jsonl``; see ``sandbox/kore_apps.py`` for the stand-in). The export is a full
snapshot each time, so the pipeline keeps it cheap and exact by loading only what changed:

- one dlt resource per registry entity, table ``raw_kore_app.<entity_snake>``, ``merge`` on the
  app's ``id`` and a cursor on ``modified_at`` (:mod:`dlt_pipelines.state_cursor`): a re-run over unchanged files
  writes no rows, and after the app edits rows only those rows (and new ones) are merged;
- column types come from the manifest (dates and timestamps stay text, as exported, so no reader
  guesses a type; staging casts them), so a column that is empty today still exists;
- a file whose bytes do not match the manifest (torn copy, hand edit) is refused whole and
  recorded; lines that are not valid JSON objects with an ``id`` and a ``modified_at`` go to
  ``raw_kore_app.quarantine`` with file, line and reason. Nothing is silently dropped.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
from rich.progress import Progress

from dlt_pipelines.state_cursor import StateCursor
from kore.config import Settings, dlt_pipeline
from kore.contracts.crm_names import entity_snake
from kore.registry import kore_to_crm
from kore.runlog import run_record

PIPELINE_NAME = "kore_apps"
DATASET = "raw_kore_app"
CURSOR = "modified_at"
TS_FORMAT = "%Y-%m-%d %H:%M:%S"
# Entities the KORE apps own; TicketPurchaseKoreps is built from Archtics tickets, not from the apps.
NOT_FROM_APPS = {"TicketPurchaseKoreps"}
_DLT_TYPES = {"int": "bigint", "num": "double", "text": "text", "date": "text", "ts": "text"}


class KoreAppExportError(RuntimeError):
    """The export folder cannot be loaded at all (no manifest, unknown format)."""


def app_entities() -> list[str]:
    """The KORE-owned registry entities the apps export, in push order."""
    return [e.entity for e in kore_to_crm() if e.entity not in NOT_FROM_APPS]


@dataclass
class ParsedExport:
    """The export after validation: good rows per entity, quarantined lines, refused files."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    columns: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _type_ok(value: Any, data_type: str) -> bool:
    if value is None:
        return True
    if data_type == "bigint":
        return isinstance(value, int) and not isinstance(value, bool)
    if data_type == "double":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, str)


def check_row(obj: Any, columns: dict[str, dict[str, Any]]) -> str | None:
    """Why a parsed line cannot be loaded (None when it can): shape, id, cursor, value types."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    if not isinstance(obj.get("id"), int) or isinstance(obj.get("id"), bool):
        return "missing or non-integer id"
    ts = obj.get(CURSOR)
    if not isinstance(ts, str):
        return f"missing {CURSOR}"
    try:
        datetime.strptime(ts, TS_FORMAT)
    except ValueError:
        return f"{CURSOR} is not YYYY-MM-DD HH:MM:SS"
    unknown = sorted(set(obj) - set(columns))
    if unknown:
        return f"columns not in the manifest: {', '.join(unknown)[:200]}"
    wrong = [name for name, c in columns.items() if not _type_ok(obj.get(name), c["data_type"])]
    if wrong:
        return f"wrong value type in {', '.join(wrong)}"
    return None


def parse_export(source_dir: Path, entities: list[str]) -> ParsedExport:
    """Read and validate every entity file (pure apart from reading files)."""
    manifest_path = source_dir / "manifest.json"
    if not manifest_path.exists():
        raise KoreAppExportError(f"{manifest_path}: no manifest; is this a KORE apps export folder?")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("format_version") != 1 or manifest.get("source") != "kore_apps":
        raise KoreAppExportError(f"{manifest_path}: unsupported export format {manifest.get('format_version')!r}")
    files = {f["entity"]: f for f in manifest["files"]}
    out = ParsedExport()
    with Progress(transient=True) as progress:
        task = progress.add_task("KORE apps export", total=len(entities))
        for entity in entities:
            progress.advance(task)
            meta = files.get(entity)
            if meta is None:
                out.missing.append(entity)
                continue
            path = source_dir / meta["path"]
            data = path.read_bytes() if path.exists() else b""
            if not path.exists() or hashlib.sha256(data).hexdigest() != meta["sha256"]:
                reason = "file missing" if not path.exists() else "sha256 differs from manifest"
                out.refused.append({"entity": entity, "file": meta["path"], "reason": reason})
                continue
            out.columns[entity] = {
                c["name"]: {"data_type": _DLT_TYPES[c["type"]], "nullable": c["name"] not in ("id", CURSOR)}
                for c in meta["columns"]
            }
            good: list[dict[str, Any]] = []
            seen: set[int] = set()
            for line_no, raw in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw)
                    reason = check_row(obj, out.columns[entity])
                except json.JSONDecodeError as exc:
                    obj, reason = None, f"invalid JSON: {exc.msg}"
                if not reason and obj["id"] in seen:
                    reason = "duplicate id (an earlier line has it)"
                if reason:
                    out.quarantine.append(
                        {
                            "source_file": meta["path"],
                            "source_line": line_no,
                            "entity": entity,
                            "reason": reason,
                            "raw_text": raw[:4000],
                            "raw_hash": hashlib.sha256(raw.encode()).hexdigest(),
                        }
                    )
                    continue
                seen.add(obj["id"])
                obj["_source_file"] = meta["path"]
                obj["_source_line"] = line_no
                good.append(obj)
            out.rows[entity] = good
    return out


_ARROW_TYPES = {"bigint": pa.int64(), "double": pa.float64(), "text": pa.string()}


def to_arrow(rows: list[dict[str, Any]], columns: dict[str, dict[str, Any]]) -> pa.Table:
    """Rows as an arrow table typed by the manifest: dlt loads arrow many times faster than dicts.

    Values were type-checked line by line (:func:`check_row`), so a failure here is a bug, reported
    loudly rather than coerced.
    """
    schema = pa.schema(
        [pa.field(name, _ARROW_TYPES[c["data_type"]], nullable=c["nullable"]) for name, c in columns.items()]
        + [pa.field("_source_file", pa.string()), pa.field("_source_line", pa.int64())]
    )
    data = {name: [r.get(name) for r in rows] for name in schema.names}
    try:
        return pa.Table.from_pydict(data, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise KoreAppExportError(f"value of the wrong type in the export: {exc}") from exc


def _entity_resource(entity: str, table: pa.Table, columns: dict[str, dict[str, Any]]):
    snake = entity_snake(entity)

    @dlt.resource(name=snake, table_name=snake, primary_key="id", write_disposition="merge", columns=columns)
    def entity_rows():
        cursor = StateCursor(CURSOR, "1900-01-01 00:00:00", "id")
        changed = cursor.table(table)
        if changed.num_rows:
            yield changed
        cursor.commit()

    return entity_rows


@dlt.source(name="kore_apps")
def kore_apps_source(parsed: ParsedExport):
    """One merge+incremental resource per entity, and the quarantine of unreadable lines."""
    resources = [
        _entity_resource(e, to_arrow(rows, parsed.columns[e]), parsed.columns[e]) for e, rows in parsed.rows.items()
    ]
    if parsed.quarantine:
        resources.append(
            dlt.resource(
                parsed.quarantine,
                name="quarantine",
                primary_key=("source_file", "source_line", "raw_hash"),
                write_disposition="merge",
            )
        )
    return resources


def land_kore_apps(settings: Settings, source_dir: Path) -> dict[str, Any]:
    """Load the KORE apps export at ``source_dir`` into ``raw_kore_app``; returns counts per entity."""
    source_dir = Path(source_dir)
    with run_record(settings, "land_kore_apps") as rec:
        parsed = parse_export(source_dir, app_entities())
        # Arrow tables get dlt's load id / row id columns only when asked (staging orders by load id):
        # asked in this pipeline's own section of .dlt/config.toml, so other pipelines are unaffected.
        pipeline = dlt_pipeline(settings, PIPELINE_NAME, DATASET)
        pipeline.run(kore_apps_source(parsed))
        counts = pipeline.last_trace.last_normalize_info.row_counts if pipeline.last_trace else {}
        loaded = {entity_snake(e): int(counts.get(entity_snake(e), 0)) for e in parsed.rows}
        rows_read = sum(len(r) for r in parsed.rows.values())
        result = {
            "entities": len(parsed.rows),
            "rows_read": rows_read,
            "rows_loaded": sum(loaded.values()),
            "quarantined": len(parsed.quarantine),
            "refused_files": parsed.refused,
            "missing_entities": parsed.missing,
            "loaded_per_entity": loaded,
        }
        rec.rows_in = rows_read + len(parsed.quarantine)
        rec.rows_out = result["rows_loaded"]
        rec.rows_failed = len(parsed.quarantine)
        rec.detail = {k: v for k, v in result.items() if k != "loaded_per_entity"}
        if parsed.refused or parsed.missing:
            rec.outcome = "success with refused files"
    return result
