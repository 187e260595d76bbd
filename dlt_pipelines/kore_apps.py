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

A file is parsed by Arrow's JSON reader when that provably gives the line-by-line parse's rows
(:func:`parse_fast`), else line by line (:func:`parse_exact`). On DuckDB the changed rows skip dlt's
load packages (:mod:`dlt_pipelines.kore_apps_direct`: same tables, one transaction, and a file
unchanged since it was landed is not parsed again); other destinations (SQL Server) load packages.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import dlt
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
from rich.progress import Progress

from dlt_pipelines import kore_apps_direct as direct
from dlt_pipelines.archtics_common import StageTimes, is_direct
from dlt_pipelines.state_cursor import StateCursor
from kore.config import Settings, dlt_pipeline
from kore.contracts.crm_names import entity_snake
from kore.registry import kore_to_crm
from kore.runlog import run_record

PIPELINE_NAME = "kore_apps"
DATASET = "raw_kore_app"
CURSOR = "modified_at"
INITIAL_CURSOR = "1900-01-01 00:00:00"
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

    tables: dict[str, pa.Table] = field(default_factory=dict)  # good rows, typed by the manifest
    columns: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    fast: list[str] = field(default_factory=list)  # entities Arrow's reader parsed (see parse_fast)
    fingerprints: dict[str, str] = field(default_factory=dict)  # entity -> file_fingerprint() of its file
    unchanged: dict[str, dict[str, Any]] = field(default_factory=dict)  # entity -> landed record (not read)


BIGINT = range(-(2**63), 2**63)  # what a bigint column (and Arrow's int64) holds


def _text_ok(value: str) -> bool:
    """Text the warehouse can store: JSON's escapes can spell half a surrogate pair (``"\\ud800"``),
    which no UTF-8 column holds."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _type_ok(value: Any, data_type: str) -> bool:
    if value is None:
        return True
    if data_type == "bigint":
        return isinstance(value, int) and not isinstance(value, bool) and value in BIGINT
    if data_type == "double":
        if isinstance(value, int) and not isinstance(value, bool):
            return abs(value) <= sys.float_info.max  # a double holds it (rounded)
        return isinstance(value, float)
    return isinstance(value, str) and _text_ok(value)


def check_row(obj: Any, columns: dict[str, dict[str, Any]]) -> str | None:
    """Why a parsed line cannot be loaded (None when it can): shape, id, cursor, value types."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    if not isinstance(obj.get("id"), int) or isinstance(obj.get("id"), bool):
        return "missing or non-integer id"
    if obj["id"] not in BIGINT:
        return "id out of the 64-bit integer range"
    ts = obj.get(CURSOR)
    if not isinstance(ts, str):
        return f"missing {CURSOR}"
    try:
        datetime.strptime(ts, TS_FORMAT)
    except ValueError:
        return f"{CURSOR} is not YYYY-MM-DD HH:MM:SS"
    unknown = sorted(set(obj) - set(columns))
    if unknown:  # named as UTF-8 can store them (a name may hold half a surrogate pair too)
        names = ", ".join(unknown).encode("utf-8", "backslashreplace").decode("utf-8")
        return f"columns not in the manifest: {names[:200]}"
    wrong = [name for name, c in columns.items() if not _type_ok(obj.get(name), c["data_type"])]
    if wrong:
        return f"wrong value type in {', '.join(wrong)}"
    return None


def file_fingerprint(meta: dict[str, Any]) -> str:
    """A manifest entry's file and columns as one hash: equal fingerprints parse to the same rows."""
    columns = json.dumps(meta["columns"], sort_keys=True)
    return hashlib.sha256(f"{meta['sha256']}\n{columns}".encode()).hexdigest()


def parse_export(
    source_dir: Path, entities: list[str], landed: dict[str, dict[str, Any]] | None = None
) -> ParsedExport:
    """Read and validate every entity file (pure apart from reading files).

    ``landed``: per entity the record of the file whose rows are all in the warehouse (its
    ``file_fingerprint``); a file still the same (and matching the manifest) is not parsed again but
    listed in ``unchanged`` with that record: its rows could only be dropped by the cursor."""
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
            fingerprint = out.fingerprints[entity] = file_fingerprint(meta)
            if landed and (landed.get(entity) or {}).get("file_fingerprint") == fingerprint:
                out.unchanged[entity] = landed[entity]
                continue
            columns = out.columns[entity] = {
                c["name"]: {"data_type": _DLT_TYPES[c["type"]], "nullable": c["name"] not in ("id", CURSOR)}
                for c in meta["columns"]
            }
            table = parse_fast(meta["path"], data, columns)
            if table is None:
                table, bad = parse_exact(meta["path"], entity, data, columns)
                out.quarantine.extend(bad)
            else:
                out.fast.append(entity)
            out.tables[entity] = table
    return out


def parse_exact(
    source_file: str, entity: str, data: bytes, columns: dict[str, dict[str, Any]]
) -> tuple[pa.Table, list[dict[str, Any]]]:
    """The reference parse, line by line: each line through ``json.loads`` and :func:`check_row`;
    the good rows as an Arrow table, and one quarantine row per bad line (file, line, reason, text,
    hash). Blank lines are skipped but counted, the first line with an id wins over later ones."""
    good: list[dict[str, Any]] = []
    bad: list[dict[str, Any]] = []
    seen: set[int] = set()
    for line_no, raw in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
            reason = check_row(obj, columns)
        except json.JSONDecodeError as exc:
            obj, reason = None, f"invalid JSON: {exc.msg}"
        if not reason and obj["id"] in seen:
            reason = "duplicate id (an earlier line has it)"
        if reason:
            bad.append(
                {
                    "source_file": source_file,
                    "source_line": line_no,
                    "entity": entity,
                    "reason": reason,
                    "raw_text": raw[:4000],
                    "raw_hash": hashlib.sha256(raw.encode()).hexdigest(),
                }
            )
            continue
        seen.add(obj["id"])
        obj["_source_file"] = source_file
        obj["_source_line"] = line_no
        good.append(obj)
    return to_arrow(good, columns), bad


# Non-ASCII text the fast parse leaves to the exact one: U+0085, U+2028, U+2029 (Python's
# ``splitlines`` breaks lines there, Arrow reads them inside strings) and a BOM (json.loads refuses it,
# Arrow skips it at the start of the file).
_NOT_FAST_UTF8 = (b"\xc2\x85", b"\xe2\x80\xa8", b"\xe2\x80\xa9", b"\xef\xbb\xbf")
# what ``datetime.strptime(ts, TS_FORMAT)`` accepts, in its strict zero-padded form (strptime also
# takes "2026-1-5  3:04:05"; such a file goes the exact way); day-of-month is checked by a date cast
_STRICT_TS = r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]) ([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$"
_EXACT_DOUBLE = 2.0**53  # a JSON integer beyond this does not fit a double exactly: to_arrow refuses it


def parse_fast(source_file: str, data: bytes, columns: dict[str, dict[str, Any]]) -> pa.Table | None:
    """The file parsed by Arrow's JSON reader, or None when the result might differ from
    :func:`parse_exact`'s (which then parses the file).

    Why: the line-by-line parse costs ~15 s per million rows; Arrow's reader with the manifest's
    schema is ~20 times faster. It is only trusted when every line is provably good for the exact
    parse too, so rows, line numbers and quarantine stay exactly the same:

    * Arrow refuses (error -> None) a value of another JSON type than the column's (a number or
      bool in a text column, a string, bool or 1.0 in an int column, a bool in a num column), an
      int beyond int64, a field not in the manifest, a key given twice, a non-object line, bad
      JSON, raw control characters in strings (as json.loads does) and outside them (but tab,
      newline and carriage return);
    * refused here: invalid UTF-8, characters that break lines for Python's ``splitlines`` only or
      that json refuses (``\\r``, :data:`_NOT_FAST_UTF8`), any line not one object from its first to
      its last byte (:func:`_object_lines`: blank lines, objects across lines, two on one line,
      surrounding blanks), a null or missing ``id`` or ``modified_at``, an ``id`` twice, a
      ``modified_at`` not strictly ``YYYY-MM-DD HH:MM:SS`` on a real date, and in num columns NaN,
      infinities and magnitudes from 2**53 up (json.loads reads NaN/Infinity; an integer there may
      not convert exactly).

    What is left are lines json.loads parses to the same values (Arrow converts floats correctly
    rounded, like Python) and :func:`check_row` accepts.
    """
    lines = _object_lines(data)
    if lines is None or (not data.isascii() and (any(s in data for s in _NOT_FAST_UTF8) or not _is_utf8(data))):
        return None
    schema = arrow_schema(columns)
    read_schema = pa.schema([f.with_nullable(True) for f in schema if not f.name.startswith("_source_")])
    options = pj.ParseOptions(explicit_schema=read_schema, unexpected_field_behavior="error")
    try:
        table = pj.read_json(pa.BufferReader(data), parse_options=options)
    except (pa.ArrowException, ValueError):
        return None
    if table.num_rows != lines or not _values_exact(table, columns):
        return None
    table = table.append_column("_source_file", pa.repeat(source_file, lines).cast(pa.string()))
    return table.append_column("_source_line", pa.array(np.arange(1, lines + 1, dtype=np.int64))).cast(schema)


def _object_lines(data: bytes) -> int | None:
    """The number of lines when each line starts with ``{`` and ends with ``}`` and no ``\\r``
    occurs (else None).

    Why this proves Arrow's rows are the file's lines, one each, when there are as many rows as
    lines: Arrow reads objects across newlines and several per line, and skips blank lines. Its
    strings cannot hold a raw newline and its columns no nested object, so a ``{`` starting a line
    opens a row and a ``}`` ending one closes a row: every line holds whole rows, at least one, and
    equal counts leave exactly one. A ``\\r`` is JSON whitespace to Arrow but a line break to
    Python's ``splitlines``.
    """
    end = len(data) - 1 if data.endswith(b"\n") else len(data)  # a last newline ends the last line
    if end < 2 or data[0] != ord("{") or data[end - 1] != ord("}") or b"\r" in data:
        return None
    breaks = data.count(b"\n", 0, end)
    return breaks + 1 if data.count(b"}\n{", 0, end) == breaks else None


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _values_exact(table: pa.Table, columns: dict[str, dict[str, Any]]) -> bool:
    """The checks of :func:`check_row` that Arrow's types do not already make (see parse_fast)."""
    ids, ts = table["id"].combine_chunks(), table[CURSOR]
    if ids.null_count or ts.null_count:
        return False
    n = table.num_rows
    increasing = n < 2 or pc.all(pc.greater(ids.slice(1), ids.slice(0, n - 1))).as_py()
    if not increasing and pc.count_distinct(ids).as_py() != n:
        return False
    if not pc.all(pc.match_substring_regex(ts, _STRICT_TS)).as_py():
        return False
    try:
        pc.cast(pc.utf8_slice_codeunits(ts, 0, 10), pa.date32())  # refuses 2026-02-30
    except pa.ArrowInvalid:
        return False
    doubles = [name for name, c in columns.items() if c["data_type"] == "double"]
    return all(pc.all(pc.less(pc.abs(table[name]), _EXACT_DOUBLE)).as_py() is not False for name in doubles)


_ARROW_TYPES = {"bigint": pa.int64(), "double": pa.float64(), "text": pa.string()}


def arrow_schema(columns: dict[str, dict[str, Any]]) -> pa.Schema:
    """The Arrow schema of an entity's rows: the manifest's columns, then source file and line."""
    return pa.schema(
        [pa.field(name, _ARROW_TYPES[c["data_type"]], nullable=c["nullable"]) for name, c in columns.items()]
        + [pa.field("_source_file", pa.string()), pa.field("_source_line", pa.int64())]
    )


def to_arrow(rows: list[dict[str, Any]], columns: dict[str, dict[str, Any]]) -> pa.Table:
    """Rows as an arrow table typed by the manifest: dlt loads arrow many times faster than dicts.

    Values were type-checked line by line (:func:`check_row`), so a failure here is a bug, reported
    loudly rather than coerced.
    """
    schema = arrow_schema(columns)
    data = {name: [r.get(name) for r in rows] for name in schema.names}
    try:
        return pa.Table.from_pydict(data, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise KoreAppExportError(f"value of the wrong type in the export: {exc}") from exc


def _entity_resource(entity: str, table: pa.Table, columns: dict[str, dict[str, Any]]):
    snake = entity_snake(entity)

    @dlt.resource(name=snake, table_name=snake, primary_key="id", write_disposition="merge", columns=columns)
    def entity_rows():
        cursor = StateCursor(CURSOR, INITIAL_CURSOR, "id")
        changed = cursor.table(table)
        if changed.num_rows:
            yield changed
        cursor.commit()

    return entity_rows


@dlt.source(name="kore_apps")
def kore_apps_source(parsed: ParsedExport):
    """One merge+incremental resource per entity, and the quarantine of unreadable lines."""
    resources = [_entity_resource(e, table, parsed.columns[e]) for e, table in parsed.tables.items()]
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
        times = StageTimes()
        # Arrow tables get dlt's load id / row id columns only when asked (staging orders by load id):
        # asked in this pipeline's own section of .dlt/config.toml, so other pipelines are unaffected.
        pipeline = dlt_pipeline(settings, PIPELINE_NAME, DATASET)
        if is_direct(pipeline.destination.destination_name):
            with times.timed("setup"):
                direct.finish_pending(pipeline)
                saved = direct.saved_states(pipeline)
            with times.timed("parse"):
                landed = {e: saved[entity_snake(e)] for e in app_entities() if entity_snake(e) in (saved or {})}
                parsed = parse_export(source_dir, app_entities(), landed)
            with times.timed("load"):
                loaded = land_direct(pipeline, parsed, saved)
        else:
            with times.timed("parse"):
                parsed = parse_export(source_dir, app_entities())
            with times.timed("load"):
                pipeline.run(kore_apps_source(parsed))
            counts = pipeline.last_trace.last_normalize_info.row_counts if pipeline.last_trace else {}
            loaded = {entity_snake(e): int(counts.get(entity_snake(e), 0)) for e in parsed.tables}
        rows_read = sum(t.num_rows for t in parsed.tables.values())
        rows_read += sum(int(u["rows_read"]) for u in parsed.unchanged.values())
        quarantined = len(parsed.quarantine) + sum(int(u["quarantined"]) for u in parsed.unchanged.values())
        result = {
            "entities": len(parsed.tables) + len(parsed.unchanged),
            "rows_read": rows_read,
            "rows_loaded": sum(loaded.values()),
            "quarantined": quarantined,
            "refused_files": parsed.refused,
            "missing_entities": parsed.missing,
            "files_parsed_fast": len(parsed.fast),
            "files_unchanged": len(parsed.unchanged),
            "times": times.rounded(),
            "loaded_per_entity": loaded,
        }
        rec.rows_in = rows_read + quarantined
        rec.rows_out = result["rows_loaded"]
        rec.rows_failed = quarantined
        rec.detail = {k: v for k, v in result.items() if k != "loaded_per_entity"}
        if parsed.refused or parsed.missing:
            rec.outcome = "success with refused files"
    return result


def land_direct(
    pipeline: dlt.Pipeline, parsed: ParsedExport, saved: dict[str, dict[str, Any]] | None
) -> dict[str, int]:
    """The package path's merge done by DuckDB in one transaction (:mod:`dlt_pipelines.kore_apps_direct`),
    with each parsed file's record (cursor, fingerprint, counts); returns the rows written per table."""
    tables = {entity_snake(e): t for e, t in parsed.tables.items()}
    changed, states = direct.changed_rows(pipeline, tables, saved, INITIAL_CURSOR, CURSOR, "id")
    bad = Counter(q["entity"] for q in parsed.quarantine)
    for e, table in parsed.tables.items():
        record = {"file_fingerprint": parsed.fingerprints[e], "rows_read": table.num_rows, "quarantined": bad[e]}
        states[entity_snake(e)].update(record)
    writes = [
        direct.Table(entity_snake(e), changed[entity_snake(e)], ("id",), parsed.columns[e]) for e in parsed.tables
    ]
    if parsed.quarantine:
        rows = pa.Table.from_pylist(parsed.quarantine, schema=direct.QUARANTINE_SCHEMA)
        writes.append(
            direct.Table("quarantine", direct.not_landed(pipeline, "quarantine", rows), direct.QUARANTINE_KEY)
        )
    direct.write(pipeline, writes, {n: s for n, s in states.items() if (saved or {}).get(n) != s})
    return {name: rows.num_rows for name, rows in changed.items()} | {entity_snake(e): 0 for e in parsed.unchanged}
