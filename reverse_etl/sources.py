"""Where the push reads its rows: contacts/accounts from dedup, KORE entities from ``kore.*``.

- Account, Contact: ``kore_dedup.golden_contacts`` (read once for both), accounts from
  ``kore_dedup.golden_accounts`` when dedup wrote it, else derived from the contacts' account keys.
  Contacts in ``kore_dedup.push_holds`` (a possible match of a CRM contact waiting for review) are
  not sent (counted as excluded, the source says how many were held); records on the protected list
  (``kore_dedup.protected_records``) get KORE's key only, never field updates.
- every KORE-owned entity: its ``kore.kore_*base`` table; a row without an external key cannot be
  upserted (counted as invalid, never sent).

Rows of an excluded Account Type are left out (counted as excluded): the dbt flag
``is_excluded_account_type`` when the row carries it, else the row's ``acct_type_desc`` under the one
Account-Type rule (``kore.contracts.account_types``: case and surrounding spaces ignored).
"""

from __future__ import annotations

from typing import Any

from crm_clients import CrmClient
from kore.config import Settings
from kore.contracts.account_types import is_excluded_account_type
from kore.registry import Entity
from kore.warehouse import Warehouse
from reverse_etl.payloads import PushRow, account_rows, contact_rows, kore_row, records
from reverse_etl.results import EntityResult

DEDUP_SCHEMA = "kore_dedup"
KORE_SCHEMA = "kore"


def excluded(row: dict[str, Any], settings: Settings) -> bool:
    """True when the row's account must not sync (see the module docstring)."""
    flag = row.get("is_excluded_account_type")
    if flag not in (None, "", 0, "0", False):
        return True
    acct_type = row.get("acct_type_desc")
    return acct_type is not None and is_excluded_account_type(str(acct_type), settings)


class Sources:
    """The push's source rows, read from one warehouse connection (dedup tables read once)."""

    def __init__(self, settings: Settings, wh: Warehouse, client: CrmClient):
        self.settings = settings
        self.wh = wh
        self.client = client
        self._dedup: tuple[list[dict[str, Any]] | None, list[dict[str, Any]] | None] | None = None
        self._held: set[str] = set()
        self._protected: set[str] = set()

    def _read(self, schema: str, table: str) -> list[dict[str, Any]] | None:
        if not self.wh.table_exists(schema, table):
            return None
        return records(self.wh.query_df(f"select * from {schema}.{table}"))

    def _kept(self, rows: list[dict[str, Any]], res: EntityResult) -> list[dict[str, Any]]:
        kept = [r for r in rows if not excluded(r, self.settings)]
        res.excluded = len(rows) - len(kept)
        return kept

    def rows(self, entity: Entity, res: EntityResult) -> list[PushRow] | None:
        """The entity's rows as push rows (None when its source table is missing); fills
        ``res.source``, ``res.excluded`` and ``res.invalid``."""
        if entity.entity in ("Account", "Contact"):
            return self._dedup_rows(entity.entity, res)
        table = entity.model_name
        rows = self._read(KORE_SCHEMA, table)
        res.source = f"{KORE_SCHEMA}.{table}" + (" (missing)" if rows is None else "")
        if rows is None:
            return None
        kept = self._kept(rows, res)
        keyed = [r for r in kept if r.get("external_key") not in (None, "")]
        res.invalid = len(kept) - len(keyed)  # no key: cannot be upserted (counted, never sent)
        return [kore_row(entity, r, self.client) for r in keyed]

    def _dedup_rows(self, entity: str, res: EntityResult) -> list[PushRow] | None:
        if self._dedup is None:
            self._dedup = (
                self._read(DEDUP_SCHEMA, "golden_contacts"),
                self._read(DEDUP_SCHEMA, "golden_accounts"),
            )
            holds = self._read(DEDUP_SCHEMA, "push_holds") or []
            self._held = {str(h["contact_key"]) for h in holds}
            protected = self._read(DEDUP_SCHEMA, "protected_records") or []
            self._protected = {str(p["record_key"]) for p in protected}
        golden, accounts = self._dedup
        if golden is None:
            res.source = f"{DEDUP_SCHEMA}.golden_contacts (missing)"
            return None
        kept = self._kept(golden, res)
        if entity == "Contact":
            sent = [g for g in kept if str(g.get("contact_key")) not in self._held]
            res.excluded += len(kept) - len(sent)
            res.source = f"{DEDUP_SCHEMA}.golden_contacts" + (
                f" ({len(kept) - len(sent)} held for review)" if len(sent) < len(kept) else ""
            )
            return contact_rows(sent, self.client, self._protected)
        if accounts is not None:
            res.source = f"{DEDUP_SCHEMA}.golden_accounts"
            return account_rows(kept, self._kept(accounts, res), self.client, self._protected)
        res.source = f"{DEDUP_SCHEMA}.golden_contacts (account_key)"
        return account_rows(kept, None, self.client)
