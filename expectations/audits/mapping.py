"""Dedup audits: every Archtics account ends up with exactly one CRM contact (or is excluded by its
Account Type, or waits for a person in the review queue), and no CRM contact gets two primary
accounts (two Archtics accounts would both overwrite it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from expectations.audits.context import AuditContext, missing_tables, read_columns
from kore.contracts.account_types import excluded_account_types, normalize_account_type
from kore.contracts.checks import MAX_EXAMPLES, CheckResult, audit_result, audit_skipped, normalize_keys


def _review_queue_accounts(ctx: AuditContext) -> set[str]:
    real = ctx.reader.resolve("kore_dedup.review_queue")
    if real is None:
        return set()
    cols = ctx.reader.columns(*real)
    out: set[str] = set()
    if "acct_id" in cols:
        out |= {k for k in normalize_keys(ctx.reader.read(*real, [cols["acct_id"]]).iloc[:, 0]) if k}
    for c in ("record_id_l", "record_id_r", "record_id"):
        if c in cols:
            for rid in ctx.reader.read(*real, [cols[c]]).iloc[:, 0].dropna().astype(str):
                if rid.startswith("A:"):
                    out.add(rid.split(":")[1])
    return out


def _excluded_by_account_type(acct_type_desc: pd.Series, ctx: AuditContext) -> pd.Series:
    """The Account-Type rule of ``kore.contracts.account_types`` (trimmed, case-insensitive), per row."""
    types = excluded_account_types(ctx.settings)
    # once per distinct description (a handful of Account Types over a million accounts)
    codes, uniques = pd.factorize(acct_type_desc, use_na_sentinel=True)
    hit = [normalize_account_type(str(v)) in types for v in uniques] + [normalize_account_type(None) in types]
    return pd.Series(np.asarray(hit, dtype=bool)[codes], index=acct_type_desc.index)


def every_account_mapped_once(ctx: AuditContext) -> CheckResult:
    """Every Archtics account: mapped to exactly one CRM contact, excluded by Account Type, or in review.

    An account Archtics merged into another (``int.int_archtics_account_merges``) may be unmapped.
    """
    name, layer, table = "every_account_mapped_excluded_or_in_review", "dedup", "kore_dedup.account_contact_map"
    missing = missing_tables(ctx, "raw_archtics.cust", table)
    if missing:
        return audit_skipped(name, layer, table, "fail", "table missing: " + ", ".join(missing))
    cust = read_columns(ctx, "raw_archtics.cust", ["acct_id", "acct_type_desc"])
    if cust is None:
        cust = read_columns(ctx, "raw_archtics.cust", ["acct_id"])
        assert cust is not None
        cust["acct_type_desc"] = None
    mapping = read_columns(ctx, table, ["acct_id", "crm_contact_key"])
    if mapping is None:
        return CheckResult(name, layer, table, "fail", "error", detail="mapping lacks acct_id/crm_contact_key")
    cust["acct_id"] = normalize_keys(cust["acct_id"])
    excluded = set(cust.loc[_excluded_by_account_type(cust["acct_type_desc"], ctx), "acct_id"])
    in_review = _review_queue_accounts(ctx)
    merged = read_columns(ctx, "int.int_archtics_account_merges", ["old_acct_id"])
    merged_away = set(normalize_keys(merged["old_acct_id"])) if merged is not None else set()
    # distinct CRM contacts per account (hashing, not sorting, a million keys), accounts once each
    pairs = pd.DataFrame({"acct_id": normalize_keys(mapping["acct_id"]), "contact": mapping["crm_contact_key"]})
    per_acct = pairs.dropna().drop_duplicates()["acct_id"].value_counts()
    accounts = pd.Series(pd.unique(cust["acct_id"].dropna()), dtype=object)
    n = accounts.map(per_acct).fillna(0).astype(int)
    fine = (n == 1) | accounts.isin(excluded) | accounts.isin(in_review) | ((n == 0) & accounts.isin(merged_away))
    wrong = pd.DataFrame({"acct_id": accounts[~fine], "n": n[~fine]}).sort_values("acct_id")
    bad: list[dict[str, Any]] = [
        {"acct_id": acct, "mapped_contacts": int(k)} for acct, k in zip(wrong["acct_id"], wrong["n"], strict=True)
    ]
    detail = (
        f"{len(accounts)} accounts: {len(excluded)} excluded by Account Type, {len(in_review)} in review, "
        f"{len(merged_away)} merged away, "
        f"{len(bad)} neither mapped once nor excluded nor in review"
    )
    return audit_result(name, layer, table, "fail", len(bad), bad, detail)


def one_primary_per_contact(ctx: AuditContext) -> CheckResult:
    """No CRM contact has two primary Archtics accounts (two accounts would both overwrite it)."""
    name, layer, table = "at_most_one_primary_account_per_contact", "dedup", "kore_dedup.account_contact_map"
    mapping = read_columns(ctx, table, ["crm_contact_key", "is_primary", "acct_id"])
    if mapping is None:
        return audit_skipped(name, layer, table, "fail", f"table missing: {table}")
    prim = mapping[pd.to_numeric(mapping["is_primary"], errors="coerce") == 1]
    counts = prim.groupby("crm_contact_key")["acct_id"].nunique()
    bad_keys = counts[counts > 1]
    examples = [{"crm_contact_key": k, "primary_accounts": int(n)} for k, n in bad_keys.head(MAX_EXAMPLES).items()]
    detail = f"{prim['crm_contact_key'].nunique()} contacts with a primary account"
    return audit_result(name, layer, table, "fail", int(len(bad_keys)), examples, detail)
