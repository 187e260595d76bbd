"""CRM integrity audits (layer ``kore``): the promises KORE makes to a CRM that already has data.

Counted with the definitions of ``kore.contracts.integrity`` over the warehouse's view of the CRM:
``raw_crm`` (the CRM as the last pull landed it), ``ops.crm_baseline`` (each contact/account as
first seen), ``ops.crm_removed_records``, ``ops.crm_sync_state`` and the dedup's decisions and
protected list. Each count must be 0 (severity ``fail``). Run after the push they describe the CRM
as of the pull before it; the sandbox plug-in (``sandbox/checks.py``) counts the same things in the
CRM's own records right after the push.

- ``crm_integrity_duplicated_accounts``: KORE-created accounts named like a pre-existing account.
- ``crm_integrity_moved_contacts``: pre-existing contacts whose parent changed without approval.
- ``crm_integrity_protected_fields_changed``: protected records whose writable fields KORE changed
  (skipped, "not configured", without ``kore_dedup.protected_records``).
- ``crm_integrity_retracted_rows_active``: withdrawals the CRM refused (``retract_failed``): rows
  KORE meant to withdraw that are still active.
"""

from __future__ import annotations

import pandas as pd

from expectations.audits.context import AuditContext, read_columns
from kore.contracts import crm_names, integrity
from kore.contracts.checks import CheckResult, audit_result, audit_skipped, normalize_keys

LAYER = "kore"
BASELINE = "ops.crm_baseline"


def raw_records(ctx: AuditContext, entity: str) -> pd.DataFrame | None:
    """The flavour's raw contacts/accounts with KORE column names (crm_id, parent_id, name,
    kore_external_key, fields_hash, inactive = listed in ``ops.crm_removed_records``)."""
    flavor = ctx.settings.crm_flavor
    table = f"raw_crm.{flavor}_{crm_names.entity_snake(entity)}"
    real = ctx.reader.resolve(table)
    if real is None:
        return None
    cols = ctx.reader.columns(*real)
    fmap = crm_names.field_spec(entity).kore_to_field(flavor)
    want = {k: crm_names.raw_column(f) for k, f in fmap.items()}
    want = {
        k: c
        for k, c in want.items()
        if c in cols and k in ("crm_id", "account_id", "kore_external_key", *integrity.HASHED)
    }
    df = ctx.reader.read(*real, [cols[c] for c in want.values()])
    df.columns = list(want)
    for k in ("account_id", "kore_external_key", "name"):
        if k not in df:
            df[k] = None
    if entity == "Contact":
        df["name"] = None
    df["fields_hash"] = integrity.fields_hashes(df)
    removed = read_columns(ctx, "ops.crm_removed_records", ["crm_flavor", "crm_id"])
    gone = set() if removed is None else set(removed.loc[removed["crm_flavor"] == flavor, "crm_id"].astype(str))
    df["crm_id"] = normalize_keys(df["crm_id"])
    df["inactive"] = df["crm_id"].isin(gone).astype(int)
    return df.rename(columns={"account_id": "parent_id"}).assign(entity=entity)


def baseline(ctx: AuditContext) -> pd.DataFrame | None:
    cols = ["crm_flavor", "entity", "crm_id", "parent_id", "name", "fields_hash", "created_by_kore"]
    b = read_columns(ctx, BASELINE, cols)
    return None if b is None else b[b["crm_flavor"] == ctx.settings.crm_flavor]


def approved_moves(ctx: AuditContext) -> set[str]:
    """Contacts whose move a person approved: ``kore_dedup.decisions`` rows of kind ``approve_move``
    naming the contact by ``crm_contact_id`` or ``record_id_l = 'C:<crm id>'``."""
    real = ctx.reader.resolve("kore_dedup.decisions")
    if real is None:
        return set()
    cols = ctx.reader.columns(*real)
    if "kind" not in cols:
        return set()
    named = [c for c in ("crm_contact_id", "record_id_l") if c in cols]
    df = ctx.reader.read(*real, [cols["kind"], *(cols[c] for c in named)])
    df.columns = ["kind", *named]
    df = df[df["kind"] == integrity.APPROVE_MOVE]
    out = set(df["crm_contact_id"].dropna().astype(str)) if "crm_contact_id" in named else set()
    if "record_id_l" in named:
        out |= {r[2:] for r in df["record_id_l"].dropna().astype(str) if r.startswith("C:")}
    return out


def protected_ids(ctx: AuditContext) -> set[str] | None:
    """CRM ids of the records on ``kore_dedup.protected_records`` (None when there is no such list)."""
    keys = read_columns(ctx, "kore_dedup.protected_records", [integrity.PROTECTED_KEY])
    if keys is None:
        return None
    return integrity.protected_crm_ids(keys[integrity.PROTECTED_KEY], sync_state(ctx))


def sync_state(ctx: AuditContext) -> pd.DataFrame | None:
    s = read_columns(ctx, "ops.crm_sync_state", ["crm_flavor", "entity", "external_key", "crm_id", "status"])
    return None if s is None else s[s["crm_flavor"] == ctx.settings.crm_flavor]


def _needs(ctx: AuditContext, name: str, table: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | CheckResult:
    b = baseline(ctx)
    acc, con = raw_records(ctx, "Account"), raw_records(ctx, "Contact")
    if b is None or acc is None or con is None:
        return audit_skipped(name, LAYER, table, "fail", "no CRM baseline or CRM pull yet")
    return b, acc, con


def duplicated_accounts(ctx: AuditContext) -> CheckResult:
    name, table = "crm_integrity_duplicated_accounts", "raw_crm.account"
    got = _needs(ctx, name, table)
    if isinstance(got, CheckResult):
        return got
    b, acc, _ = got
    n, ex = integrity.duplicated_accounts(b, acc)
    pre = len(integrity.preexisting(b, "Account"))
    return audit_result(
        name, LAYER, table, "fail", n, ex, f"{n} KORE-created accounts named like one of {pre} pre-existing"
    )


def moved_contacts(ctx: AuditContext) -> CheckResult:
    name, table = "crm_integrity_moved_contacts", "raw_crm.contact"
    got = _needs(ctx, name, table)
    if isinstance(got, CheckResult):
        return got
    b, _, con = got
    n, ex = integrity.moved_contacts(b, con, approved_moves(ctx))
    pre = integrity.contacts_with_parent(b)
    return audit_result(
        name, LAYER, table, "fail", n, ex, f"{n} of {pre} pre-existing contacts under an account have another parent"
    )


def protected_changed(ctx: AuditContext) -> CheckResult:
    name, table = "crm_integrity_protected_fields_changed", "kore_dedup.protected_records"
    prot = protected_ids(ctx)
    if prot is None:
        return audit_skipped(name, LAYER, table, "fail", "not configured: no kore_dedup.protected_records")
    got = _needs(ctx, name, table)
    if isinstance(got, CheckResult):
        return got
    b, acc, con = got
    st = sync_state(ctx)
    written = set() if st is None else set(st.loc[st["status"] == "synced", "crm_id"].dropna().astype(str))
    n, ex = integrity.protected_changed(b, pd.concat([acc, con]), prot, written)
    return audit_result(name, LAYER, table, "fail", n, ex, f"{n} of {len(prot)} protected records changed by KORE")


def retracted_active(ctx: AuditContext) -> CheckResult:
    name, table = "crm_integrity_retracted_rows_active", "ops.crm_sync_state"
    st = sync_state(ctx)
    if st is None:
        return audit_skipped(name, LAYER, table, "fail", "no push yet")
    failed = st[st["status"] == "retract_failed"]
    ex = [{"entity": r.entity, "external_key": r.external_key, "crm_id": r.crm_id} for r in failed.itertuples()]
    withdrawn = int((st["status"] == "retracted").sum())
    return audit_result(
        name, LAYER, table, "fail", len(failed), ex, f"{withdrawn} rows withdrawn, {len(failed)} still active (refused)"
    )
