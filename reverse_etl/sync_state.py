"""``ops.crm_sync_state``: what the CRM holds of each pushed row, one row per (crm_flavor, entity,
external_key).

It is what makes the push incremental and safe to repeat: a row is sent again only when its
``row_hash`` differs from the last successful push, or when it failed or waited for a parent last
time; ``crm_id`` is how a child finds out its parent is in the CRM. Each entity's rows are replaced
in one transaction after the entity is pushed, so a crash loses at most the entity in flight (and
its rows are upserts, so re-sending them never duplicates a record).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from crm_clients import Outcome
from kore.warehouse import Warehouse
from reverse_etl.payloads import PushRow, records

STATE_SCHEMA, STATE_TABLE = "ops", "crm_sync_state"
STATE_COLUMNS = [
    "crm_flavor",
    "entity",
    "external_key",
    "crm_id",
    "row_hash",
    "status",
    "error",
    "attempts",
    "last_attempt_at",
]

HELD_TOO_LONG = "held_too_long"  # a value longer than its CRM field: not sent, flagged by kore check

State = dict[tuple[str, str], dict[str, Any]]  # (entity, external key) -> state row


def load_state(wh: Warehouse, flavor: str) -> State:
    if not wh.table_exists(STATE_SCHEMA, STATE_TABLE):
        return {}
    df = wh.query_df(f"select * from {STATE_SCHEMA}.{STATE_TABLE} where crm_flavor = ?", [flavor])
    return {(r["entity"], r["external_key"]): r for r in records(df)}


def ensure_state_table(wh: Warehouse) -> None:
    """Create ``ops.crm_sync_state`` with explicit types (a first batch of all-null errors has none)."""
    if wh.table_exists(STATE_SCHEMA, STATE_TABLE):
        return
    wh.ensure_schema(STATE_SCHEMA)
    text, ts = ("varchar", "timestamp") if wh.target == "duckdb" else ("nvarchar", "datetime2")
    wh.execute(
        f"create table {STATE_SCHEMA}.{STATE_TABLE} (crm_flavor {text}(20), entity {text}(100), "
        f"external_key {text}(200), crm_id {text}(100), row_hash {text}(100), status {text}(20), "
        f"error {text}(1000), attempts integer, last_attempt_at {ts})"
    )


def save_state(wh: Warehouse, flavor: str, entity: str, rows: list[dict[str, Any]]) -> None:
    """Replace one entity's sync state (delete + insert in one transaction)."""
    df = pd.DataFrame(rows, columns=STATE_COLUMNS)
    df["attempts"] = pd.to_numeric(df["attempts"]).fillna(0).astype("int64")
    df["last_attempt_at"] = pd.to_datetime(df["last_attempt_at"]).astype("datetime64[ns]")
    for c in STATE_COLUMNS:
        if c not in ("attempts", "last_attempt_at"):
            df[c] = df[c].astype(object).where(df[c].notna(), None)
    ensure_state_table(wh)
    with wh.transaction():
        wh.execute(f"delete from {STATE_SCHEMA}.{STATE_TABLE} where crm_flavor = ? and entity = ?", [flavor, entity])
        wh.append_df(STATE_SCHEMA, STATE_TABLE, df)


def record_sent(state: State, flavor: str, entity: str, r: PushRow, o: Outcome, now: datetime) -> None:
    """A sent row's outcome; ``attempts`` counts failed sends of the same version of the row."""
    prev = state.get((entity, r.key)) or {}
    attempts = int(prev.get("attempts") or 0) + 1 if prev.get("row_hash") == r.row_hash else 1
    state[(entity, r.key)] = {
        "crm_flavor": flavor,
        "entity": entity,
        "external_key": r.key,
        # a record the push has not reached yet (a preexisting contact whose update failed does
        # not carry KORE's key) is not "in the CRM" for its children: they keep waiting
        "crm_id": o.crm_id or prev.get("crm_id") or (r.crm_id if o.status == "synced" else None),
        "row_hash": r.row_hash,
        "status": o.status,
        "error": o.error,
        "attempts": attempts if o.status == "failed" else 0,
        "last_attempt_at": now,
    }


def record_waiting(
    state: State, flavor: str, entity: str, r: PushRow, why: str, status: str = "waiting_parent"
) -> None:
    """A row held back (a parent not in the CRM, or ``status`` says why), not sent: attempts and time
    unchanged; its CRM id only if an earlier push put it there (its children may then be sent)."""
    prev = state.get((entity, r.key)) or {}
    state[(entity, r.key)] = {
        "crm_flavor": flavor,
        "entity": entity,
        "external_key": r.key,
        "crm_id": prev.get("crm_id"),
        "row_hash": r.row_hash,
        "status": status,
        "error": why,
        "attempts": int(prev.get("attempts") or 0),
        "last_attempt_at": prev.get("last_attempt_at"),
    }


def entity_rows(state: State, entity: str) -> list[dict[str, Any]]:
    return [v for (e, _), v in state.items() if e == entity]
