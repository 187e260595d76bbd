"""The CRM integrity audit's counts: what KORE must never do to a CRM, as numbers that must be 0.

One definition, used by the warehouse audits (``expectations/audits/integrity.py``: the CRM as the
last pull landed it) and by the sandbox plug-in (``sandbox/checks.py``: the sandbox CRM's own
records right after the push, and the generator's ground truth). Inputs are plain DataFrames with
KORE column names, so both read their own source and count the same way.

- ``duplicated_accounts``: active accounts KORE created whose normalised name (:func:`org_name`) is
  the name of an account the CRM had before KORE (``ops.crm_baseline``, ``created_by_kore = 0``).
- ``moved_contacts``: contacts the CRM had before KORE, under an account when KORE first saw them,
  whose parent account is now another one (or none), unless a person approved the move (a ``kore_dedup.decisions`` row of kind
  :data:`APPROVE_MOVE` naming the contact).
- ``protected_changed``: protected contacts/accounts (``kore_dedup.protected_records``) that KORE
  wrote to and whose writable fields no longer equal the baseline's (``fields_hash``).
- ``retracted_active``: rows the push withdrew (``ops.crm_sync_state`` status ``retracted``) that
  the CRM still shows active.
- ``people_with_several_contacts`` (ground truth only): true people with more than one active
  contact KORE created, and true people with a contact KORE created beside their own CRM contact:
  duplicates KORE made.

Each returns ``(count, examples)``; examples carry keys only (CRM ids, KORE keys).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any

import pandas as pd

APPROVE_MOVE = "approve_move"
# kore_dedup.protected_records (written by ``kore dedup protect``): one row per protected record, its
# CRM id or its KORE key in this column
PROTECTED_KEY = "record_key"
HASHED = ("name", "first_name", "last_name", "email", "phone", "mobile_phone", "street", "city", "state",
          "postal_code", "birth_date")  # fmt: skip
Result = tuple[int, list[dict[str, Any]]]


def org_name(value: Any) -> str:
    """An organisation's name for comparison: accents folded, case, punctuation and spacing ignored,
    ``&`` read as ``and`` ("TryNowDo, Ltd." = "trynowdo ltd")."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    s = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode().lower().replace("&", " and ")
    return " ".join(re.sub(r"[^a-z0-9]+", " ", s).split())


def fields_hash(values: dict[str, Any]) -> str:
    """A hash of the fields KORE may write (text, trimmed; empty and null are the same)."""

    def text(v: Any) -> str:
        return "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v).strip()

    return hashlib.sha1("|".join(text(values.get(k)) for k in HASHED).encode()).hexdigest()


def fields_hashes(df: pd.DataFrame) -> pd.Series:
    """:func:`fields_hash` of every row of ``df`` (columns named by KORE column; a missing column is
    empty), column by column: at a million CRM records the per-row dicts cost seconds."""
    empty = pd.Series("", index=df.index, dtype="string")
    parts = [_text(df[k]) if k in df.columns else empty for k in HASHED]
    joined = parts[0].str.cat(parts[1:], sep="|")
    return pd.Series([hashlib.sha1(v.encode()).hexdigest() for v in joined], index=df.index, dtype=object)


def _text(s: pd.Series) -> pd.Series:
    return s.astype("string").fillna("").str.strip()


def preexisting(baseline: pd.DataFrame, entity: str) -> pd.DataFrame:
    """The baseline rows of ``entity`` the CRM had before KORE."""
    b = baseline[(baseline["entity"] == entity) & (pd.to_numeric(baseline["created_by_kore"]) == 0)]
    return b.assign(crm_id=_text(b["crm_id"]))


def duplicated_accounts(baseline: pd.DataFrame, accounts: pd.DataFrame) -> Result:
    """``accounts``: crm_id, name, kore_external_key, inactive (0/1)."""
    pre = preexisting(baseline, "Account")
    names = {n for n in pre["name"].map(org_name) if n}
    acc = accounts.assign(crm_id=_text(accounts["crm_id"]), key=_text(accounts["kore_external_key"]))
    kore = acc[(acc["key"] != "") & ~acc["crm_id"].isin(set(pre["crm_id"])) & (pd.to_numeric(acc["inactive"]) == 0)]
    dup = kore[kore["name"].map(org_name).isin(names)]
    return len(dup), [{"crm_id": r.crm_id, "kore_external_key": r.key} for r in dup.itertuples()]


def moved_contacts(baseline: pd.DataFrame, contacts: pd.DataFrame, approved: set[str]) -> Result:
    """``contacts``: crm_id, parent_id."""
    pre = preexisting(baseline, "Contact")[["crm_id", "parent_id"]].rename(columns={"parent_id": "first_parent"})
    now = contacts.assign(crm_id=_text(contacts["crm_id"]), parent_id=_text(contacts["parent_id"]))
    both = pre.assign(first_parent=_text(pre["first_parent"])).merge(now[["crm_id", "parent_id"]], on="crm_id")
    had = both["first_parent"] != ""  # a contact without an account may be attached to one: not a move
    moved = both[had & (both["first_parent"] != both["parent_id"]) & ~both["crm_id"].isin(approved)]
    return len(moved), [
        {"crm_id": r.crm_id, "first_parent": r.first_parent or None, "parent_now": r.parent_id or None}
        for r in moved.itertuples()
    ]


def contacts_with_parent(baseline: pd.DataFrame) -> int:
    """Pre-existing contacts that had a parent account when first seen (the moved count's base)."""
    pre = preexisting(baseline, "Contact")
    return int((_text(pre["parent_id"]) != "").sum())


def protected_crm_ids(keys: Any, state: pd.DataFrame | None) -> set[str]:
    """The CRM ids of the protected list's ``keys``: a CRM id stands for itself, a KORE key for the
    CRM id the push recorded for it (``state``: ``ops.crm_sync_state``'s external_key, crm_id)."""
    given = {k for k in _text(pd.Series(list(keys), dtype=object)) if k}
    if state is None or not len(state):
        return given
    known = state.assign(external_key=_text(state["external_key"]), crm_id=_text(state["crm_id"]))
    return given | {i for i in known.loc[known["external_key"].isin(given), "crm_id"] if i}


def protected_changed(baseline: pd.DataFrame, records: pd.DataFrame, protected: set[str], written: set[str]) -> Result:
    """``records``: entity, crm_id, fields_hash (now); ``written``: CRM ids KORE sent a write to."""
    b = baseline.assign(crm_id=_text(baseline["crm_id"]))[["entity", "crm_id", "fields_hash"]]
    now = records.assign(crm_id=_text(records["crm_id"]))[["entity", "crm_id", "fields_hash"]]
    both = b.merge(now, on=["entity", "crm_id"], suffixes=("_first", "_now"))
    hit = both[both["crm_id"].isin(protected) & both["crm_id"].isin(written)]
    bad = hit[hit["fields_hash_first"] != hit["fields_hash_now"]]
    return len(bad), [{"entity": r.entity, "crm_id": r.crm_id} for r in bad.itertuples()]


def retracted_active(retracted: pd.DataFrame, inactive_ids: set[str], present_ids: set[str]) -> Result:
    """``retracted``: entity, external_key, crm_id of the withdrawn rows; a withdrawn row the CRM
    still holds and does not show inactive counts (one deleted since is not active)."""
    r = retracted.assign(crm_id=_text(retracted["crm_id"]))
    bad = r[r["crm_id"].isin(present_ids) & ~r["crm_id"].isin(inactive_ids)]
    return len(bad), [
        {"entity": x.entity, "external_key": x.external_key, "crm_id": x.crm_id} for x in bad.itertuples()
    ]


def people_with_several_contacts(contacts: pd.DataFrame, baseline: pd.DataFrame, mapping: pd.DataFrame,
                                 truth: pd.DataFrame, kore_only: bool = False) -> Result:  # fmt: skip
    """``contacts`` (active): crm_id, kore_external_key; ``mapping``: acct_id, crm_contact_key;
    ``truth``: record_id (``A:<acct>:<name>`` / ``C:<crm id>``), person_id.

    A contact's people: the holders of its Archtics accounts (through the mapping, by KORE key) and,
    for the CRM's own contacts, the ground truth of the contact itself. ``kore_only``: count only the
    contacts KORE created (people with two KORE-made contacts; otherwise also a KORE-made contact
    beside the person's own CRM contact, Gabriel Tremblay's case)."""
    pre_ids = set(preexisting(baseline, "Contact")["crm_id"])
    c = contacts.assign(crm_id=_text(contacts["crm_id"]), key=_text(contacts["kore_external_key"]))
    t = truth.assign(record_id=_text(truth["record_id"]))
    arch = t[t["record_id"].str.startswith("A:")]
    parts = arch["record_id"].str.split(":")
    arch = arch.assign(acct_id=parts.str[1], name_id=pd.to_numeric(parts.str[2], errors="coerce"))
    # an account's person: its first name row (the primary; a spouse's or assistant's name is not
    # the account holder)
    arch = arch.sort_values(["acct_id", "name_id"]).drop_duplicates("acct_id")[["acct_id", "person_id"]]
    m = mapping.assign(acct_id=_text(mapping["acct_id"]), key=_text(mapping["crm_contact_key"]))
    via_accounts = c.merge(m[["acct_id", "key"]], on="key").merge(arch, on="acct_id")[["crm_id", "person_id"]]
    crm_own = t[t["record_id"].str.startswith("C:")].assign(crm_id=lambda d: d["record_id"].str[2:])
    via_crm = c[["crm_id"]].merge(crm_own[["crm_id", "person_id"]], on="crm_id")
    links = pd.concat([via_accounts, via_crm]).drop_duplicates()
    links["kore_created"] = ~links["crm_id"].isin(pre_ids)
    if kore_only:
        links = links[links["kore_created"]]
    per = links.groupby("person_id").agg(contacts=("crm_id", "nunique"), kore=("kore_created", "any"))
    bad = per[(per["contacts"] > 1) & per["kore"]]
    return len(bad), [{"person_id": p, "contacts": int(n)} for p, n in bad["contacts"].items()]
