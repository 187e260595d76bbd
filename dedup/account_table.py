"""The tables the push and people read after a run: golden accounts, push holds, the account review.

``golden_accounts``: one row per CRM account KORE manages (referenced by a contact the push sends):
- a CRM account KORE reuses (``crm_account_id``): matched (``crm_match``) -> its name stays the CRM's;
  every other field keeps the CRM's value unless the CRM leaves it empty (then the Archtics value
  fills it) or the organisation's own Archtics record (a company record) changed after the CRM
  account did; ``<field>_source`` says which. A parent KORE only adopts (``crm_parent``: the parent
  of a pre-existing contact) and a protected account get KORE's key and nothing else
  (``update_fields`` = 0).
- a KORE account (``new``, or ``identity``: one KORE created earlier) -> named and filled from its
  first contact, as before (company / "<last> Household" / person name).

``push_holds``: contacts the push must not create yet: a new contact whose record is a *possible*
match of a CRM contact's (``review_queue``, reason ``review``), or with exactly the same first and last name as a CRM
contact it did not match (reason ``same_name``), waits for a person (``force-match`` merges it,
``forbid-match`` releases it), so an outdated Archtics account (the seed's Gabriel at TryNowDo)
never becomes a second contact of a person the CRM has.

``account_review``: possible account matches (``account_match``) and pre-existing contacts dedup
would put under another company (``contact_move``), with the evidence, for ``kore dedup``.
"""

from __future__ import annotations

import hashlib
import json
from json.encoder import encode_basestring_ascii  # what json.dumps writes a str as (ensure_ascii)

import numpy as np
import pandas as pd

from dedup.arrays import in_ids

FIELDS = ("phone", "street", "city", "state", "postal_code")
GOLDEN_OF = {"phone": "phone", "street": "street", "city": "city", "state": "state", "postal_code": "zip5"}


def _hash(row: dict) -> str:
    """The row hash of one row dict (the definition :func:`row_hashes` computes column-wise)."""
    return hashlib.sha1(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()


def row_hashes(frame: pd.DataFrame) -> list[str]:
    """:func:`_hash` of each row of ``frame`` as ``to_dict("records")`` gives it, computed column by
    column: each column's distinct values JSON-encoded once, the rows' texts joined in key order,
    then hashed. Why: the row-dict loop was ~9 s of a million-account run; the hashes must not change
    (a changed hash re-sends every account), so a test holds this to :func:`_hash` on odd values."""
    parts = [_json_texts(frame[k], json.dumps(k) + ": ") for k in sorted(frame.columns)]
    return [hashlib.sha1(("{" + ", ".join(t) + "}").encode()).hexdigest() for t in zip(*parts, strict=True)]


def _json_texts(column: pd.Series, prefix: str) -> list[str]:
    """``prefix`` + each value as ``json.dumps(value, default=str)`` writes the Python value
    ``to_dict`` gives. Integer and text columns (the usual cases) encode each distinct value once;
    anything else (floats, booleans, mixed objects: 1, 1.0 and True are equal to pandas but written
    differently) value by value. Missing values are written one by one too: None and NaN are both
    missing to pandas, but JSON has ``null`` and ``NaN``."""
    if pd.api.types.is_integer_dtype(column.dtype) and isinstance(column.dtype, np.dtype):
        codes, uniques = pd.factorize(column.to_numpy())
        return np.array([prefix + json.dumps(int(u)) for u in uniques], dtype=object)[codes].tolist()
    values = column.tolist()
    if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        return [prefix + json.dumps(v, default=str) for v in values]
    codes, uniques = pd.factorize(pd.Series(values, dtype=object))
    texts = np.array([prefix + encode_basestring_ascii(u) for u in uniques] + [""], dtype=object)[codes]
    missing = np.flatnonzero(codes < 0)
    texts[missing] = [prefix + _missing_text(values[i]) for i in missing]
    return texts.tolist()


def _missing_text(value: object) -> str:
    if value is None:
        return "null"
    if type(value) is float and value != value:
        return "NaN"
    return json.dumps(value, default=str)


def push_holds(pairs: pd.DataFrame, stamp: str, apart: set[tuple[str, str]] | None = None) -> pd.DataFrame:
    """New contacts (no CRM id) in a pair with a CRM contact's record (``pairs``: possible matches,
    then same-name pairs, a ``reason`` column each): held until a person decides. A pair of two new
    contacts holds its right side only when its reason is ``same_email``
    (``dedup.hold_pairs.named_pairs``): one of the two is created; a possible match of two
    new contacts stays in the review queue without a hold (most are namesakes). ``apart``: record
    pairs a person said are different people (forbid/reject): they release the hold."""
    cols = ["contact_key", "reason", "record_id", "partner_record_id", "partner_crm_contact_id", "held_at"]
    if not len(pairs):
        return pd.DataFrame(columns=cols)
    decided = apart or set()
    out = []
    both_new = pairs["crm_l"].isna() & pairs["crm_r"].isna() & (pairs["reason"] == "same_email")
    for side, other in (("l", "r"), ("r", "l")):
        held = pairs[f"crm_{side}"].isna() & pairs[f"crm_{other}"].notna()
        new = pairs[held | both_new] if side == "r" else pairs[held]
        if decided:  # most runs have no such verdicts: no Python tuple per pair (~200k at a million)
            free = [
                tuple(sorted((str(a), str(b)))) in decided
                for a, b in zip(new[f"record_id_{side}"], new[f"record_id_{other}"], strict=True)
            ]
            new = new[~pd.Series(free, index=new.index, dtype=bool)]
        out.append(
            pd.DataFrame(
                {
                    "contact_key": new[f"key_{side}"].to_numpy(),
                    "reason": new["reason"].to_numpy(),
                    "record_id": new[f"record_id_{side}"].to_numpy(),
                    "partner_record_id": new[f"record_id_{other}"].to_numpy(),
                    "partner_crm_contact_id": new[f"crm_{other}"].to_numpy(),
                    "held_at": stamp,
                }
            )
        )
    return pd.concat(out, ignore_index=True).drop_duplicates("contact_key").reset_index(drop=True)


NAME_PARTS = ("account_rule", "first_name", "last_name", "company")


def _kore_name(rule: object, first: object, last: object, company: object) -> str | None:
    """The name KORE gives an account it names itself (company / "<last> Household" / person)."""
    person = " ".join(str(x) for x in (first, last) if isinstance(x, str) and x)
    if rule == "company":
        name = company if isinstance(company, str) else last
    elif rule == "household":
        name = f"{last} Household"
    else:
        name = person or company
    return str(name)[:160] if isinstance(name, str) and name else None


def _objects(frame: pd.DataFrame, column: str) -> pd.Series:
    """``frame[column]`` as Python objects, or Nones where the frame has no such column."""
    return frame[column].astype(object) if column in frame else pd.Series(None, index=frame.index, dtype=object)


def _crm_fields(out: pd.DataFrame, g: pd.DataFrame, crm: pd.DataFrame, crm_id: pd.Series, rows: np.ndarray) -> None:
    """Reused CRM accounts' fields (``rows`` of ``out``, aligned with the golden rows ``g``): the CRM's,
    filled (or, for a newer company record, replaced) from Archtics, with their source."""
    ids = crm_id[rows]
    them = crm.reindex(ids.to_numpy())
    mine = g.loc[rows]
    theirs = lambda c: _objects(them, c).to_numpy()  # noqa: E731
    crm_src = np.array([f"crm:{i}" for i in ids], dtype=object)
    arch_src = np.array([f"archtics:{a}" for a in _objects(mine, "primary_acct_id")], dtype=object)
    updated = pd.to_datetime(_objects(mine, "primary_updated_at"), errors="coerce").to_numpy()
    modified = pd.to_datetime(pd.Series(theirs("modified_at")), errors="coerce").to_numpy()
    newer = (_objects(mine, "name_type").to_numpy() == "C") & pd.notna(updated) & (updated > modified)
    out.loc[rows, "name"], out.loc[rows, "name_source"] = theirs("name"), crm_src
    for f in FIELDS:
        m, t = _objects(mine, GOLDEN_OF[f]).to_numpy(), theirs(f)
        use_arch = pd.notna(m) & (pd.isna(t) | newer)
        out.loc[rows, f] = np.where(use_arch, m, t)
        out.loc[rows, f + "_source"] = np.where(use_arch, arch_src, np.where(pd.notna(t), crm_src, None))
    aid = theirs("archtics_account_id")
    out.loc[rows, "archtics_account_id"] = np.where(pd.notna(aid), aid, _objects(mine, "primary_acct_id").to_numpy())


# what golden_accounts reads of kore_dedup.golden_contacts (23 of its 39 columns: a run reads only these)
GOLDEN_COLUMNS = ", ".join(
    dict.fromkeys(
        [
            "account_key", "account_match", "contact_key", "crm_account_id", "account_score", "account_evidence",
            *NAME_PARTS, *(GOLDEN_OF[f] for f in FIELDS), *(GOLDEN_OF[f] + "_source" for f in FIELDS),
            "primary_acct_id", "primary_updated_at", "name_type",
        ]
    )
)  # fmt: skip


def golden_accounts(
    golden: pd.DataFrame, crm_accounts: pd.DataFrame, held: set[str], protected: set[str]
) -> pd.DataFrame:
    """One row per account key referenced by a contact the push sends (module docstring).

    Built column-wise: the accounts KORE names itself from the golden contacts, then the CRM accounts
    KORE reuses (``_crm_fields``). A loop over every account was the largest cost of a
    million-account run."""
    # which contact speaks for each account: sorted on the three key columns only (the golden table
    # is wide), then those rows taken
    keys = golden.loc[
        golden["account_key"].notna().to_numpy(dtype=bool) & ~in_ids(golden["contact_key"], held),
        ["account_key", "account_match", "contact_key"],
    ]
    keys = keys.assign(_reuse=keys["account_match"].isin(["crm_match"]).astype(int))
    keys = keys.sort_values(["account_key", "_reuse", "contact_key"], ascending=[True, False, True])
    first = golden.loc[keys.drop_duplicates("account_key").index].reset_index(drop=True)
    if not len(first):
        return pd.DataFrame()
    crm = crm_accounts.drop_duplicates("crm_id").set_index("crm_id") if len(crm_accounts) else pd.DataFrame()
    col = lambda c: _objects(first, c)  # noqa: E731
    match = col("account_match")
    crm_id = col("crm_account_id").where(match.isin(["crm_match", "crm_parent"]), None)
    locked = pd.Series(
        in_ids(first["account_key"], protected) | (crm_id.notna().to_numpy(dtype=bool) & in_ids(crm_id, protected)),
        index=first.index,
    )
    update = (match != "crm_parent") & ~locked
    out = pd.DataFrame(
        {
            "account_key": col("account_key"),
            "account_rule": col("account_rule"),
            "account_match": match,
            "crm_account_id": crm_id,
            "account_score": first["account_score"] if "account_score" in first else None,
            "account_evidence": col("account_evidence"),
            "is_protected": locked.astype(int),
            "update_fields": update.astype(int),
            "name": [_kore_name(*parts) for parts in zip(*(col(c).tolist() for c in NAME_PARTS), strict=True)],
            "name_source": "kore",
        }
    )
    for f in FIELDS:
        out[f], out[f + "_source"] = col(GOLDEN_OF[f]), col(GOLDEN_OF[f] + "_source")
    out["archtics_account_id"] = col("primary_acct_id")
    reused = (crm_id.notna() & crm_id.isin(crm.index)).to_numpy() if len(crm) else np.zeros(len(first), bool)
    if reused.any():
        _crm_fields(out, first, crm, crm_id, reused)
    out.loc[~update.to_numpy(), [*FIELDS, "name", "archtics_account_id"]] = None
    # each column typed as a frame built from row dicts types it (the row hash reads those values)
    out = out.apply(lambda s: pd.Series(s.tolist(), index=s.index, name=s.name) if s.dtype == object else s)
    # what the CRM receives only: why an account matched (identity on the round trip) changes nothing
    sent = ["account_key", "crm_account_id", "name", *FIELDS, "archtics_account_id", "update_fields", "is_protected"]
    out["row_hash"] = row_hashes(out[sent])
    return out


# what account_review reads of kore_dedup.golden_contacts (its own filters, so a run reads those rows only)
REVIEW_COLUMNS = ("contact_key, crm_contact_id, crm_account_id, proposed_account_key, account_score, "
                  "account_evidence, account_match, crm_owned, account_rule")  # fmt: skip
REVIEW_FILTER = (
    "(account_match = 'review' and crm_owned = 0) "
    "or (crm_owned = 1 and proposed_account_key is not null and account_rule = 'company')"
)
REVIEW_ROWS = f"where {REVIEW_FILTER}"


def account_review(golden: pd.DataFrame, stamp: str) -> pd.DataFrame:
    """Possible account matches (one row per account key) and proposed moves of pre-existing
    contacts to another company, for a person (``kore dedup account-match`` / ``approve-move``)."""
    cols = ["kind", "contact_key", "crm_contact_id", "crm_account_id", "proposed_account_key",
            "account_score", "account_evidence", "queued_at"]  # fmt: skip
    possible = golden[(golden["account_match"] == "review") & (golden["crm_owned"] == 0)]
    possible = possible.sort_values(["proposed_account_key", "contact_key"]).drop_duplicates("proposed_account_key")
    possible = possible.assign(kind="account_match", contact_key=None, crm_contact_id=None)
    moves = golden[
        (golden["crm_owned"] == 1) & golden["proposed_account_key"].notna() & (golden["account_rule"] == "company")
    ]
    moves = moves.sort_values("contact_key").assign(
        kind="contact_move", account_evidence="keeps its CRM parent; dedup would choose another company"
    )
    out = pd.concat([possible.reindex(columns=cols), moves.reindex(columns=cols)], ignore_index=True)
    out["queued_at"] = stamp
    return out[cols].astype({"account_score": "float64"})
