"""What each table of the sandbox CRM looks like and how a write is validated, per flavour.

CRM-owned entities come from ``crm_field_map.csv`` (types, lengths, required flags, lookups);
KORE-owned entities from the naming rules in ``kore.contracts.crm_names``. The sandbox refuses what
a real CRM refuses (unknown fields, missing required values, too-long text, lookups to records that
do not exist), so a client bug shows up as a failed record here rather than in production.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from kore.contracts import crm_names, kore_apps, record_state
from kore.registry import load


@dataclass(frozen=True)
class LookupSpec:
    stored_as: str  # field that holds the parent's id when read
    target: str  # CRM table name of the parent (flavour's name)
    write_names: tuple[str, ...]  # Dynamics navigation properties / Salesforce relationship + id field names


@dataclass(frozen=True)
class TableSpec:
    """One CRM table (Dynamics logical name or Salesforce object)."""

    name: str
    flavor: str
    entities: tuple[str, ...]  # registry entities stored here (Salesforce Task holds two)
    id_field: str
    modified_field: str
    ext_field: str | None
    fields: dict[str, tuple[int | None, bool]] = field(default_factory=dict)  # field -> (max_len, required)
    lookups: tuple[LookupSpec, ...] = ()
    attribute_prefix: str | None = None  # KORE-owned: any attribute with this prefix is accepted
    attribute_suffix: str = ""
    kore_owned: bool = False
    attributes: tuple[str, ...] = ()  # KORE-owned: the attribute fields the org's metadata lists

    def declared_fields(self) -> dict[str, tuple[int | None, bool]]:
        """Every field the org defines on this table (what its metadata lists), lookups aside."""
        extra = dict.fromkeys(self.attributes, (crm_names.ATTRIBUTE_MAX_LENGTH, False))
        state = dict.fromkeys(record_state.state_fields(self.flavor), (40, False))
        return {**self.fields, **state, **extra}

    @property
    def entity_set(self) -> str:
        return _entity_set(self.name)

    def lookup_for_write(self, name: str) -> LookupSpec | None:
        for lk in self.lookups:
            if name in lk.write_names:
                return lk
        return None

    def lookup_by_stored(self, name: str) -> LookupSpec | None:
        return next((lk for lk in self.lookups if lk.stored_as == name), None)

    def check_field(self, name: str) -> tuple[int | None, bool] | None:
        if name in self.fields:
            return self.fields[name]
        if name in record_state.state_fields(self.flavor):  # every table has a state (see record_state)
            return (40, False)
        if self.attribute_prefix and name.startswith(self.attribute_prefix) and name.endswith(self.attribute_suffix):
            return (crm_names.ATTRIBUTE_MAX_LENGTH, False)
        return None


@lru_cache(maxsize=256)
def _entity_set(name: str) -> str:
    return collection_name(name)


def collection_name(logical: str) -> str:
    """The English plural Dataverse gives a table's entity set (its LogicalCollectionName):
    ``fax`` → ``faxes``, ``opportunity`` → ``opportunities``. The sandbox's own rule, never the client's."""
    if re.search(r"[^aeiou]y$", logical):
        return logical[:-1] + "ies"
    if re.search(r"(s|x|z|ch|sh)$", logical):
        return logical + "es"
    return logical + "s"


def _crm_owned(flavor: str) -> dict[str, TableSpec]:
    tables: dict[str, TableSpec] = {}
    for ent in load():
        if ent.direction != "crm_to_kore" or not ent.crm_name(flavor):
            continue
        name = ent.crm_name(flavor)
        if name in tables:  # entities sharing one CRM table share its fields (none in today's registry)
            t = tables[name]
            tables[name] = TableSpec(**{**t.__dict__, "entities": t.entities + (ent.entity,)})
            continue
        spec = crm_names.field_spec(ent.entity)
        fields: dict[str, tuple[int | None, bool]] = {}
        lookups: list[LookupSpec] = []
        for r in spec.for_flavor(flavor):
            f = r.field(flavor)
            if r.role == "lookup":
                target = crm_names.by_name(r.references).crm_name(flavor)
                if flavor == "dynamics":
                    nav = crm_names.dyn_write_lookup(f)
                    lookups.append(LookupSpec(f, target, (nav, f"{nav}_{target}")))
                else:
                    lookups.append(LookupSpec(f, target, (crm_names.sf_relationship_of(f), f)))
            elif r.role in ("attr", "external_key"):
                fields[f] = (r.max_length, r.required)
        tables[name] = TableSpec(
            name=name,
            flavor=flavor,
            entities=(ent.entity,),
            id_field=spec.id_field(flavor),
            modified_field=spec.modified_field(flavor),
            ext_field=spec.external_key_field(flavor),
            fields=fields,
            lookups=tuple(lookups),
        )
    return tables


def _app_attributes(entity: str) -> list[str]:
    """The kore_*base attribute columns of a KORE app entity (its app fields that are not FKs)."""
    if entity not in kore_apps.SPEC:
        return []
    out = []
    for f in kore_apps.SPEC[entity]:
        if f.ref and not f.ref.startswith("crm:"):
            continue
        out.append("archtics_acct_id" if f.name == "acct_id" else f.name)
    return out + ["created_at"]


def _kore_owned(flavor: str) -> dict[str, TableSpec]:
    tables: dict[str, TableSpec] = {}
    for ent in load():
        if ent.direction != "kore_to_crm":
            continue
        name = ent.crm_name(flavor)
        attr = crm_names.dyn_attribute if flavor == "dynamics" else crm_names.sf_attribute
        attributes = tuple(attr(c) for c in _app_attributes(ent.entity))
        lookups = []
        for lk in crm_names.lookups(ent):
            target = crm_names.by_name(lk.target).crm_name(flavor) or lk.target
            if flavor == "dynamics":
                nav = crm_names.dyn_lookup(lk.target)
                lookups.append(LookupSpec(crm_names.dyn_lookup_value(nav), target, (nav,)))
            else:
                fld = crm_names.sf_lookup_field(lk.target)
                lookups.append(LookupSpec(fld, target, (crm_names.sf_relationship(lk.target), fld)))
        if flavor == "dynamics":
            spec = TableSpec(
                name=name,
                flavor=flavor,
                entities=(ent.entity,),
                id_field=crm_names.dyn_id_field(name),
                modified_field="modifiedon",
                ext_field=crm_names.DYN_EXT_KEY,
                fields={
                    crm_names.DYN_EXT_KEY: (crm_names.EXTERNAL_KEY_MAX_LENGTH, True),
                    crm_names.DYN_NAME: (crm_names.NAME_MAX_LENGTH, True),
                },
                lookups=tuple(lookups),
                attribute_prefix="koreps_",
                kore_owned=True,
                attributes=attributes,
            )
        else:
            spec = TableSpec(
                name=name,
                flavor=flavor,
                entities=(ent.entity,),
                id_field="Id",
                modified_field="SystemModstamp",
                ext_field=crm_names.SF_EXT_KEY,
                fields={
                    crm_names.SF_EXT_KEY: (crm_names.EXTERNAL_KEY_MAX_LENGTH, True),
                    crm_names.SF_NAME: (crm_names.NAME_MAX_LENGTH, True),
                },
                lookups=tuple(lookups),
                attribute_prefix="koreps__",
                attribute_suffix="__c",
                kore_owned=True,
                attributes=attributes,
            )
        tables[name] = spec
    return tables


@lru_cache(maxsize=2)
def tables(flavor: str) -> dict[str, TableSpec]:
    """Every table of the flavour's CRM, by its CRM name."""
    if flavor not in ("dynamics", "salesforce"):
        raise ValueError(f"unknown CRM flavour {flavor!r}")
    return {**_crm_owned(flavor), **_kore_owned(flavor)}


@lru_cache(maxsize=2)
def by_entity_set(flavor: str) -> dict[str, TableSpec]:
    return {t.entity_set: t for t in tables(flavor).values()}


def resolve(flavor: str, name: str) -> TableSpec:
    """A table by CRM name, entity-set name or registry entity name."""
    ts = tables(flavor)
    if name in ts:
        return ts[name]
    sets = by_entity_set(flavor)
    if name in sets:
        return sets[name]
    for t in ts.values():
        if name in t.entities:
            return t
    raise KeyError(f"{flavor} has no table {name!r}")
