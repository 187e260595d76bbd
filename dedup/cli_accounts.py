"""`kore dedup protect | unprotect | protected | approve-move | account-match | account-review`.

Protected records: CRM contacts/accounts (by CRM id or KORE key) whose fields KORE never updates;
their Archtics accounts still map to them. Account decisions: let a pre-existing contact move to the
account dedup proposes, say whether a KORE account key is a given CRM account.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from dedup import store
from kore.config import get_settings
from kore.warehouse import Warehouse, connect

console = Console()
WORKDIR = typer.Option(None, "--workdir", help="Run folder (default: $KORE_WORKDIR or current dir)")
# (schema, table, id column, kind) where a contact or an account can be named
_LOOKUPS = (
    (store.SCHEMA, "golden_contacts", "crm_contact_id", "contact"),
    (store.SCHEMA, "golden_contacts", "contact_key", "contact"),
    (store.SCHEMA, "golden_accounts", "crm_account_id", "account"),
    (store.SCHEMA, "golden_accounts", "account_key", "account"),
    (store.CRM_SCHEMA, "SyncedContacts", "crm_id", "contact"),
    (store.CRM_SCHEMA, "SyncedAccounts", "crm_id", "account"),
)


def record_kind(wh: Warehouse, key: str) -> str | None:
    """'contact' or 'account' when ``key`` names one (CRM id or KORE key), else None."""
    for schema, table, column, kind in _LOOKUPS:
        if not wh.table_exists(schema, table):
            continue
        q = f"select count(*) from {schema}.{table} where cast({column} as varchar(64)) = ?"
        if wh.query_rows(q, [key])[0][0]:
            return kind
    return None


def protect(
    record: str, note: str = typer.Option("", help="Why (shown in `kore dedup protected`)"), workdir: Path = WORKDIR
) -> None:
    """Protect a CRM contact or account (CRM id or KORE key): KORE never updates its fields."""
    settings = get_settings(workdir)
    with connect(settings) as wh:
        kind = record_kind(wh, record)
    if kind is None:
        raise typer.BadParameter(f"{record!r} is no CRM contact or account KORE knows (a CRM id or a KORE key)")
    store.protect(settings, record, kind, note)
    console.print(f"{kind} {record} is protected: KORE will not update its fields (push and next dedup run)")


def unprotect(record: str, workdir: Path = WORKDIR) -> None:
    """Remove a contact or account from the protected list."""
    settings = get_settings(workdir)
    with connect(settings) as wh:
        known = record in store.protected_keys(wh)
    if not known:
        raise typer.BadParameter(f"{record!r} is not on the protected list")
    store.unprotect(settings, {record})
    console.print(f"{record} is no longer protected")


def protected(workdir: Path = WORKDIR) -> None:
    """List the protected contacts and accounts."""
    with connect(get_settings(workdir)) as wh:
        df = store.read_table(wh, "protected_records")
    table = Table("record", "kind", "note", "since", title=f"protected records ({len(df)})")
    for r in df.itertuples():
        table.add_row(str(r.record_key), str(r.kind), str(r.note or ""), str(r.protected_at))
    console.print(table)


def approve_move(contact_key: str, workdir: Path = WORKDIR) -> None:
    """Let a contact the CRM already had move to the account dedup proposes (see `account-review`)."""
    settings = get_settings(workdir)
    with connect(settings) as wh:
        g = store.read_table(wh, "golden_contacts", where=f"where contact_key = '{contact_key.replace(chr(39), '')}'")
    if not len(g):
        raise typer.BadParameter(f"no golden contact {contact_key!r} (run `kore dedup run` first)")
    store.add_decision(settings, "approve_move", contact_key=contact_key)
    console.print(f"contact {contact_key} may move to the proposed account (applies on the next run)")


def account_match(
    account_key: str,
    crm_account_id: str,
    reject: bool = typer.Option(False, "--reject", help="They are different organisations"),
    workdir: Path = WORKDIR,
) -> None:
    """Decide a possible account match: KORE account key ACCOUNT_KEY is (or, --reject, is not) CRM_ACCOUNT_ID."""
    settings = get_settings(workdir)
    with connect(settings) as wh:
        if record_kind(wh, crm_account_id) != "account":
            raise typer.BadParameter(f"{crm_account_id!r} is no CRM account KORE knows")
    kind = "account_reject" if reject else "account_accept"
    store.add_decision(settings, kind, account_key, crm_account_id)
    console.print(f"{kind.replace('_', ' ')}: {account_key} ~ {crm_account_id} (applies on the next run)")


def account_review(workdir: Path = WORKDIR, limit: int = 50) -> None:
    """Possible account matches, proposed moves of pre-existing contacts, contacts held for review."""
    with connect(get_settings(workdir)) as wh:
        q = store.read_table(wh, "account_review")
        holds = store.read_table(wh, "push_holds")
    table = Table("kind", "contact", "CRM account", "proposed", "evidence", title=f"account review ({len(q)})")
    for r in q.head(limit).itertuples():
        table.add_row(
            str(r.kind),
            str(r.contact_key or ""),
            str(r.crm_account_id or ""),
            str(r.proposed_account_key or ""),
            str(r.account_evidence or ""),
        )
    console.print(table)
    held = Table("contact", "reason", "record", "CRM contact", title=f"contacts held from the push ({len(holds)})")
    for h in holds.head(limit).itertuples():
        held.add_row(str(h.contact_key), str(h.reason), str(h.record_id), str(h.partner_crm_contact_id))
    console.print(held)
