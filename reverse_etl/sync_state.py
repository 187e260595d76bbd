"""``ops.crm_sync_state``: what the CRM holds of each pushed row, one row per (crm_flavor, entity,
external_key).

It is what makes the push incremental and safe to repeat: a row is sent again only when its
``row_hash`` differs from the last successful push, or when it failed or waited for a parent last
time; ``crm_id`` is how a child finds out its parent is in the CRM.

The push never holds the whole table: each batch of rows reads the state of its own keys and of
their parents (:func:`read_state`), and writes what it changed once the batch is sent
(:func:`save_rows`, one transaction). Why: at a million accounts the table has ~12M rows (ticket
purchases), ~16 GB as Python rows. A crash loses at most the batch in flight, and its rows are
upserts by external key, so re-sending them never duplicates a record.
"""

from __future__ import annotations

from collections.abc import Iterable
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

# scratch tables of a push, dropped at its end (:func:`drop_scratch`)
KEYS_TABLE = "_kore_sync_keys"  # the (entity, external_key) pairs a batch reads or writes
CURRENT_TABLE = "_kore_push_current"  # the external keys of the entity's source rows (``retractions``)


class State(dict):
    """(entity, external key) -> state row: the rows one batch of the push read, and what it wrote
    since (``dirty``: the keys :func:`save_rows` writes)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.dirty: set[tuple[str, str]] = set()

    def __setitem__(self, key: tuple[str, str], value: dict[str, Any]) -> None:
        super().__setitem__(key, value)
        self.dirty.add(key)


def _loaded(df: pd.DataFrame) -> State:
    """Stored rows as a State with nothing to write (``dirty`` empty)."""
    out = State()
    for r in records(df):
        dict.__setitem__(out, (r["entity"], r["external_key"]), r)
    return out


def _write_keys(wh: Warehouse, keys: Iterable[tuple[str, str]]) -> None:
    pairs = list(set(keys))
    df = pd.DataFrame({"entity": [e for e, _ in pairs], "external_key": [k for _, k in pairs]}, dtype="string")
    wh.replace_table(STATE_SCHEMA, KEYS_TABLE, df)


def read_state(wh: Warehouse, flavor: str, keys: Iterable[tuple[str, str]]) -> State:
    """The stored state of ``keys`` ((entity, external key) pairs; the ones never pushed are absent)."""
    keys = set(keys)
    if not keys or not wh.table_exists(STATE_SCHEMA, STATE_TABLE):
        return State()
    _write_keys(wh, keys)
    df = wh.query_df(
        f"select s.* from {STATE_SCHEMA}.{STATE_TABLE} s join {STATE_SCHEMA}.{KEYS_TABLE} k "
        "on k.entity = s.entity and k.external_key = s.external_key where s.crm_flavor = ?",
        [flavor],
    )
    return _loaded(df)


def save_rows(wh: Warehouse, flavor: str, state: State) -> int:
    """Write the rows ``state`` changed (its ``dirty`` keys) in one transaction; returns their number."""
    keys = sorted(state.dirty)
    if not keys:
        return 0
    df = pd.DataFrame([state[k] for k in keys], columns=STATE_COLUMNS)
    df["crm_flavor"] = flavor
    df["attempts"] = pd.to_numeric(df["attempts"]).fillna(0).astype("int64")
    df["last_attempt_at"] = pd.to_datetime(df["last_attempt_at"]).astype("datetime64[ns]")
    for c in STATE_COLUMNS:
        if c not in ("attempts", "last_attempt_at"):
            df[c] = df[c].astype(object).where(df[c].notna(), None)
    ensure_state_table(wh)
    with wh.transaction():
        _write_keys(wh, keys)
        wh.execute(
            f"delete from {STATE_SCHEMA}.{STATE_TABLE} where crm_flavor = ? and exists (select 1 from "
            f"{STATE_SCHEMA}.{KEYS_TABLE} k where k.entity = {STATE_TABLE}.entity "
            f"and k.external_key = {STATE_TABLE}.external_key)",
            [flavor],
        )
        wh.append_df(STATE_SCHEMA, STATE_TABLE, df)
    state.dirty.clear()
    return len(df)


def entity_state(wh: Warehouse, flavor: str, entity: str, where: str = "") -> State:
    """The entity's stored rows (those ``where`` selects, a condition on the state table's columns)."""
    if not wh.table_exists(STATE_SCHEMA, STATE_TABLE):
        return State()
    df = wh.query_df(
        f"select * from {STATE_SCHEMA}.{STATE_TABLE} where crm_flavor = ? and entity = ?{' and ' + where if where else ''}",
        [flavor, entity],
    )
    return _loaded(df)


def drop_scratch(wh: Warehouse) -> None:
    for table in (KEYS_TABLE, CURRENT_TABLE):
        wh.execute(f"drop table if exists {STATE_SCHEMA}.{table}")


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
    if wh.target != "duckdb":  # each batch looks its keys up and replaces them: by the key, not a scan
        wh.execute(
            f"create clustered index ix_{STATE_TABLE}_key on {STATE_SCHEMA}.{STATE_TABLE} "
            "(crm_flavor, entity, external_key)"
        )


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
