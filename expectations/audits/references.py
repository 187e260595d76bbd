"""Reference audits (every layer): every non-null key a table holds points to a row of its parent.

Hand-listed references between the Archtics, dedup, KORE and mart tables, plus one per
prerequisite of every KORE-owned entity in the registry (``kore_*base.<prerequisite>_key`` ->
the prerequisite's ``external_key``), so a new registry entity cannot go unchecked.
"""

from __future__ import annotations

from dataclasses import dataclass

from expectations.audits.context import AuditContext, missing_tables, read_columns
from expectations.results import keys_only
from kore.config import Settings
from kore.contracts.checks import MAX_EXAMPLES, CheckResult, Severity, audit_result, audit_skipped, normalize_keys
from kore.contracts.crm_names import entity_snake


@dataclass(frozen=True)
class Reference:
    layer: str
    child: str
    child_column: str
    parent: str
    parent_column: str
    severity: Severity = "fail"
    missing_column_severity: Severity = "fail"

    @property
    def name(self) -> str:
        return f"reference:{self.child_column}->{self.parent}.{self.parent_column}"


def reference_holds(ctx: AuditContext, ref: Reference) -> CheckResult:
    """Every non-null ``child.child_column`` value exists in ``parent.parent_column``."""
    missing = missing_tables(ctx, ref.child, ref.parent)
    if missing:
        return audit_skipped(ref.name, ref.layer, ref.child, ref.severity, "table missing: " + ", ".join(missing))
    c_real, p_real = ctx.reader.resolve(ref.child), ctx.reader.resolve(ref.parent)
    c_cols, p_cols = ctx.reader.columns(*c_real), ctx.reader.columns(*p_real)  # type: ignore[misc]
    if ref.child_column.lower() not in c_cols or ref.parent_column.lower() not in p_cols:
        return CheckResult(
            ref.name,
            ref.layer,
            ref.child,
            ref.missing_column_severity,
            "error",
            detail=f"column missing: {ref.child}.{ref.child_column} or {ref.parent}.{ref.parent_column}",
            kind="audit",
        )
    if ctx.settings.target == "duckdb":  # counted in the engine
        refs, n_orphans, keys = ctx.reader.orphan_keys(
            c_real,  # type: ignore[arg-type]
            c_cols[ref.child_column.lower()],
            p_real,  # type: ignore[arg-type]
            p_cols[ref.parent_column.lower()],
            MAX_EXAMPLES,
        )
    else:
        child = read_columns(ctx, ref.child, [ref.child_column])
        parent = read_columns(ctx, ref.parent, [ref.parent_column])
        have = set(normalize_keys(parent.iloc[:, 0]))  # type: ignore[union-attr]
        vals = normalize_keys(child.iloc[:, 0])  # type: ignore[union-attr]
        orphans = vals[vals.notna() & ~vals.isin(have)]
        refs, n_orphans, keys = int(vals.notna().sum()), len(orphans), list(orphans.drop_duplicates())
    examples = keys_only([{ref.child_column: v} for v in keys], [ref.child_column])
    detail = f"{refs} references, {n_orphans} point to no {ref.parent} row"
    return audit_result(ref.name, ref.layer, ref.child, ref.severity, n_orphans, examples, detail)


def references(settings: Settings) -> list[Reference]:
    """Hand-listed references plus every kore_*base prerequisite key from the entity registry."""
    from kore import registry

    refs = [
        Reference("raw", "raw_archtics.ticket", "acct_id", "raw_archtics.cust", "acct_id", severity="warn"),
        Reference("dedup", "kore_dedup.account_contact_map", "acct_id", "raw_archtics.cust", "acct_id"),
        Reference(
            "dedup", "kore_dedup.account_contact_map", "crm_contact_key", "kore_dedup.golden_contacts", "contact_key"
        ),
        Reference("dedup", "kore_dedup.clusters", "record_id", "dedup.dedup_person_records", "record_id", "warn"),
        Reference("kore", "kore.SyncedTicketPurchases", "contact_key", "kore_dedup.golden_contacts", "contact_key"),
        Reference("marts", "marts.fct_ticket_purchases", "acct_id", "raw_archtics.cust", "acct_id"),
        Reference(
            "marts",
            "marts.dim_contact",
            "primary_acct_id",
            "raw_archtics.cust",
            "acct_id",
            missing_column_severity="warn",
        ),
    ]
    by_name = {e.entity: e for e in registry.load()}
    for e in registry.load():
        if e.direction != "kore_to_crm":
            continue
        for p in e.prerequisites:
            parent = by_name[p]
            refs.append(
                Reference(
                    "kore",
                    f"kore.{e.kore_table}",
                    f"{entity_snake(p)}_key",
                    f"kore.{parent.kore_table}",
                    "external_key",
                    missing_column_severity="warn",
                )
            )
    return refs
