"""The CRM integrity audit against the sandbox CRM's own records and the generator's ground truth.

Same counts as the warehouse audits (definitions in ``kore.contracts.integrity``), but the CRM side
is read from the sandbox CRM store right after the push (``GET /admin/records``), not from the last
pull, and the sandbox adds the one count only ground truth allows: true people with a contact KORE
created and more than one contact in all (``GET /admin/ground_truth``). Names end in ``[crm]``
so the report shows both views side by side.

Severity: the structural counts (duplicated accounts, moved contacts, protected fields, withdrawn
rows still active) fail the check: KORE can guarantee them by construction. The ground-truth
counts measure matching recall on generated data (a pair below the review threshold is a miss, and
dedup's own evaluation gates precision/recall), so they warn (:data:`GROUND_TRUTH_SEVERITY`):
otherwise whether a demo passes would depend on the generator's seed.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from kore.contracts import crm_names, integrity, record_state
from kore.contracts.checks import (
    Audit,
    CheckContext,
    CheckResult,
    Severity,
    audit_result,
    audit_skipped,
    normalize_keys,
)

LAYER = "kore"
GROUND_TRUTH_SEVERITY: Severity = "warn"
NAMES = ("duplicated_accounts", "moved_contacts", "people_with_several_kore_contacts",
         "people_with_a_kore_duplicate_of_their_crm_contact", "protected_fields_changed",
         "retracted_rows_active")  # fmt: skip


def _get(ctx: CheckContext, path: str, **params: str) -> Any:
    import requests

    r = requests.get(ctx.crm_url.rstrip("/") + path, params=params, headers=ctx.crm_headers,  # type: ignore[union-attr]
                     verify=ctx.crm_verify, timeout=ctx.http_timeout)  # fmt: skip
    r.raise_for_status()
    return r.json()


def crm_frame(ctx: CheckContext, entity: str) -> pd.DataFrame:
    """The CRM's contacts/accounts with KORE column names, ``fields_hash`` and ``inactive``."""
    flavor = ctx.crm_flavor
    spec = crm_names.field_spec(entity)
    back = {f: k for k, f in spec.kore_to_field(flavor).items()}
    rows = []
    for rec in _get(ctx, "/admin/records", entity=entity)["records"]:
        row = {back[f]: v for f, v in rec.items() if f in back}
        row["inactive"] = int(record_state.is_inactive(flavor, rec))
        rows.append(row)
    df = pd.DataFrame(rows)
    df["fields_hash"] = integrity.fields_hashes(df)  # as the warehouse side is hashed (audits.integrity)
    for c in ("crm_id", "account_id", "kore_external_key", "name"):
        if c not in df:
            df[c] = None
    df["crm_id"] = normalize_keys(df["crm_id"])
    return df.rename(columns={"account_id": "parent_id"}).assign(entity=entity)


def _read(ctx: CheckContext, table: str, cols: list[str]) -> pd.DataFrame | None:
    have = ctx.tables.columns(table)
    if have is None or any(c not in have for c in cols):
        return None
    return ctx.tables.read(table, cols)


def _baseline(ctx: CheckContext) -> pd.DataFrame | None:
    b = _read(ctx, "ops.crm_baseline", ["crm_flavor", "entity", "crm_id", "parent_id", "name", "fields_hash",
                                        "created_by_kore"])  # fmt: skip
    return None if b is None else b[b["crm_flavor"] == ctx.crm_flavor]


def _state(ctx: CheckContext) -> pd.DataFrame | None:
    s = _read(ctx, "ops.crm_sync_state", ["crm_flavor", "entity", "external_key", "crm_id", "status"])
    return None if s is None else s[s["crm_flavor"] == ctx.crm_flavor]


def _approved(ctx: CheckContext) -> set[str]:
    d = _read(ctx, "kore_dedup.decisions", ["kind", "record_id_l"])
    if d is None:
        return set()
    d = d[d["kind"] == integrity.APPROVE_MOVE]
    return {r[2:] for r in d["record_id_l"].dropna().astype(str) if r.startswith("C:")}


def _protected(ctx: CheckContext, state: pd.DataFrame | None) -> set[str] | None:
    keys = _read(ctx, "kore_dedup.protected_records", [integrity.PROTECTED_KEY])
    return None if keys is None else integrity.protected_crm_ids(keys[integrity.PROTECTED_KEY], state)


def integrity_results(ctx: CheckContext) -> list[CheckResult]:
    """Every count, in the order of :data:`NAMES` (one CRM read for all of them)."""
    names = NAMES
    full = {n: f"crm_integrity_{n}[crm]" for n in names}
    if not ctx.crm_url:
        return [audit_skipped(full[n], LAYER, "crm", "fail", "no CRM URL given") for n in names]
    b, st = _baseline(ctx), _state(ctx)
    if b is None:
        return [audit_skipped(full[n], LAYER, "crm", "fail", "no CRM baseline (no CRM pull yet)") for n in names]
    acc, con = crm_frame(ctx, "Account"), crm_frame(ctx, "Contact")
    out = []
    n, ex = integrity.duplicated_accounts(b, acc)
    out.append(audit_result(full[names[0]], LAYER, "crm.Account", "fail", n, ex,
                            f"{n} active KORE-created accounts named like a pre-existing one"))  # fmt: skip
    n, ex = integrity.moved_contacts(b, con, _approved(ctx))
    pre = integrity.contacts_with_parent(b)
    out.append(audit_result(full[names[1]], LAYER, "crm.Contact", "fail", n, ex,
                            f"{n} of {pre} pre-existing contacts under an account have another parent, unapproved"))  # fmt: skip
    out.extend(_people(ctx, (full[names[2]], full[names[3]]), b, con))
    prot = _protected(ctx, st)
    if prot is None:
        out.append(
            audit_skipped(full[names[4]], LAYER, "crm", "fail", "not configured: no kore_dedup.protected_records")
        )
    else:
        written = set() if st is None else set(st.loc[st["status"] == "synced", "crm_id"].dropna().astype(str))
        n, ex = integrity.protected_changed(b, pd.concat([acc, con]), prot, written)
        out.append(
            audit_result(full[names[4]], LAYER, "crm", "fail", n, ex, f"{n} of {len(prot)} protected records changed")
        )
    out.append(_retracted(ctx, full[names[5]], st))
    return out


def _people(ctx: CheckContext, names: tuple[str, str], b: pd.DataFrame, con: pd.DataFrame) -> list[CheckResult]:
    mapping = _read(ctx, "kore_dedup.account_contact_map", ["acct_id", "crm_contact_key"])
    truth = pd.DataFrame(_get(ctx, "/admin/ground_truth").get("records", []))
    sev = GROUND_TRUTH_SEVERITY
    if mapping is None or truth.empty:
        return [audit_skipped(n, LAYER, "crm.Contact", sev, "no mapping table or no ground truth") for n in names]
    active = con[con["inactive"] == 0]
    n1, ex1 = integrity.people_with_several_contacts(active, b, mapping, truth, kore_only=True)
    n2, ex2 = integrity.people_with_several_contacts(active, b, mapping, truth)
    narrow = {e["person_id"] for e in ex1}  # the second count: the others, whose duplicate sits beside
    ex2 = [e for e in ex2 if e["person_id"] not in narrow]  # their own CRM contact
    n2 = len(ex2)
    return [
        audit_result(names[0], LAYER, "crm.Contact", sev, n1, ex1, f"{n1} true people have two or more KORE-created contacts"),
        audit_result(names[1], LAYER, "crm.Contact", sev, n2, ex2,
                     f"{n2} true people have a KORE-created contact beside their own CRM contact"),
    ]  # fmt: skip


def _retracted(ctx: CheckContext, name: str, st: pd.DataFrame | None) -> CheckResult:
    if st is None:
        return audit_skipped(name, LAYER, "ops.crm_sync_state", "fail", "no push yet")
    gone = st[st["status"].isin(["retracted", "retract_failed"])]
    bad_n, examples = 0, []
    for entity, rows in gone.groupby("entity"):
        table = crm_names.crm_entity_name(str(entity), ctx.crm_flavor)
        recs = _get(ctx, "/admin/records", entity=str(entity))["records"]
        id_field = "Id" if ctx.crm_flavor == "salesforce" else f"{table}id"
        present = {str(r.get(id_field)) for r in recs}
        inactive = {str(r.get(id_field)) for r in recs if record_state.is_inactive(ctx.crm_flavor, r)}
        n, ex = integrity.retracted_active(rows, inactive, present)
        bad_n, examples = bad_n + n, examples + ex
    detail = f"{len(gone)} rows withdrawn, {bad_n} still active in the CRM"
    return audit_result(name, LAYER, "ops.crm_sync_state", "fail", bad_n, examples, detail)


def audits(ctx: CheckContext) -> list[Audit]:
    """One audit per count; the CRM is read once, when the first of them runs."""
    cache: list[CheckResult] = []

    def nth(i: int) -> CheckResult:
        if not cache:
            cache.extend(integrity_results(ctx))
        return cache[i]

    return [Audit(LAYER, f"crm_integrity_{n}[crm]", "crm", lambda i=i: nth(i)) for i, n in enumerate(NAMES)]
