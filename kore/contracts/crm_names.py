"""How KORE entities and columns are named in each CRM flavour.

One module shared by the sandbox CRM (which validates with it) and the pull/push clients (which
build requests with it), so the two sides cannot drift apart.

KORE-owned entities (``kore.kore_*base`` tables, see docs/architecture.md "Modelled tables") have
the columns ``external_key``, ``name``, one ``<prerequisite_snake>_key`` per prerequisite, one
``<crm_reference_snake>_key`` per CRM reference, attributes, ``row_hash`` and ``modified_at``.
They map onto the CRM like this:

=====================  =====================================  ===============================================
column                 Dynamics (Web API)                     Salesforce (REST)
=====================  =====================================  ===============================================
external_key           ``koreps_externalkey`` (alternate key)  ``koreps__KORE_External_Key__c`` (external id)
name                   ``koreps_name``                         ``Name``
attribute ``a_b``      ``koreps_ab``                           ``koreps__AB__c``
prerequisite ``x_key``  ``koreps_<x>id@odata.bind`` →           ``koreps__<X>__r: {koreps__KORE_External_Key__c:
                       ``/<entityset>(koreps_externalkey='k')``  k}``
contact/account key    ``koreps_contactid@odata.bind`` →      ``koreps__Contact__r: {koreps__KORE_External_Key__c:
                       ``/contacts(kore_externalkey='k')``     k}``
user_key (CRM id)      ``koreps_userid@odata.bind`` →          ``koreps__User__c: <Id>``
                       ``/systemusers(<id>)``
=====================  =====================================  ===============================================

``row_hash`` and ``modified_at`` are sync bookkeeping and are not sent. A user is CRM-owned and has
no KORE key, so ``user_key`` carries the user's CRM id.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache

from kore.config import DBT_PROJECT_DIR
from kore.registry import Entity, by_name

FIELD_MAP_CSV = DBT_PROJECT_DIR / "seeds" / "crm_field_map.csv"

API_VERSION_DYNAMICS = "v9.2"
API_VERSION_SALESFORCE = "60.0"

DYN_EXT_KEY = "koreps_externalkey"
DYN_NAME = "koreps_name"
SF_EXT_KEY = "koreps__KORE_External_Key__c"
SF_NAME = "Name"

NAME_MAX_LENGTH = 100
EXTERNAL_KEY_MAX_LENGTH = 64
ATTRIBUTE_MAX_LENGTH = 4000

# Columns of a kore_*base table that are bookkeeping, never sent to the CRM.
NOT_SENT = {"row_hash", "modified_at", "is_excluded_account_type", "_dlt_load_id", "_dlt_id"}
# CRM references that are found by the KORE external key (pushed from dedup before any KORE entity).
REFERENCES_BY_EXTERNAL_KEY = {"Account", "Contact"}


def entity_snake(name: str) -> str:
    """``DealSheet`` → ``deal_sheet``, ``Event2`` → ``event2`` (digits stay on their word)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


@lru_cache(maxsize=1)
def _dlt_naming():
    from dlt.common.normalizers.naming.snake_case import NamingConvention

    return NamingConvention()


def raw_column(field: str) -> str:
    """The ``raw_crm`` column of a CRM field: dlt's snake_case identifier (``koreps__Industry__c`` →
    ``koreps_industry_c``, ``SystemModstamp`` → ``system_modstamp``). The CRM pull names columns with
    it (rather than leaving it to dlt's relational normaliser, which would read ``__`` as a nesting
    separator and keep it), and the generated CRM staging models read them with it."""
    return _dlt_naming().normalize_identifier(field)


def pascal(column: str) -> str:
    """``start_date`` → ``StartDate``."""
    return "".join(part[:1].upper() + part[1:] for part in column.split("_") if part)


def entity_set(logical_name: str) -> str:
    """Dataverse entity-set name: the plural of the logical name (y → ies, s → ses, else + s)."""
    if logical_name.endswith("y"):
        return logical_name[:-1] + "ies"
    if logical_name.endswith("s"):
        return logical_name + "es"
    return logical_name + "s"


def odata_quote(value: str) -> str:
    """A string literal inside an OData key or filter: single quotes doubled."""
    return "'" + str(value).replace("'", "''") + "'"


# -- KORE-owned entities -------------------------------------------------------------------------


def dyn_attribute(column: str) -> str:
    return "koreps_" + column.replace("_", "")


def sf_attribute(column: str) -> str:
    return f"koreps__{pascal(column)}__c"


def dyn_id_field(logical_name: str) -> str:
    """Primary key attribute of a Dataverse table: ``<logicalname>id``."""
    return logical_name + "id"


def dyn_lookup(target: str) -> str:
    """Navigation property a KORE entity uses for its lookup to ``target`` (registry entity name)."""
    return f"koreps_{target.lower()}id"


def dyn_lookup_value(navigation: str) -> str:
    """Where Dataverse shows a lookup's id when read: ``_<navigation>_value``."""
    return f"_{navigation}_value"


def sf_relationship(target: str) -> str:
    return f"koreps__{target}__r"


def sf_lookup_field(target: str) -> str:
    return f"koreps__{target}__c"


@dataclass(frozen=True)
class Lookup:
    """One lookup column of a kore_*base table."""

    column: str  # e.g. season_key
    target: str  # registry entity, e.g. Season
    kind: str  # prerequisite | crm_reference

    @property
    def by_external_key(self) -> bool:
        return self.kind == "prerequisite" or self.target in REFERENCES_BY_EXTERNAL_KEY


@lru_cache(maxsize=256)
def lookups(entity: Entity) -> tuple[Lookup, ...]:
    """The lookup columns of a kore_*base table: one per prerequisite, then one per CRM reference."""
    out = [Lookup(f"{entity_snake(p)}_key", p, "prerequisite") for p in entity.prerequisites]
    out += [Lookup(f"{entity_snake(r)}_key", r, "crm_reference") for r in entity.crm_references]
    return tuple(out)


def crm_entity_name(entity: str | Entity, flavor: str) -> str:
    ent = by_name(entity) if isinstance(entity, str) else entity
    name = ent.crm_name(flavor)
    if not name:
        raise KeyError(f"{ent.entity} is not synced with {flavor}")
    return name


def dyn_bind_path(target: str, key: str) -> str:
    """The ``@odata.bind`` value pointing at ``target``'s record with KORE key (or CRM id) ``key``."""
    return _bind_format(target).format(odata_quote(key) if _bind_format(target).endswith("={})") else key)


@lru_cache(maxsize=256)
def _bind_format(target: str) -> str:
    ent = by_name(target)
    logical = ent.dynamics_entity
    if ent.direction == "kore_to_crm":
        return f"/{entity_set(logical)}({DYN_EXT_KEY}={{}})"
    if target in REFERENCES_BY_EXTERNAL_KEY:
        ext = field_spec(target).external_key_field("dynamics")
        return f"/{entity_set(logical)}({ext}={{}})"
    return f"/{entity_set(logical)}({{}})"


# -- CRM-owned entities (crm_field_map.csv) ------------------------------------------------------


@dataclass(frozen=True)
class FieldRow:
    entity: str
    kore_column: str
    dynamics_field: str
    salesforce_field: str
    data_type: str
    role: str  # key | modified | lookup | attr | external_key
    references: str
    max_length: int | None
    required: bool

    def field(self, flavor: str) -> str:
        return self.dynamics_field if flavor == "dynamics" else self.salesforce_field


@dataclass(frozen=True)
class EntityFields:
    entity: str
    rows: tuple[FieldRow, ...]

    def for_flavor(self, flavor: str) -> list[FieldRow]:
        return [r for r in self.rows if r.field(flavor)]

    def _role(self, flavor: str, role: str) -> str | None:
        return next((r.field(flavor) for r in self.for_flavor(flavor) if r.role == role), None)

    def id_field(self, flavor: str) -> str:
        return self._role(flavor, "key") or ""

    def modified_field(self, flavor: str) -> str:
        return self._role(flavor, "modified") or ""

    def external_key_field(self, flavor: str) -> str | None:
        return self._role(flavor, "external_key")

    def kore_to_field(self, flavor: str) -> dict[str, str]:
        return {r.kore_column: r.field(flavor) for r in self.for_flavor(flavor)}


@lru_cache(maxsize=1)
def _field_map() -> dict[str, EntityFields]:
    with open(FIELD_MAP_CSV, newline="", encoding="utf-8") as fh:
        rows = [
            FieldRow(
                entity=r["entity"],
                kore_column=r["kore_column"],
                dynamics_field=r["dynamics_field"],
                salesforce_field=r["salesforce_field"],
                data_type=r["data_type"],
                role=r["role"],
                references=r["references"],
                max_length=int(r["max_length"]) if r["max_length"] else None,
                required=r["required"] == "1",
            )
            for r in csv.DictReader(fh)
        ]
    out: dict[str, list[FieldRow]] = {}
    for r in rows:
        out.setdefault(r.entity, []).append(r)
    return {k: EntityFields(k, tuple(v)) for k, v in out.items()}


def field_spec(entity: str) -> EntityFields:
    """The crm_field_map.csv rows of a CRM-owned entity."""
    return _field_map()[entity]


def dyn_write_lookup(field_value_name: str) -> str:
    """Navigation property for writing a CRM-owned lookup read as ``_x_value`` (``x``)."""
    return field_value_name.removeprefix("_").removesuffix("_value")


def sf_relationship_of(field: str) -> str:
    """Relationship name of a Salesforce lookup field: ``AccountId`` → ``Account``, ``x__c`` → ``x__r``."""
    if field.endswith("__c"):
        return field[:-3] + "__r"
    if field.endswith("Id"):
        return field[:-2]
    raise ValueError(f"{field} is not a lookup field")
