"""Pull CRM-owned entities into ``raw_crm.<flavor>_<entity_snake>`` with dlt (incremental merge).

One dlt source per flavour, one resource per CRM-owned registry entity the flavour syncs, in
registry pull order. Each resource reads the rows changed since its last cursor
(``modifiedon`` / ``SystemModstamp``, a :class:`~dlt_pipelines.state_cursor.StateCursor`) and merges them on the CRM id.
Salesforce appointments are the standard ``Event`` object (``raw_crm.salesforce_appointment``),
tasks the ``Task`` object (``raw_crm.salesforce_task``). Columns are the CRM field names as dlt normalises them; every field of
``crm_field_map.csv`` is declared, so a column exists even while all its values are null.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import dlt
import pyarrow as pa

from crm_clients import CrmClient, make_client
from crm_clients.http import RetryPolicy, set_run_policy
from dlt_pipelines.crm.baseline import update_baseline, update_removed
from dlt_pipelines.state_cursor import StateCursor
from kore.config import Settings, dlt_pipeline
from kore.contracts import crm_names
from kore.registry import Entity, crm_to_kore
from kore.runlog import RunRecord, run_record, write_records
from kore.warehouse import connect

RAW_DATASET = "raw_crm"
_DLT_TYPES = {"varchar": "text", "date": "text", "decimal": "double", "timestamp": "timestamp"}


def _groups(flavor: str) -> list[tuple[str, list[Entity]]]:
    """(CRM table name, registry entities stored in it) in pull order."""
    groups: dict[str, list[Entity]] = {}
    for ent in crm_to_kore(flavor):
        groups.setdefault(ent.crm_name(flavor) or "", []).append(ent)
    return list(groups.items())


def table_name(flavor: str, crm_name: str, ents: list[Entity]) -> str:
    """``<flavor>_<entity_snake>``; a shared object is named after the entity that shares its name."""
    own = next((e for e in ents if e.entity.lower() == crm_name.lower()), ents[0])
    return f"{flavor}_{crm_names.entity_snake(own.entity)}"


def _fields(flavor: str, ents: list[Entity]) -> tuple[list[str], dict[str, dict[str, Any]], str, str]:
    fields: list[str] = []
    hints: dict[str, dict[str, Any]] = {}
    for e in ents:
        for r in crm_names.field_spec(e.entity).for_flavor(flavor):
            f = r.field(flavor)
            if f not in fields:
                fields.append(f)
                hints[column(f)] = {"data_type": _DLT_TYPES.get(r.data_type, "text"), "nullable": r.role != "key"}
    spec = crm_names.field_spec(ents[0].entity)
    return fields, hints, spec.id_field(flavor), spec.modified_field(flavor)


column = crm_names.raw_column


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    """Drop API annotations (``@odata.etag``, Salesforce ``attributes``) and name columns."""
    return {column(k): v for k, v in record.items() if k != "attributes" and "@" not in k}


_ARROW_TYPES = {"text": pa.string(), "double": pa.float64(), "timestamp": pa.timestamp("us", tz="UTC")}
_JSON_TYPES: dict[str, tuple[type, ...]] = {"text": (str,), "double": (int, float), "timestamp": (str,)}


def arrow_page(rows: list[dict[str, Any]], hints: dict[str, dict[str, Any]]) -> pa.Table | None:
    """A page of CRM rows as an Arrow table typed by the column hints, or None when a row holds a
    column without a hint or a value whose JSON type is not its hint's (dlt then coerces the dict
    rows itself, as it always did).

    Why: dlt normalises dict rows in Python, value by value (about 11 of the 25 s of a pull of 233k
    rows at 1M accounts); an Arrow table goes to parquet as it is. Timestamps are parsed by Arrow
    (ISO 8601 with a zone: Dataverse's ``Z``, Salesforce's ``+0000``); one it cannot read sends the
    page to the dict path too.
    """
    if any(not r.keys() <= hints.keys() for r in rows):
        return None
    arrays = []
    for name, hint in hints.items():
        kind = hint["data_type"]
        values = [r.get(name) for r in rows]
        ok = _JSON_TYPES.get(kind)
        if ok is None or any(v is not None and (isinstance(v, bool) or not isinstance(v, ok)) for v in values):
            return None
        try:
            if kind == "timestamp":
                arrays.append(pa.array(values, pa.string()).cast(_ARROW_TYPES[kind]))
            else:
                arrays.append(pa.array(values, _ARROW_TYPES[kind]))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return None
    # the hints' nullability too, so dlt finds nothing to reconcile (it warns on every page otherwise)
    fields = [
        pa.field(n, a.type, nullable=h.get("nullable", True)) for (n, h), a in zip(hints.items(), arrays, strict=True)
    ]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def crm_source(client: CrmClient, page_size: int | None = None):
    """The dlt source for the client's CRM flavour."""
    flavor = client.flavor
    size = page_size or client.page_size

    def make(crm_name: str, ents: list[Entity]):
        fields, hints, id_field, modified = _fields(flavor, ents)
        name = table_name(flavor, crm_name, ents)

        @dlt.resource(name=name, primary_key=column(id_field), write_disposition="merge", columns=hints)
        def read() -> Iterator[list[dict[str, Any]]]:
            cursor = StateCursor(column(modified), client.epoch, column(id_field))
            for page in client.iter_pages(crm_name, fields, id_field, modified, cursor.start, size):
                rows = cursor.rows([_clean(r) for r in page])
                if rows:
                    yield arrow_page(rows, hints) or rows
            cursor.commit()

        return read

    @dlt.source(name=f"crm_{flavor}", max_table_nesting=0)
    def source():
        return [make(crm_name, ents) for crm_name, ents in _groups(flavor)]

    return source()


def make_pipeline(settings: Settings, flavor: str) -> dlt.Pipeline:
    return dlt_pipeline(settings, f"crm_pull_{flavor}", RAW_DATASET)


def pull(
    settings: Settings, base_url: str, flavor: str, credentials: dict[str, str], page_size: int | None = None
) -> dict[str, Any]:
    """Land every CRM-owned entity of the flavour into ``raw_crm`` (incremental); returns row counts."""
    set_run_policy(  # one retry policy for the pull's sessions: its deadlines are this run's
        RetryPolicy.with_deadlines(
            settings.http_call_deadline, settings.http_run_deadline, timeout=settings.crm_timeout
        )
    )
    client = make_client(flavor, base_url, credentials, settings.crm_timeout)
    client.open()
    tables = [table_name(flavor, n, e) for n, e in _groups(flavor)]
    t0 = time.perf_counter()
    with run_record(settings, "crm_pull", flavor) as rec:
        pipeline = make_pipeline(settings, flavor)
        # On DuckDB, parquet instead of dlt's default for dict rows there (INSERT ... VALUES statements,
        # whose execution was half the pull: 5.3 of 9.8 s at 100k accounts); DuckDB reads parquet
        # natively. SQL Server's destination chooses parquet itself when its ADBC driver is installed.
        fmt = "parquet" if settings.target == "duckdb" else None
        pipeline.run(crm_source(client, page_size), loader_file_format=fmt)
        counts_all = dict(pipeline.last_trace.last_normalize_info.row_counts) if pipeline.last_trace else {}
        counts = {t: int(counts_all.get(t, 0)) for t in tables}
        rec.rows_in = rec.rows_out = sum(counts.values())
        rec.detail = {"tables": counts}
    result = {
        "flavor": flavor,
        "dataset": RAW_DATASET,
        "tables": counts,
        "rows": sum(counts.values()),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    # One record per table, written together (see push.write_records for why not one call each).
    now = datetime.now(UTC).isoformat(timespec="seconds")
    records = [
        RunRecord(
            stage="crm_pull",
            entity=t,
            started_at=now,
            finished_at=now,
            rows_in=n,
            rows_out=n,
            outcome="success",
            detail={"flavor": flavor},
        )
        for t, n in counts.items()
    ]
    with connect(settings) as wh:
        write_records(settings, records, wh)
        pushed = wh.table_exists("ops", "crm_sync_state") and bool(
            wh.scalar("select count(*) from ops.crm_sync_state where crm_flavor = ?", [flavor])
        )
        result["baseline_added"] = update_baseline(wh, flavor, pushed)
        removed = update_removed(wh, client, flavor)
    result["removed_in_crm"] = sum(n for k, n in removed.items() if k.endswith("_removed"))
    result["ids_listed"] = sum(n for k, n in removed.items() if k.endswith("_ids_listed"))
    return result
