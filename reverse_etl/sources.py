"""Where the push reads its rows: contacts/accounts from dedup, KORE entities from ``kore.*``.

- Account, Contact: ``kore_dedup.golden_contacts`` (read once for both), accounts from
  ``kore_dedup.golden_accounts`` when dedup wrote it, else derived from the contacts' account keys.
  Contacts in ``kore_dedup.push_holds`` (a possible match of a CRM contact waiting for review) are
  not sent (counted as excluded, the source says how many were held); records on the protected list
  (``kore_dedup.protected_records``) get KORE's key only, never field updates.
- every KORE-owned entity: its ``kore.kore_*base`` table, read ``BATCH_ROWS`` rows at a time
  (``Sources.batches``); a row without an external key cannot be upserted (counted as invalid, never
  sent); rows sharing an external key come together in a last batch, where the push keeps one.

Rows of an excluded Account Type are left out (counted as excluded): the dbt flag
``is_excluded_account_type`` when the row carries it, else the row's ``acct_type_desc`` under the one
Account-Type rule (``kore.contracts.account_types``: case and surrounding spaces ignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from crm_clients import CrmClient
from kore.config import Settings
from kore.contracts.account_types import is_excluded_account_type
from kore.registry import Entity
from kore.warehouse import Warehouse
from reverse_etl.payloads import PushRow, account_rows, contact_rows, kore_row, records
from reverse_etl.results import EntityResult

DEDUP_SCHEMA = "kore_dedup"
# rows of a KORE entity read, planned and sent at a time: the push's memory stays bounded (building
# every row of 950k ticket purchases at once took 5.3 GB)
BATCH_ROWS = 50_000
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

    def batches(self, entity: Entity, res: EntityResult, size: int | None = None) -> Iterator[list[PushRow]] | None:
        """The entity's rows as push rows, at most ``size`` (default ``BATCH_ROWS``) at a time for a
        KORE entity; contacts and accounts come as one batch. None when the source table is missing.
        Fills ``res.source``, ``res.excluded`` and ``res.invalid`` as the batches are read."""
        if entity.entity in ("Account", "Contact"):
            rows = self._dedup_rows(entity.entity, res)
            return None if rows is None else iter([rows])
        table = entity.model_name
        exists = self.wh.table_exists(KORE_SCHEMA, table)
        res.source = f"{KORE_SCHEMA}.{table}" + ("" if exists else " (missing)")
        return self._kore_batches(entity, res, size or BATCH_ROWS) if exists else None

    def _kore_batches(self, entity: Entity, res: EntityResult, size: int) -> Iterator[list[PushRow]]:
        table = f"{KORE_SCHEMA}.{entity.model_name}"
        # rows sharing an external key come last, together, so the push keeps one of them (the last)
        shared = self.wh.query_rows(f"select external_key from {table} group by external_key having count(*) > 1")
        dup_keys, late = {str(k) for (k,) in shared}, []
        for df in self.wh.query_batches(f"select * from {table}", size=size):
            rows = records(df)
            kept = [r for r in rows if not excluded(r, self.settings)]
            keyed = [r for r in kept if r.get("external_key") not in (None, "")]
            res.excluded += len(rows) - len(kept)
            res.invalid += len(kept) - len(keyed)  # no key: cannot be upserted (counted, never sent)
            batch = [kore_row(entity, r, self.client) for r in keyed]
            late += [r for r in batch if r.key in dup_keys]
            yield [r for r in batch if r.key not in dup_keys]
        if late:
            yield late

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
