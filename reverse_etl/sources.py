"""Where the push reads its rows: contacts/accounts from dedup, KORE entities from ``kore.*``.

- Contact: ``kore_dedup.golden_contacts``; Account: ``kore_dedup.golden_accounts`` when dedup wrote
  it, else derived from the golden contacts' account keys (one batch: a state older than that table).
  Contacts in ``kore_dedup.push_holds`` (a possible match of a CRM contact waiting for review) are
  not sent (counted as excluded, the source says how many were held); records on the protected list
  (``kore_dedup.protected_records``) get KORE's key only, never field updates.
- every KORE-owned entity: its ``kore.kore_*base`` table.

Every table is read ``BATCH_ROWS`` rows at a time (``Sources.batches``): the push holds one batch of
rows, whatever the size of the table (a million golden contacts read at once as rows took ~5 GB). A
row without an external key cannot be upserted (counted as invalid, never sent); rows sharing an
external key come together in a last batch, where the push keeps one.

Rows of an excluded Account Type are left out (counted as excluded): the dbt flag
``is_excluded_account_type`` when the row carries it, else the row's ``acct_type_desc`` under the one
Account-Type rule (``kore.contracts.account_types``: case and surrounding spaces ignored).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from crm_clients import CrmClient
from kore.config import Settings
from kore.contracts.account_types import is_excluded_account_type
from kore.registry import Entity
from kore.warehouse import Warehouse
from reverse_etl.payloads import PushRow, account_rows, contact_rows, derived_account_rows, kore_row, records
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
    """The push's source rows, read from one warehouse connection a batch at a time."""

    def __init__(self, settings: Settings, wh: Warehouse, client: CrmClient):
        self.settings = settings
        self.wh = wh
        self.client = client
        self._lists: tuple[set[str], set[str]] | None = None  # held contact keys, protected record keys

    def _read(self, schema: str, table: str) -> list[dict[str, Any]] | None:
        if not self.wh.table_exists(schema, table):
            return None
        return records(self.wh.query_df(f"select * from {schema}.{table}"))

    def _kept(self, rows: list[dict[str, Any]], res: EntityResult) -> list[dict[str, Any]]:
        kept = [r for r in rows if not excluded(r, self.settings)]
        res.excluded += len(rows) - len(kept)
        return kept

    def batches(self, entity: Entity, res: EntityResult, size: int | None = None) -> Iterator[list[PushRow]] | None:
        """The entity's rows as push rows, at most ``size`` (default ``BATCH_ROWS``) at a time. None
        when the source table is missing. Fills ``res.source``, ``res.excluded`` and ``res.invalid``
        as the batches are read."""
        size = size or BATCH_ROWS
        if entity.entity in ("Account", "Contact"):
            return self._dedup_batches(entity.entity, res, size)
        table = f"{KORE_SCHEMA}.{entity.model_name}"
        exists = self.wh.table_exists(KORE_SCHEMA, entity.model_name)
        res.source = table + ("" if exists else " (missing)")
        if not exists:
            return None
        return self._batched(table, "external_key", size, lambda rows: self._kore_rows(entity, rows, res))

    def _batched(
        self, table: str, key: str, size: int, to_rows: Callable[[list[dict[str, Any]]], list[PushRow]]
    ) -> Iterator[list[PushRow]]:
        """``to_rows`` of the table's rows a batch at a time; rows of a ``key`` value the table holds
        more than once come together in a last batch (a key is in one batch only)."""
        shared = self.wh.query_rows(f"select {key} from {table} group by {key} having count(*) > 1")
        dup_keys, late = {str(k) for (k,) in shared}, []
        for df in self.wh.query_batches(f"select * from {table}", size=size):
            batch = to_rows(records(df))
            late += [r for r in batch if r.key in dup_keys]
            yield [r for r in batch if r.key not in dup_keys]
        if late:
            yield late

    def _kore_rows(self, entity: Entity, rows: list[dict[str, Any]], res: EntityResult) -> list[PushRow]:
        kept = self._kept(rows, res)
        keyed = [r for r in kept if r.get("external_key") not in (None, "")]
        res.invalid += len(kept) - len(keyed)  # no key: cannot be upserted (counted, never sent)
        return [kore_row(entity, r, self.client) for r in keyed]

    def _held_and_protected(self) -> tuple[set[str], set[str]]:
        if self._lists is None:
            holds = self.wh.query_rows(f"select contact_key from {DEDUP_SCHEMA}.push_holds") \
                if self.wh.table_exists(DEDUP_SCHEMA, "push_holds") else []  # fmt: skip
            protected = self.wh.query_rows(f"select record_key from {DEDUP_SCHEMA}.protected_records") \
                if self.wh.table_exists(DEDUP_SCHEMA, "protected_records") else []  # fmt: skip
            self._lists = {str(k) for (k,) in holds}, {str(k) for (k,) in protected}
        return self._lists

    def _dedup_batches(self, entity: str, res: EntityResult, size: int) -> Iterator[list[PushRow]] | None:
        if not self.wh.table_exists(DEDUP_SCHEMA, "golden_contacts"):
            res.source = f"{DEDUP_SCHEMA}.golden_contacts (missing)"
            return None
        held, protected = self._held_and_protected()
        if entity == "Contact":
            table = res.source = f"{DEDUP_SCHEMA}.golden_contacts"
            held_rows = 0

            def to_contacts(rows: list[dict[str, Any]]) -> list[PushRow]:
                nonlocal held_rows
                kept = self._kept(rows, res)
                sent = [g for g in kept if str(g.get("contact_key")) not in held]
                res.excluded += len(kept) - len(sent)
                held_rows += len(kept) - len(sent)
                res.source = table + (f" ({held_rows} held for review)" if held_rows else "")
                return contact_rows(sent, self.client, protected)

            return self._batched(table, "contact_key", size, to_contacts)
        if self.wh.table_exists(DEDUP_SCHEMA, "golden_accounts"):
            res.source = f"{DEDUP_SCHEMA}.golden_accounts"
            return self._batched(
                res.source,
                "account_key",
                size,
                lambda rows: account_rows(self._kept(rows, res), self.client, protected),
            )
        res.source = f"{DEDUP_SCHEMA}.golden_contacts (account_key)"
        golden = self._read(DEDUP_SCHEMA, "golden_contacts") or []
        return iter([derived_account_rows(self._kept(golden, res), self.client)])
