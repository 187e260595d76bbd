"""Retractions: what the CRM got from KORE earlier and KORE no longer has is withdrawn, never deleted.

Mature reverse-ETL tools ask, per destination object, what to do with a row that left the source
(delete it, clear fields, or do nothing). Deleting a CRM record loses the sales history hanging off
it, so KORE offers two policies per entity:

- ``deactivate`` (default for every entity): the record is set inactive the CRM's own way
  (``kore.contracts.record_state``: Dynamics ``statecode``/``statuscode``, Salesforce
  ``koreps__Status__c``) on the next push, and set active again if the row comes back.
- ``keep``: the record stays as it is (KORE only stops updating it).

Configured with ``KORE_RETRACTIONS="Entity=policy,..."`` (registry entity names, e.g.
``TicketPurchaseKoreps=keep``); read in ``kore.config``.

What is a retraction: a row ``ops.crm_sync_state`` says is in the CRM (it has a CRM id) whose
external key is not among the entity's source rows any more. That covers a returned or moved ticket
(``kore.SyncedTicketPurchases`` holds active tickets only), a row deleted in a KORE app, and an
account (with its contact) newly excluded by Account Type (the push leaves excluded rows out). A
contact or account the CRM had before KORE (``ops.crm_baseline``, written by the CRM pull) is never
deactivated: KORE did not create it, it only stops writing to it. Without the baseline no contact or
account is retracted at all (safe default).

A guard, as the tools have: when more than :data:`MAX_FRACTION` of an entity's synced rows (and at
least :data:`GUARD_MIN_ROWS`) would be withdrawn in one push, nothing is withdrawn and the push
reports it: a half-built source table must not empty the CRM.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from crm_clients import CrmClient, Target
from kore.config import Settings
from kore.contracts import record_state
from kore.warehouse import Warehouse
from reverse_etl.payloads import PushRow
from reverse_etl.sync_state import CURRENT_TABLE, STATE_SCHEMA, STATE_TABLE, State, entity_state

POLICIES = ("deactivate", "keep")
DEFAULT_POLICY = "deactivate"
MAX_FRACTION = 0.5
GUARD_MIN_ROWS = 20
CRM_OWNED = ("Account", "Contact")  # entities the CRM may have had before KORE
IN_CRM = ("synced", "failed", "waiting_parent", "retract_failed")  # statuses of rows that may be in the CRM
BASELINE = ("ops", "crm_baseline")


def policies(settings: Settings) -> dict[str, str]:
    """The configured per-entity policies (entities not named use :data:`DEFAULT_POLICY`)."""
    out = dict(settings.retractions)
    bad = {e: p for e, p in out.items() if p not in POLICIES}
    if bad:
        raise ValueError(f"KORE_RETRACTIONS: unknown policy {bad}; policies are {', '.join(POLICIES)}")
    return out


def policy(settings: Settings, entity: str) -> str:
    return policies(settings).get(entity, DEFAULT_POLICY)


def preexisting_ids(wh: Warehouse, flavor: str) -> set[str] | None:
    """CRM ids of the contacts/accounts the CRM had before KORE wrote to it (None: no baseline)."""
    if not wh.table_exists(*BASELINE):
        return None
    df = wh.query_df(
        f"select crm_id from {BASELINE[0]}.{BASELINE[1]} where crm_flavor = ? and created_by_kore = 0", [flavor]
    )
    return {str(v) for v in df["crm_id"] if v is not None}


@dataclass
class Plan:
    """The rows to withdraw, or why none are (the guard, the policy, no baseline)."""

    rows: list[PushRow]
    held: str = ""


def start_current(wh: Warehouse) -> None:
    """An empty list of the entity's current keys (:func:`add_current` fills it batch by batch)."""
    wh.replace_table(STATE_SCHEMA, CURRENT_TABLE, pd.DataFrame({"external_key": pd.Series(dtype="string")}))


def add_current(wh: Warehouse, keys: Iterable[str]) -> None:
    wh.append_df(STATE_SCHEMA, CURRENT_TABLE, pd.DataFrame({"external_key": pd.Series(list(keys), dtype="string")}))


def gone_rows(wh: Warehouse, flavor: str, entity: str) -> State:
    """The entity's rows that may be in the CRM (a CRM id, a status of :data:`IN_CRM`) whose external
    key is not among the current ones (:func:`add_current`): the retraction candidates."""
    statuses = ", ".join(f"'{s}'" for s in IN_CRM)
    return entity_state(
        wh, flavor, entity,
        f"crm_id is not null and status in ({statuses}) and external_key not in "
        f"(select external_key from {STATE_SCHEMA}.{CURRENT_TABLE})",
    )  # fmt: skip


def plan(
    entity: str,
    gone_state: State,
    pol: str,
    preexisting: set[str] | None,
    removed: set[str] = frozenset(),  # type: ignore[assignment]
    synced: int = 0,
) -> Plan:
    """The retractions of one entity (see the module docstring) among its candidates
    (:func:`gone_rows`). ``synced``: the guard's count of synced rows (:func:`synced_rows`) as it
    was before this push sent anything."""
    if pol == "keep":
        return Plan([], "policy keep")
    if entity in CRM_OWNED and preexisting is None:
        return Plan([], "no CRM baseline")
    protected = (preexisting or set()) | set(removed)
    gone = [(k, st) for (e, k), st in gone_state.items() if e == entity and str(st["crm_id"]) not in protected]
    if gone and len(gone) >= GUARD_MIN_ROWS and len(gone) > MAX_FRACTION * max(synced, 1):
        return Plan([], f"guard: {len(gone)} of {synced} synced rows would be withdrawn")
    rows = [PushRow(key=k, row_hash=str(st.get("row_hash") or ""), body={}, parents=[], crm_id=str(st["crm_id"]))
            for k, st in sorted(gone, key=lambda g: g[0])]  # fmt: skip
    return Plan(rows)


def synced_rows(wh: Warehouse, flavor: str, entity: str) -> int:
    """The entity's rows in the CRM as synced or retracted: the guard's measure of its size."""
    if not wh.table_exists(STATE_SCHEMA, STATE_TABLE):
        return 0
    return int(
        wh.scalar(
            f"select count(*) from {STATE_SCHEMA}.{STATE_TABLE} where crm_flavor = ? and entity = ? "
            "and crm_id is not null and status in ('synced', 'retracted')",
            [flavor, entity],
        )
    )


def withdraw(client: CrmClient, target: Target, rows: list[PushRow], state: State, flavor: str) -> tuple[int, int]:
    """Deactivate ``rows`` in the CRM by id; their sync state becomes ``retracted`` (or
    ``retract_failed``, tried again next push). Returns (withdrawn, failed)."""
    if not rows:
        return 0, 0
    body = record_state.inactive_fields(flavor)
    send = [PushRow(r.key, r.row_hash, dict(body), [], r.crm_id) for r in rows]
    upserted = client.upsert(target, send)
    now = datetime.now(UTC).replace(tzinfo=None)
    ok = failed = 0
    for r in send:
        o = upserted.outcomes[r.key]
        prev = state[(target.entity, r.key)]
        good = o.status == "synced"
        state[(target.entity, r.key)] = {
            **prev,
            "status": "retracted" if good else "retract_failed",
            "error": None if good else o.error,
            "last_attempt_at": now,
        }
        ok += int(good)
        failed += int(not good)
    return ok, failed


def reactivate(rows: list[PushRow], state: State, entity: str, flavor: str) -> None:
    """A row that was withdrawn and is back (a ticket bought again, an Account Type included again)
    is sent with the flavour's active state."""
    for r in rows:
        if (state.get((entity, r.key)) or {}).get("status") in ("retracted", "retract_failed"):
            r.body = {**r.body, **record_state.active_fields(flavor)}
