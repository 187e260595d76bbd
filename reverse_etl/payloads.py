"""Push payloads: warehouse rows (``kore.kore_*base``, ``kore_dedup.golden_*``) as CRM upsert bodies.

A :class:`PushRow` is one row as the CRM will receive it: the KORE external key, the body in the
flavour's field names (the client says how they are spelled, from ``kore.contracts.crm_names``),
the parents that must be in the CRM before it, and the ``row_hash`` that tells whether it changed
since the last successful push. :func:`plan_rows` decides what to send from that hash and the sync
state.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from crm_clients import CrmClient
from kore.contracts import crm_names, field_limits
from kore.registry import Entity


@dataclass
class PushRow:
    key: str
    row_hash: str
    body: dict[str, Any]  # flavour field names; lookups already in the flavour's reference syntax
    parents: list[tuple[str, str]]  # (entity, external key) that must exist in the CRM first
    crm_id: str | None = None  # a preexisting CRM record this row updates (contacts matched by dedup)


def jsonable(v: Any) -> Any:
    """A warehouse value as JSON (NaN/NaT → null, timestamps → ISO text, numpy → Python)."""
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if v is pd.NaT:
        return None
    if isinstance(v, datetime | pd.Timestamp):
        return v.isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        try:
            return v.item()
        except (ValueError, AttributeError):
            return str(v)
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """A warehouse table's rows as dicts of JSON values (:func:`jsonable` of every value)."""
    cols = list(df.columns)
    values = [_json_column(df[c]) for c in cols]
    return [dict(zip(cols, row, strict=True)) for row in zip(*values, strict=True)]


def _json_column(s: pd.Series) -> list[Any]:
    """:func:`jsonable` of a column's values, a whole column at a time where its type allows (numbers,
    text, flags: each value one by one took most of the time of building a million push rows);
    timestamps and mixed object columns value by value. Text read from DuckDB comes as an object
    column of strings and nulls: a whole column too."""
    kind = s.dtype.kind
    whole = kind in "iufb" or isinstance(s.dtype, pd.StringDtype)
    if not whole and kind == "O":
        whole = pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty")
    if whole:
        return s.astype(object).where(s.notna(), None).tolist()
    if isinstance(s.dtype, np.dtype) and kind == "M":  # tz-naive timestamps (aware ones value by value)
        iso = _iso_column(s)
        if iso is not None:
            return iso
    return [jsonable(v) for v in s.tolist()]


def _iso_column(s: pd.Series) -> list[Any] | None:
    """``isoformat()`` of a tz-naive timestamp column, whole (seconds, with microseconds where a value has
    them, as ``isoformat`` writes them); None when a value has nanoseconds (value by value then)."""
    at = s.to_numpy(dtype="datetime64[ns]")
    null = np.isnat(at)
    frac = np.where(null, 0, at.astype("int64") % 1_000_000_000)
    if (frac % 1000).any():
        return None
    text = np.where(frac == 0, np.datetime_as_string(at, unit="s"), np.datetime_as_string(at, unit="us"))
    return pd.Series(text, dtype=object).where(~null, None).tolist()


def payload_hash(body: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def kore_row(entity: Entity, row: dict[str, Any], client: CrmClient) -> PushRow:
    """A kore_*base row as the flavour's upsert body (see ``kore.contracts.crm_names`` for the rules)."""
    lks = crm_names.lookups(entity)
    key = str(row["external_key"])
    body = client.kore_fields(key, row.get("name"))
    parents: list[tuple[str, str]] = []
    for col, field in _attribute_fields(client, entity, tuple(row)):
        body[field] = row[col]
    for lk in lks:
        v = row.get(lk.column)
        if v in (None, ""):
            continue
        v = str(v)
        if lk.by_external_key:
            parents.append((lk.target, v))
        field, value = client.lookup_field(lk, v)
        body[field] = value
    h = row.get("row_hash")
    return PushRow(key=key, row_hash=str(h) if h not in (None, "") else payload_hash(body), body=body, parents=parents)


@functools.lru_cache(maxsize=512)
def _attribute_fields(client: CrmClient, entity: Entity, columns: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(column, CRM field) of a KORE table's attribute columns, in column order: worked out once per
    table, not once per row (a million rows of ticket purchases)."""
    lk_cols = {lk.column for lk in crm_names.lookups(entity)}
    skip = {"external_key", "name", *lk_cols, *crm_names.NOT_SENT}
    return tuple((c, client.attribute_field(c)) for c in columns if c not in skip and not c.startswith("_"))


# golden_contacts / golden_accounts column -> crm_field_map kore_column: the field-limit contract's
CONTACT_COLUMNS, ACCOUNT_COLUMNS = field_limits.CONTACT_COLUMNS, field_limits.ACCOUNT_COLUMNS


def _crm_owned_row(
    entity: str, values: dict[str, Any], key: str, crm_id: str | None, client: CrmClient, row_hash: str | None
) -> PushRow:
    """A contact/account from dedup as the flavour's body (standard fields + the KORE external key)."""
    spec = crm_names.field_spec(entity)
    fmap = spec.kore_to_field(client.flavor)
    body: dict[str, Any] = {fmap[k]: v for k, v in values.items() if k in fmap and fmap[k]}
    body[spec.external_key_field(client.flavor) or ""] = key
    parents: list[tuple[str, str]] = []
    account_key = values.get("account_key")
    if entity == "Contact" and account_key:
        parents.append(("Account", str(account_key)))
        field, value = client.account_link(account_key)
        body[field] = value
    # the hash is of the content only: the CRM id a created row gets back (and the pull then hands
    # to dedup) is addressing, not content; ``plan_rows`` compares ids separately
    rh = row_hash if row_hash else payload_hash(body)
    return PushRow(key=key, row_hash=rh, body=body, parents=parents, crm_id=crm_id)


def _display(values: dict[str, Any]) -> dict[str, Any]:
    """Dedup keeps phones as E.164 digits; the CRM shows them with the leading ``+``."""
    return {f: field_limits.as_sent(f, v) for f, v in values.items()}


def _values(row: dict[str, Any], columns: dict[str, str]) -> dict[str, Any]:
    return _display({columns[c]: v for c, v in row.items() if c in columns and v is not None})


def _flag(v: Any, default: int) -> int:
    """A 0/1 column of a dedup table (absent in older tables: ``default``)."""
    if v in (None, ""):
        return default
    return int(float(v))


def locked(row: dict[str, Any], id_column: str, key_column: str, protected: set[str]) -> bool:
    """A protected record (dedup's flag, or on the protected list since the last dedup run)."""
    keys = {str(row.get(id_column) or ""), str(row.get(key_column) or "")} - {""}
    return _flag(row.get("is_protected"), 0) == 1 or bool(keys & protected)


def contact_rows(golden: list[dict[str, Any]], client: CrmClient, protected: set[str] | None = None) -> list[PushRow]:
    """Golden contacts as upsert bodies. A protected contact gets KORE's key only (its fields are never
    updated); a contact the CRM had (``link_account`` 0) keeps its parent: no account link is sent."""
    out = []
    for g in golden:
        if locked(g, "crm_contact_id", "contact_key", protected or set()):
            values: dict[str, Any] = {}
        else:
            values = _values(g, CONTACT_COLUMNS)
            if _flag(g.get("link_account"), 1) == 1:
                values["account_key"] = g.get("account_key")
        crm_id = g.get("crm_contact_id") or None
        out.append(_crm_owned_row("Contact", values, str(g["contact_key"]), crm_id, client, g.get("row_hash")))
    return out


def _account_name(g: dict[str, Any]) -> str | None:
    """Dedup's ``account_rule``: a company account is named after the company, a household after
    the family name, a person account after the person."""
    rule = g.get("account_rule")
    person = " ".join(str(x) for x in (g.get("first_name"), g.get("last_name")) if x)
    if rule == "company" or (rule is None and g.get("company")):
        name = g.get("company") or g.get("last_name") or person
    elif rule == "household":
        name = f"{g.get('last_name')} Household"
    else:
        name = person or g.get("company")
    return str(name)[:160] if name else None


def account_rows(accounts: list[dict[str, Any]], client: CrmClient, protected: set[str] | None = None) -> list[PushRow]:
    """Accounts from ``kore_dedup.golden_accounts``: a reused CRM account is updated by its CRM id;
    one KORE only adopts (``update_fields`` 0) or a protected one gets KORE's key only."""
    out = []
    for a in accounts:
        key_only = _flag(a.get("update_fields"), 1) == 0 or locked(
            a, "crm_account_id", "account_key", protected or set()
        )
        values = {} if key_only else _values(a, ACCOUNT_COLUMNS)
        crm_id = a.get("crm_account_id") or None
        out.append(_crm_owned_row("Account", values, str(a["account_key"]), crm_id, client, a.get("row_hash")))
    return out


def derived_account_rows(golden: list[dict[str, Any]], client: CrmClient) -> list[PushRow]:
    """Accounts derived from golden contacts where dedup wrote no ``golden_accounts`` (an older
    state): one per ``account_key``, named by :func:`_account_name`."""
    out: list[PushRow] = []
    seen: set[str] = set()
    for g in sorted(golden, key=lambda r: (str(r.get("account_key")), str(r.get("contact_key")))):
        key = g.get("account_key")
        if not key or key in seen:
            continue
        seen.add(str(key))
        values = _values(g, ACCOUNT_COLUMNS)
        values["name"] = _account_name(g)
        out.append(_crm_owned_row("Account", values, str(key), None, client, None))
    return out


def _same_record(r: PushRow, st: dict[str, Any]) -> bool:
    """The row still points at the record it was synced to: a row dedup newly matched to another
    CRM record (its ``crm_id`` differs from the synced one) must be sent to that record."""
    return not r.crm_id or not st.get("crm_id") or str(st["crm_id"]).lower() == str(r.crm_id).lower()


def plan_rows(
    rows: list[PushRow], state: dict[tuple[str, str], dict], entity: str, dry_run_available: set[tuple[str, str]]
) -> tuple[list[PushRow], list[PushRow], list[tuple[PushRow, str]]]:
    """Split rows into (to send, unchanged, waiting for a parent with the reason)."""
    send, unchanged, waiting = [], [], []
    for r in rows:
        st = state.get((entity, r.key))
        if st and st.get("status") == "synced" and st.get("row_hash") == r.row_hash and _same_record(r, st):
            unchanged.append(r)
            continue
        missing = [p for p in r.parents if not (state.get(p) or {}).get("crm_id") and p not in dry_run_available]
        if missing:
            waiting.append((r, f"parent {missing[0][0]} {missing[0][1]} is not in the CRM"))
        else:
            send.append(r)
    return send, unchanged, waiting
