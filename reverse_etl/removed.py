"""Contacts and accounts deleted, merged or deactivated in the CRM: never re-created, sent to review.

The CRM pull lists them in ``ops.crm_removed_records`` (``dlt_pipelines/crm/baseline.py``). A push
row that is such a record (by CRM id, or by the KORE key it carried) is *withheld*: not sent, so an
upsert by KORE key cannot bring a contact a salesperson deleted back to life, and its sync state
loses its CRM id, so the rows that reference it (ticket purchases, ...) wait instead of pointing at
a record that is gone. Its Archtics accounts go to ``ops.crm_review_requests`` (one row per
account, the current set per flavour and entity), the table the dedup step reads into its review
queue: a person decides whether they belong to the record the CRM merged them into, to another
contact, or to a new one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd

from kore.contracts.record_state import REMOVED_RECORDS, REVIEW_REQUEST_COLUMNS, REVIEW_REQUESTS
from kore.warehouse import Warehouse
from reverse_etl.payloads import PushRow
from reverse_etl.sync_state import State

REMOVED = REMOVED_RECORDS
REVIEW = REVIEW_REQUESTS
REVIEW_COLUMNS = list(REVIEW_REQUEST_COLUMNS)


@dataclass
class Removed:
    """CRM ids and KORE keys of the flavour's removed records, with the reason of each id."""

    ids: set[str] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)
    reason: dict[str, str] = field(default_factory=dict)  # crm id or key -> deleted | inactive
    flavor: str = ""


def load_removed(wh: Warehouse, flavor: str) -> Removed:
    out = Removed(flavor=flavor)
    if not wh.table_exists(*REMOVED):
        return out
    for cid, key, reason in wh.query_rows(
        f"select crm_id, kore_external_key, reason from {REMOVED[0]}.{REMOVED[1]} where crm_flavor = ?", [flavor]
    ):
        out.ids.add(str(cid))
        out.reason[str(cid)] = str(reason)
        if key:
            out.keys.add(str(key))
            out.reason[str(key)] = str(reason)
    return out


def withhold(entity: str, rows: list[PushRow], state: State, removed: Removed) -> tuple[list[PushRow], list[PushRow]]:
    """(rows to plan, rows withheld because the CRM removed their record); the withheld rows' sync
    state becomes ``removed_in_crm`` without a CRM id."""
    if entity not in ("Account", "Contact") or not (removed.ids or removed.keys):
        return rows, []
    kept, held = [], []
    for r in rows:
        prev = state.get((entity, r.key)) or {}
        ids = {str(x) for x in (r.crm_id, prev.get("crm_id")) if x}
        hit = (ids & removed.ids) or ({r.key} & removed.keys)
        if not hit:
            kept.append(r)
            continue
        held.append(r)
        why = removed.reason.get(next(iter(hit)), "removed")
        state[(entity, r.key)] = {
            "crm_flavor": prev.get("crm_flavor") or removed.flavor,
            "entity": entity,
            "external_key": r.key,
            "crm_id": None,
            "row_hash": r.row_hash,
            "status": "removed_in_crm",
            "error": f"{why} in the CRM: withheld, Archtics accounts sent to review",
            "attempts": int(prev.get("attempts") or 0),
            "last_attempt_at": prev.get("last_attempt_at"),
        }
    return kept, held


def write_review_requests(wh: Warehouse, flavor: str, entity: str, held: list[PushRow]) -> int:
    """Replace the flavour's review requests of ``entity`` with one row per Archtics account of the
    withheld rows (the account_contact_map's accounts of a contact; none known: one row, no account)."""
    accts: dict[str, list[str]] = {}
    if entity == "Contact" and wh.table_exists("kore_dedup", "account_contact_map"):
        for acct, key in wh.query_rows("select acct_id, crm_contact_key from kore_dedup.account_contact_map"):
            accts.setdefault(str(key), []).append(str(acct))
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        [flavor, entity, r.key, r.crm_id, acct, "removed_in_crm", now]
        for r in held
        for acct in (accts.get(r.key) or [None])
    ]
    df = pd.DataFrame(rows, columns=REVIEW_COLUMNS)
    for c in REVIEW_COLUMNS[:-1]:
        df[c] = df[c].astype("string")
    df["requested_at"] = pd.to_datetime(df["requested_at"]).astype("datetime64[ns]")
    if wh.table_exists(*REVIEW):
        other = wh.query_df(
            f"select * from {REVIEW[0]}.{REVIEW[1]} where not (crm_flavor = ? and entity = ?)", [flavor, entity]
        )
        df = pd.concat([other[REVIEW_COLUMNS].astype({c: "string" for c in REVIEW_COLUMNS[:-1]}), df])
    wh.replace_table(*REVIEW, df)
    return len(rows)
