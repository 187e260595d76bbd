"""What the CRM had before KORE, and what it no longer has: ``ops.crm_baseline`` and
``ops.crm_removed_records``, refreshed by every CRM pull.

Why: an incremental pull (rows changed since a cursor) never sees a deleted record, and a record
merged into another (Dynamics deactivates the losing record, Salesforce deletes it) would stay in
``raw_crm`` as if nothing happened. Dedup would keep matching Archtics accounts to it and the push
would create it again under its KORE key: a contact a salesperson deleted would silently come back.

- ``ops.crm_baseline``: one row per contact/account the first time a pull sees it: its parent
  account, name, KORE key, a hash of the fields KORE may write, and ``created_by_kore`` (1 when it
  appeared after KORE's first push carrying a KORE key; 0 = the CRM's own record). Never updated:
  it is what the integrity audit compares with (parents moved, protected fields changed) and what
  the retractions leave alone.
- ``ops.crm_removed_records``: contacts/accounts landed in ``raw_crm`` that the CRM no longer holds
  (``deleted``) or holds inactive (``inactive``: Dynamics ``statecode`` 1, which is also how a merged
  record ends), found by listing the ids the CRM has now (one id-only query per entity). The push
  withholds them and asks dedup for a review of their Archtics accounts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd

from crm_clients import CrmClient
from kore.contracts import crm_names, record_state
from kore.contracts.integrity import HASHED, fields_hashes
from kore.warehouse import Warehouse

ENTITIES = ("Account", "Contact")
BASELINE, REMOVED = "crm_baseline", record_state.REMOVED_RECORDS[1]
BASELINE_COLUMNS = ["crm_flavor", "entity", "crm_id", "parent_id", "name", "kore_external_key", "fields_hash",
                    "created_by_kore", "first_seen_at"]  # fmt: skip
REMOVED_COLUMNS = ["crm_flavor", "entity", "crm_id", "kore_external_key", "reason", "detected_at"]


def _typed(df: pd.DataFrame, ints: tuple[str, ...] = (), times: tuple[str, ...] = ()) -> pd.DataFrame:
    """Explicit column types, so a first batch whose column is all null still creates a text column."""
    for c in df.columns:
        if c in ints:
            df[c] = pd.to_numeric(df[c]).astype("int64")
        elif c in times:
            df[c] = pd.to_datetime(df[c]).astype("datetime64[ns]")
        else:
            df[c] = df[c].astype("string")
    return df


def _col(flavor: str, entity: str, kore_column: str) -> str | None:
    f = crm_names.field_spec(entity).kore_to_field(flavor).get(kore_column)
    return crm_names.raw_column(f) if f else None


def _raw(wh: Warehouse, flavor: str, entity: str) -> pd.DataFrame | None:
    """The raw rows of a contact/account table, named by KORE column (None when not landed)."""
    table = f"{flavor}_{crm_names.entity_snake(entity)}"
    if not wh.table_exists("raw_crm", table):
        return None
    cols = {k: _col(flavor, entity, k) for k in ("crm_id", "account_id", "kore_external_key", *HASHED)}
    have = set(wh.query_df(f"select * from raw_crm.{table} limit 0").columns)
    sel = ", ".join(f"{c} as {k}" for k, c in cols.items() if c and c in have)
    return wh.query_df(f"select {sel} from raw_crm.{table}")


def update_baseline(wh: Warehouse, flavor: str, kore_has_pushed: bool) -> int:
    """Add the contacts/accounts seen for the first time; returns how many were added."""
    now = datetime.now(UTC).replace(tzinfo=None)
    known: set[tuple[str, str]] = set()
    if wh.table_exists("ops", BASELINE):
        known = {(e, c) for e, c in wh.query_rows(f"select entity, crm_id from ops.{BASELINE} where crm_flavor = ?",
                                                  [flavor])}  # fmt: skip
    frames = []
    for entity in ENTITIES:
        df = _raw(wh, flavor, entity)
        if df is None:
            continue
        df = df[df["crm_id"].notna()]
        cid = df["crm_id"].astype(str)
        df = df[~cid.isin({c for e, c in known if e == entity})]
        key = _key(df.get("kore_external_key"), df.index)
        full = _text(df, "first_name").str.cat(_text(df, "last_name"), sep=" ").str.strip()
        # an account's own name (null stays null); a contact's, or an empty name: first and last
        name = df["name"].astype("string") if "name" in df.columns else pd.Series("", index=df.index, dtype="string")
        frames.append(pd.DataFrame({
            "crm_flavor": flavor, "entity": entity, "crm_id": df["crm_id"].astype(str),
            "parent_id": _key(df.get("account_id"), df.index), "name": name.mask((name == "").fillna(False), full),
            "kore_external_key": key, "fields_hash": fields_hashes(df),
            "created_by_kore": key.notna().astype("int64") if kore_has_pushed else 0, "first_seen_at": now,
        }, index=df.index))  # fmt: skip
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=BASELINE_COLUMNS)
    if len(rows):
        wh.ensure_schema("ops")
        df = _typed(rows[BASELINE_COLUMNS].copy(), ("created_by_kore",), ("first_seen_at",))
        wh.append_df("ops", BASELINE, df)
    return len(rows)


def _text(df: pd.DataFrame, column: str) -> pd.Series:
    """A text column with null as empty (an absent column is empty)."""
    if column not in df.columns:
        return pd.Series("", index=df.index, dtype="string")
    return df[column].astype("string").fillna("")


def _key(values: pd.Series | None, index: pd.Index) -> pd.Series:
    """Ids/keys as text; null and empty are null (an absent column is all null)."""
    if values is None:
        return pd.Series(pd.NA, index=index, dtype="string")
    text = values.astype("string")
    return text.mask(text.fillna("") == "")


def live_ids(client: CrmClient, flavor: str, entity: str) -> tuple[set[str], set[str]]:
    """(ids the CRM holds now, ids of those that are inactive) for a contact/account table."""
    spec = crm_names.field_spec(entity)
    name = crm_names.crm_entity_name(entity, flavor)
    id_field, modified = spec.id_field(flavor), spec.modified_field(flavor)
    fields = [id_field, modified] + (list(record_state.state_fields(flavor)) if flavor == "dynamics" else [])
    ids, inactive = set(), set()
    for page in client.iter_pages(name, fields, id_field, modified, client.epoch, client.page_size):
        for r in page:
            ids.add(str(r[id_field]))
            if record_state.is_inactive(flavor, r):
                inactive.add(str(r[id_field]))
    return ids, inactive


def update_removed(wh: Warehouse, client: CrmClient, flavor: str) -> dict[str, int]:
    """Replace the flavour's removed records (a record first detected keeps its detection time);
    returns per entity the ids listed and the records found removed.

    Cost: one id-only read of every contact and account per pull (the incremental read cannot see a
    deletion). The vendors' incremental alternatives (Dataverse change tracking's ``@removed``
    entries, Salesforce's ``sobjects/<type>/deleted`` endpoint) would make it proportional to what
    was deleted; the sandbox CRM does not offer them yet."""
    now = datetime.now(UTC).replace(tzinfo=None)
    before: dict[tuple[str, str], Any] = {}
    if wh.table_exists("ops", REMOVED):
        before = {(e, c): t for e, c, t in wh.query_rows(
            f"select entity, crm_id, detected_at from ops.{REMOVED} where crm_flavor = ?", [flavor])}  # fmt: skip
    rows, counts = [], {}
    for entity in ENTITIES:
        df = _raw(wh, flavor, entity)
        if df is None:
            continue
        ids, inactive = live_ids(client, flavor, entity)
        counts[f"{entity}_ids_listed"] = len(ids)
        cid = df["crm_id"].astype(str)
        gone, off = ~cid.isin(ids), cid.isin(inactive)
        hit = gone | off
        keys = _key(df.get("kore_external_key"), df.index)[hit]
        for c, key, deleted in zip(cid[hit], keys, gone[hit], strict=True):
            key = None if pd.isna(key) else str(key)
            rows.append([flavor, entity, c, key, "deleted" if deleted else "inactive", before.get((entity, c), now)])
        counts[f"{entity}_removed"] = int(hit.sum())
    df = _typed(pd.DataFrame(rows, columns=REMOVED_COLUMNS), times=("detected_at",))
    if wh.table_exists("ops", REMOVED):  # the other flavour's rows stay
        other = wh.query_df(f"select * from ops.{REMOVED} where crm_flavor <> ?", [flavor])
        df = _typed(pd.concat([other[REMOVED_COLUMNS], df]), times=("detected_at",)) if len(other) else df
    wh.replace_table("ops", REMOVED, df)
    return counts
