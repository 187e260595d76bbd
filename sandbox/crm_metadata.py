"""The org metadata of the sandbox CRM: what a client reads to learn the org's tables and fields.

Dataverse (Web API table definitions), as documented at
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/use-web-api-metadata and
https://learn.microsoft.com/power-apps/developer/data-platform/webapi/web-api-service-documents:
``GET EntityDefinitions`` (``$select``, ``$filter`` on ``LogicalName``/``SchemaName``/``IsPrivate``
joined by ``and``), ``EntityDefinitions(LogicalName='x')`` or ``EntityDefinitions(<MetadataId>)``,
their ``/Attributes`` (and the ``/Microsoft.Dynamics.CRM.PicklistAttributeMetadata`` cast, empty:
the sandbox has no option sets), the service document and the CSDL ``$metadata``.

Salesforce (REST API), as documented at
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_describeGlobal.htm
and https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_sobject_describe.htm:
``GET sobjects/`` (global describe) and ``GET sobjects/{Object}/describe`` (fields with ``name``,
``type``, ``length``, ``externalId``, ``nillable``, ``referenceTo``, ``relationshipName``).

Entity-set names are the sandbox's own (``crm_schema.collection_name``: English plurals as Dataverse
makes them), never the client's rule; ``entity_sets`` overrides
them per table so tests can prove a client reads them from here.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from xml.sax.saxutils import escape

from sandbox import crm_schema

_NS = uuid.UUID("6f1f3c52-5f5e-4d8e-9c44-3b1f0f0b6a11")


def metadata_id(name: str) -> str:
    return str(uuid.uuid5(_NS, name))


def _required(required: bool) -> dict[str, Any]:
    return {"Value": "ApplicationRequired" if required else "None", "CanBeChanged": True}


def dyn_entity(spec: crm_schema.TableSpec, entity_set: str) -> dict[str, Any]:
    """One ``EntityMetadata`` (the properties clients select)."""
    name_attr = next((f for f in spec.fields if f.endswith("name")), None)
    return {
        "MetadataId": metadata_id(spec.name),
        "LogicalName": spec.name,
        "SchemaName": spec.name,
        "EntitySetName": entity_set,
        "LogicalCollectionName": entity_set,
        "CollectionSchemaName": entity_set,
        "PrimaryIdAttribute": spec.id_field,
        "PrimaryNameAttribute": name_attr,
        "IsPrivate": False,
        "IsCustomEntity": spec.name.startswith(("koreps_", "kore_")),
    }


def dyn_attributes(spec: crm_schema.TableSpec) -> list[dict[str, Any]]:
    """The ``AttributeMetadata`` of a table: id, modified-on, fields, lookups (``_x_value`` → ``x``)."""
    out = [
        {"LogicalName": spec.id_field, "AttributeType": "Uniqueidentifier", "IsPrimaryId": True},
        {"LogicalName": spec.modified_field, "AttributeType": "DateTime"},
    ]
    for f, (max_len, required) in spec.declared_fields().items():
        out.append(
            {"LogicalName": f, "AttributeType": "String", "MaxLength": max_len, "RequiredLevel": _required(required)}
        )
    for lk in spec.lookups:
        nav = lk.write_names[0]
        out.append({"LogicalName": nav, "AttributeType": "Lookup", "Targets": [lk.target]})
    for a in out:
        a.setdefault("RequiredLevel", _required(False))
        a["MetadataId"] = metadata_id(f"{spec.name}.{a['LogicalName']}")
        a["SchemaName"] = a["LogicalName"]
    return out


_COND = re.compile(r"^\(?\s*(\w+)\s+eq\s+('(?:[^']|'')*'|true|false)\s*\)?$", re.I)


def dyn_filter(items: list[dict[str, Any]], flt: str) -> list[dict[str, Any]]:
    """``$filter`` of ``prop eq 'v'`` / ``prop eq true|false`` terms joined by ``and``."""
    for term in re.split(r"\s+and\s+", flt.strip(), flags=re.I) if flt.strip() else []:
        m = _COND.match(term.strip())
        if not m:
            raise ValueError(f"unsupported $filter term: {term}")
        prop, raw = m.groups()
        value: Any = raw.lower() == "true" if raw.lower() in ("true", "false") else raw[1:-1].replace("''", "'")
        items = [i for i in items if _eq(i.get(prop), value)]
    return items


def _eq(have: Any, want: Any) -> bool:
    if isinstance(want, bool):
        return have is want
    return str(have).lower() == str(want).lower()  # Dataverse compares names case-insensitively


def select(item: dict[str, Any], sel: str) -> dict[str, Any]:
    props = [p.strip() for p in sel.split(",") if p.strip()]
    return {p: item.get(p) for p in props} if props else item


def csdl(tables: list[tuple[crm_schema.TableSpec, str]]) -> bytes:
    """The CSDL ``$metadata`` document: one EntityType (key, properties) and EntitySet per table."""
    types, sets = [], []
    for spec, entity_set in tables:
        props = [f'<Property Name="{escape(spec.id_field)}" Type="Edm.Guid" />']
        props.append(f'<Property Name="{escape(spec.modified_field)}" Type="Edm.DateTimeOffset" />')
        props += [f'<Property Name="{escape(f)}" Type="Edm.String" />' for f in spec.declared_fields()]
        navs = [
            f'<NavigationProperty Name="{escape(lk.write_names[0])}" Type="mscrm.{escape(lk.target)}" />'
            for lk in spec.lookups
        ]
        types.append(
            f'<EntityType Name="{escape(spec.name)}"><Key><PropertyRef Name="{escape(spec.id_field)}" /></Key>'
            + "".join(props + navs)
            + "</EntityType>"
        )
        sets.append(f'<EntitySet Name="{escape(entity_set)}" EntityType="mscrm.{escape(spec.name)}" />')
    doc = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>'
        '<Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm">'
        + "".join(types)
        + '<EntityContainer Name="System">'
        + "".join(sets)
        + "</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>"
    )
    return doc.encode()


# -- Salesforce ----------------------------------------------------------------------------------


def sf_field(name: str, ftype: str, **kw: Any) -> dict[str, Any]:
    base = {
        "name": name,
        "label": name,
        "type": ftype,
        "length": 0,
        "nillable": True,
        "externalId": False,
        "idLookup": name == "Id",
        "createable": name not in ("Id", "SystemModstamp"),
        "updateable": name not in ("Id", "SystemModstamp"),
        "custom": name.endswith("__c"),
        "referenceTo": [],
        "relationshipName": None,
    }
    return {**base, **kw}


def sf_describe(spec: crm_schema.TableSpec) -> dict[str, Any]:
    """``sobjects/{Object}/describe`` of one table."""
    fields = [sf_field("Id", "id", length=18, nillable=False), sf_field(spec.modified_field, "datetime")]
    for f, (max_len, required) in spec.declared_fields().items():
        is_ext = f == spec.ext_field
        fields.append(
            sf_field(f, "string", length=max_len or 255, nillable=not required, externalId=is_ext, idLookup=is_ext)
        )
    for lk in spec.lookups:
        rel = next((n for n in lk.write_names if n != lk.stored_as), None)
        fields.append(sf_field(lk.stored_as, "reference", length=18, referenceTo=[lk.target], relationshipName=rel))
    return {
        "name": spec.name,
        "label": spec.name,
        "custom": spec.name.endswith("__c"),
        "createable": True,
        "updateable": True,
        "queryable": True,
        "fields": fields,
        "urls": {"describe": f"/services/data/vXX.X/sobjects/{spec.name}/describe"},
    }


def sf_global(specs: list[crm_schema.TableSpec]) -> dict[str, Any]:
    """``sobjects/`` (describeGlobal)."""
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [
            {"name": s.name, "label": s.name, "custom": s.name.endswith("__c"), "queryable": True} for s in specs
        ],
    }
