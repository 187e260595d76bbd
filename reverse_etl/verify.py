"""Pre-flight of the push (``kore crm verify``): does the org have every table and field the push needs?

Why before the push: a field the org lacks fails every row that carries it, after the push has
started writing; reading the org's metadata first (Dataverse table definitions, Salesforce
``describe``, through the client, cached) lists all of them at once and writes nothing.

What the push needs is what it would send: the body fields of the rows built from the warehouse
exactly as the push builds them (attributes, lookups, external keys), plus each table's id and
external-key fields; an entity whose source table is missing still needs its table, key and name.
"""

from __future__ import annotations

from typing import Any

from crm_clients import CrmClient, make_client
from kore.config import Settings
from kore.contracts import crm_names
from kore.registry import Entity
from kore.warehouse import connect
from reverse_etl.push import push_order
from reverse_etl.results import EntityResult
from reverse_etl.sources import Sources


def needed_fields(entity: Entity, client: CrmClient, sources: Sources | None) -> set[str]:
    """Every field of the entity's CRM table the push would write or key on."""
    target = client.target(entity)
    fields = {f for f in (target.id_field, target.ext_field) if f}
    if entity.direction == "kore_to_crm":
        fields |= {f for f in client.kore_fields("k", "n") if f}
        for lk in crm_names.lookups(entity):
            fields.add(client.lookup_field(lk, "k")[0])
    batches = sources.batches(entity, EntityResult()) if sources is not None else None
    for rows in batches or []:
        for row in rows:
            fields |= set(row.body)
    # Dataverse: `nav@odata.bind` sets the lookup attribute `nav`
    return {f.split("@", 1)[0] for f in fields if not f.startswith("@")}


def verify(
    settings: Settings, base_url: str, flavor: str, credentials: dict[str, str], entities: list[str] | None = None
) -> dict[str, Any]:
    """{ok, checked, missing_entities, missing_fields}: what the org lacks for the push (nothing is
    written; the warehouse is read when it exists, for the fields the rows would carry)."""
    client = make_client(flavor, base_url, credentials, settings.crm_timeout)
    client.open()
    missing_entities: list[str] = []
    missing_fields: dict[str, list[str]] = {}
    order = push_order(flavor, entities)
    wh_exists = settings.target != "duckdb" or settings.duckdb_path.exists()
    if wh_exists:
        with connect(settings) as wh:
            sources = Sources(settings, wh, client)
            needs = {e.entity: needed_fields(e, client, sources) for e in order}
    else:
        needs = {e.entity: needed_fields(e, client, None) for e in order}
    for ent in order:
        crm_name = client.target(ent).crm_name
        have = client.fields_of(crm_name)
        if have is None:
            missing_entities.append(f"{ent.entity} ({crm_name})")
            continue
        lacking = sorted(needs[ent.entity] - have)
        if lacking:
            missing_fields[f"{ent.entity} ({crm_name})"] = lacking
    return {
        "ok": not missing_entities and not missing_fields,
        "flavor": flavor,
        "checked_entities": len(order),
        "checked_fields": sum(len(v) for v in needs.values()),
        "missing_entities": missing_entities,
        "missing_fields": missing_fields,
    }
