"""CRM field lengths: every contact/account value the push will send fits its CRM field.

Why before the push: a value longer than the org's field (a 57-character last name where the CRM
allows 50) is held back by the push (``reverse_etl``: status ``held_too_long``) and its children wait
behind it; this audit names it (by key and field, never the value) so someone can fix the source.
The limits are the field-limit contract's (``kore.contracts.field_limits``), as sent: a phone gets
its leading ``+``.
"""

from __future__ import annotations

from expectations.audits.context import AuditContext, read_columns
from kore.contracts.checks import CheckResult, audit_result, audit_skipped
from kore.contracts.field_limits import golden_limits, sent_lengths

GOLDEN = {
    "Contact": ("kore_dedup.golden_contacts", "contact_key"),
    "Account": ("kore_dedup.golden_accounts", "account_key"),
}


def values_fit_crm_fields(ctx: AuditContext) -> CheckResult:
    """Rows of ``golden_contacts``/``golden_accounts`` with a text value longer than its CRM field."""
    name, layer, table = "values_fit_crm_field_lengths", "dedup", GOLDEN["Contact"][0]
    flavor = ctx.settings.crm_flavor
    failing, examples, checked = 0, [], 0
    for entity, (qualified, key) in GOLDEN.items():
        if ctx.reader.resolve(qualified) is None:
            continue
        cols = ctx.reader.columns(*ctx.reader.resolve(qualified))
        limits = {c: n for c, n in golden_limits(entity, flavor).items() if c in cols}
        df = read_columns(ctx, qualified, [key, *limits])
        if df is None:
            continue
        checked += len(df)
        over = None
        for col, n in limits.items():
            lengths = sent_lengths(col, df[col])
            bad = lengths > n
            for k, ln in zip(df.loc[bad, key], lengths[bad], strict=True):
                examples.append({"entity": entity, "key": str(k), "field": col, "length": int(ln), "max": n})
            over = bad if over is None else over | bad
        failing += int(over.sum()) if over is not None else 0
    if not checked:
        return audit_skipped(name, layer, table, "warn", "table missing: " + GOLDEN["Contact"][0])
    detail = f"{checked} rows checked against the {flavor} field lengths, {failing} too long (held by the push)"
    # warn, not fail: the push holds only these rows (and their children), the rest goes on
    return audit_result(name, layer, table, "warn", failing, examples, detail)
