"""The one interface of the CRM clients: what the push and the pull may ask of either flavour.

Dynamics and Salesforce differ in three ways, and each is a method of :class:`CrmClient`, so the
stages never branch on the flavour:

- naming: where an entity's rows go (:meth:`CrmClient.target`) and how a KORE row's name, external
  key, attributes and lookups are spelled in an upsert body (from ``kore.contracts.crm_names``);
- writing: :meth:`CrmClient.upsert` sends rows in the flavour's batches (Dynamics ``$batch``,
  Salesforce sObject Collections) from a few threads and returns one :class:`Outcome` per row;
- reading: :meth:`CrmClient.iter_pages` yields the rows changed since a cursor, a page at a time.

Constructing a client does no I/O (naming needs no connection: the push's dry run sends nothing);
:meth:`CrmClient.open` prepares the connection where the flavour needs it before the first request.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

from crm_clients.http import DEFAULT_TIMEOUT
from kore.contracts import crm_names
from kore.registry import Entity

CONCURRENCY = 3  # batches in flight at once


@dataclass
class Target:
    """Where one entity's rows go in the flavour's CRM."""

    entity: str
    crm_name: str  # logical name / sObject
    id_field: str
    ext_field: str


@dataclass
class Outcome:
    status: str  # synced | failed
    crm_id: str | None = None
    error: str | None = None
    created: bool = False


@dataclass
class Upserted:
    """The outcome of every row sent (by external key) and the number of write requests it took."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    requests: int = 0

    def merge(self, other: Upserted) -> None:
        self.outcomes.update(other.outcomes)
        self.requests += other.requests


class UpsertRow(Protocol):
    """A row to upsert: its KORE external key, its body in the flavour's field names, and the CRM id
    of a preexisting record it updates (contacts dedup matched to the CRM), if any."""

    @property
    def key(self) -> str: ...

    @property
    def body(self) -> dict[str, Any]: ...

    @property
    def crm_id(self) -> str | None: ...


Progress = Callable[[int], None]
R = TypeVar("R", bound=UpsertRow)


def chunks(seq: list[R], n: int) -> Iterable[list[R]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def run_parallel(fn: Callable[[list[R]], Upserted], parts: list[list[R]]) -> Upserted:
    """``fn`` over every part, :data:`CONCURRENCY` at a time; the results merged."""
    out = Upserted()
    if not parts:
        return out
    with ThreadPoolExecutor(max_workers=min(CONCURRENCY, len(parts)), thread_name_prefix="crm-push") as pool:
        for res in pool.map(fn, parts):
            out.merge(res)
    return out


def failed_all(rows: Iterable[UpsertRow], error: str, requests: int) -> Upserted:
    """Every row of a request the CRM refused as a whole, failed with the same error."""
    return Upserted({r.key: Outcome("failed", None, error[:500]) for r in rows}, requests)


class CrmClient(ABC):
    """A CRM API client of one flavour. One instance may be used from several threads."""

    flavor: ClassVar[str]
    epoch: ClassVar[str]  # the earliest change cursor, in the CRM's timestamp format
    page_size: ClassVar[int]  # rows per page when reading

    def __init__(self, base_url: str, credentials: dict[str, str], timeout: float = DEFAULT_TIMEOUT):
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.timeout = timeout
        self._local = threading.local()  # a session per thread: requests sessions are not thread-safe
        self._token_lock = threading.Lock()

    # -- naming ----------------------------------------------------------------------------------

    def target(self, entity: Entity) -> Target:
        """Where ``entity``'s rows go: CRM-owned entities per ``crm_field_map.csv``, KORE-owned
        entities by the KORE naming rules."""
        name = crm_names.crm_entity_name(entity, self.flavor)
        if entity.direction == "crm_to_kore":
            spec = crm_names.field_spec(entity.entity)
            return Target(entity.entity, name, spec.id_field(self.flavor), spec.external_key_field(self.flavor) or "")
        id_field, ext_field = self.kore_keys(name)
        return Target(entity.entity, name, id_field, ext_field)

    @abstractmethod
    def kore_keys(self, crm_name: str) -> tuple[str, str]:
        """(id field, external key field) of a KORE-owned entity's CRM table."""

    @abstractmethod
    def kore_fields(self, key: str, name: Any) -> dict[str, Any]:
        """The body fields of a KORE row's name (and external key, where the body carries it)."""

    @abstractmethod
    def attribute_field(self, column: str) -> str:
        """The CRM field of a kore_*base attribute column."""

    @abstractmethod
    def lookup_field(self, lookup: crm_names.Lookup, value: str) -> tuple[str, Any]:
        """(body field, value) that points a KORE row's lookup at its parent's record."""

    @abstractmethod
    def account_link(self, account_key: str) -> tuple[str, Any]:
        """(body field, value) that puts a contact under its account, by the account's KORE key."""

    @abstractmethod
    def fields_of(self, crm_name: str) -> set[str] | None:
        """The table's field names per the org's metadata (read once, cached); None: no such table."""

    # -- transport -------------------------------------------------------------------------------

    def open(self) -> None:  # noqa: B027 - optional: most flavours connect on the first request
        """Prepare the connection before the first request, so a wrong URL fails early."""

    @abstractmethod
    def upsert(self, target: Target, rows: list[R], progress: Progress | None = None) -> Upserted:
        """Upsert ``rows`` (by external key, or by CRM id for preexisting records) in batches; a
        row the CRM did not accept is failed with its error, never raised."""

    @abstractmethod
    def iter_pages(
        self, crm_name: str, fields: list[str], id_field: str, modified_field: str, since: str, page_size: int
    ) -> Iterator[list[dict[str, Any]]]:
        """Rows changed at/after ``since``, oldest change first, one list per page."""
