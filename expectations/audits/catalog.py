"""The list of audits the runner runs: its own, then the plug-ins', then the reference audits."""

from __future__ import annotations

from collections.abc import Sequence

from expectations.audits import integrity
from expectations.audits.context import AuditContext
from expectations.audits.crm_fields import values_fit_crm_fields
from expectations.audits.landing import manifest_reconciliation
from expectations.audits.mapping import every_account_mapped_once, one_primary_per_contact
from expectations.audits.references import reference_holds, references
from expectations.audits.tickets import ticket_rows_match, ticket_totals_match
from kore.contracts.checks import Audit


def builtin_audits(ctx: AuditContext) -> list[Audit]:
    """The runner's own audits, other than the reference audits (see :func:`audits_for`)."""
    return [
        Audit(
            "raw",
            "manifest_rows_equal_landed_plus_quarantined",
            "raw_archtics.file_ledger",
            lambda: manifest_reconciliation(ctx),
            ("raw_archtics.*",),  # the ledger, the cut-off, the quarantine and each dataset's table
        ),
        Audit(
            "marts",
            "ticket_totals_per_event_and_price_code",
            "marts.fct_ticket_purchases",
            lambda: ticket_totals_match(ctx),
            ("raw_archtics.ticket",),
        ),
        Audit(
            "marts",
            "ticket_rows_per_event_and_price_code",
            "marts.fct_ticket_purchases",
            lambda: ticket_rows_match(ctx),
            ("raw_archtics.ticket",),
        ),
        Audit(
            "dedup",
            "every_account_mapped_excluded_or_in_review",
            "kore_dedup.account_contact_map",
            lambda: every_account_mapped_once(ctx),
        ),
        Audit(
            "dedup",
            "at_most_one_primary_account_per_contact",
            "kore_dedup.account_contact_map",
            lambda: one_primary_per_contact(ctx),
        ),
        Audit(
            "dedup", "values_fit_crm_field_lengths", "kore_dedup.golden_contacts", lambda: values_fit_crm_fields(ctx)
        ),
        *(
            Audit("kore", name, table, lambda fn=fn: fn(ctx))
            for name, table, fn in (
                ("crm_integrity_duplicated_accounts", "raw_crm.account", integrity.duplicated_accounts),
                ("crm_integrity_moved_contacts", "raw_crm.contact", integrity.moved_contacts),
                ("crm_integrity_protected_fields_changed", "kore_dedup.protected_records", integrity.protected_changed),
                ("crm_integrity_retracted_rows_active", "ops.crm_sync_state", integrity.retracted_active),
            )
        ),
    ]


def audits_for(layer: str, ctx: AuditContext, plugin_audits: Sequence[Audit] = ()) -> list[Audit]:
    """Every audit in the layer (or in all layers): the runner's own, the plug-ins', the references."""
    items = [*builtin_audits(ctx), *plugin_audits]
    for ref in references(ctx.settings):
        items.append(Audit(ref.layer, ref.name, ref.child, lambda ref=ref: reference_holds(ctx, ref), (ref.parent,)))
    return [item for item in items if "all" in (layer, item.layer) or item.layer == layer]
