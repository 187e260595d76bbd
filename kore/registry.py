"""The entity registry: every entity that syncs between the CRM and the warehouse.

Source of truth is the dbt seed ``dbt_project/seeds/entity_registry.csv``, transcribed from
``shared/seeds/003_*.txt`` (with the extraction defects fixed as ``shared/seeds/README.md`` says).
dbt reads it as a seed; the CRM pull/push, the sandbox CRM and the tests read it through this module.

Documented columns: ``sync_order`` and ``sync_order_new_sf`` are what the vendor documents and may be
empty. Derived columns (``run_order``, ``run_order_new_sf``, ``dependency_level``, ``order_note``) are
computed by :func:`derive_orders` and written back with ``python -m kore.registry --write``; a test
asserts the file equals the derivation, so nobody hand-edits a derived value.

How the derived order works (a topological sort that keeps the documented order):
- an entity must come after each of its prerequisites (only prerequisites in the same direction
  order a run; CRM-owned parents a KORE entity references are listed in ``crm_references`` and are
  satisfied by the contact/account push that runs before any KORE entity);
- among entities whose prerequisites are done, the one with the smallest *priority* goes next. A
  documented entity's priority is its documented order. An undocumented one inherits the smallest
  priority of the documented entities that (transitively) depend on it, just below it, so it runs
  just in time (PremiumDeal just before Billing); one nothing documented depends on runs last,
  by dependency level, then name.
- For the "new Salesforce" column, the five documented entities come first in their documented
  order, then everything else in its main derived order.
"""

from __future__ import annotations

import csv
import math
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from kore.config import DBT_PROJECT_DIR

REGISTRY_CSV = DBT_PROJECT_DIR / "seeds" / "entity_registry.csv"
DOCUMENTED_COLUMNS = [
    "entity",
    "direction",
    "product_area",
    "dynamics_entity",
    "salesforce_entity",
    "kore_table",
    "sync_order",
    "sync_order_new_sf",
    "prerequisites",
    "crm_references",
    "note",
]
DERIVED_COLUMNS = ["run_order", "run_order_new_sf", "dependency_level", "order_note"]
NOT_SYNCED = "not synced"


@dataclass(frozen=True)
class Entity:
    entity: str
    direction: str  # crm_to_kore | kore_to_crm
    product_area: str
    dynamics_entity: str
    salesforce_entity: str  # or "not synced"
    kore_table: str
    sync_order: int | None
    sync_order_new_sf: int | None
    prerequisites: tuple[str, ...]
    crm_references: tuple[str, ...]
    note: str
    run_order: int = 0
    run_order_new_sf: int = 0
    dependency_level: int = 0
    order_note: str = ""

    def crm_name(self, flavor: str) -> str | None:
        """The entity's name in the given CRM flavour, or None where it is not synced there."""
        name = self.dynamics_entity if flavor == "dynamics" else self.salesforce_entity
        return None if name == NOT_SYNCED else name

    @property
    def model_name(self) -> str:
        """The dbt model that holds this entity (the KORE table name, lower-cased)."""
        return self.kore_table.lower()


def _split(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(";") if v.strip())


def _int(value: str) -> int | None:
    return int(value) if (value or "").strip() else None


def read_documented(path: Path = REGISTRY_CSV) -> list[Entity]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [
        Entity(
            entity=r["entity"],
            direction=r["direction"],
            product_area=r["product_area"],
            dynamics_entity=r["dynamics_entity"],
            salesforce_entity=r["salesforce_entity"],
            kore_table=r["kore_table"],
            sync_order=_int(r["sync_order"]),
            sync_order_new_sf=_int(r["sync_order_new_sf"]),
            prerequisites=_split(r["prerequisites"]),
            crm_references=_split(r["crm_references"]),
            note=r["note"],
        )
        for r in rows
    ]


class RegistryError(ValueError):
    pass


def validate(entities: list[Entity]) -> None:
    """Raise RegistryError on unknown prerequisites, cycles, or clashing documented orders."""
    names = {e.entity for e in entities}
    by_name = {e.entity: e for e in entities}
    for e in entities:
        for p in e.prerequisites + e.crm_references:
            if p not in names:
                raise RegistryError(f"{e.entity}: prerequisite {p!r} is not a known entity")
        for p in e.prerequisites:
            if by_name[p].direction != e.direction:
                raise RegistryError(f"{e.entity}: prerequisite {p} syncs the other way; list it in crm_references")
        for p in e.crm_references:
            if by_name[p].direction != "crm_to_kore":
                raise RegistryError(f"{e.entity}: crm_reference {p} is not CRM-owned")
    for direction in ("crm_to_kore", "kore_to_crm"):
        for col in ("sync_order", "sync_order_new_sf"):
            seen: dict[int, str] = {}
            for e in entities:
                v = getattr(e, col)
                if e.direction != direction or v is None:
                    continue
                # Several Dynamics activity entities share one KORE table but each has its own order.
                if v in seen:
                    raise RegistryError(f"{col} {v} is claimed by both {seen[v]} and {e.entity} ({direction})")
                seen[v] = e.entity
    _levels(entities)  # raises on cycles


def _levels(entities: list[Entity]) -> dict[str, int]:
    by_name = {e.entity: e for e in entities}
    levels: dict[str, int] = {}
    visiting: set[str] = set()

    def level(name: str) -> int:
        if name in levels:
            return levels[name]
        if name in visiting:
            raise RegistryError(f"prerequisite cycle through {name}")
        visiting.add(name)
        prereqs = by_name[name].prerequisites
        levels[name] = 0 if not prereqs else 1 + max(level(p) for p in prereqs)
        visiting.discard(name)
        return levels[name]

    for e in entities:
        level(e.entity)
    return levels


def _kahn(entities: list[Entity], priority: dict[str, tuple]) -> list[str]:
    remaining = {e.entity: set(e.prerequisites) for e in entities}
    order: list[str] = []
    while remaining:
        ready = [n for n, deps in remaining.items() if not deps]
        if not ready:
            raise RegistryError("prerequisite cycle among " + ", ".join(sorted(remaining)))
        nxt = min(ready, key=lambda n: priority[n])
        order.append(nxt)
        del remaining[nxt]
        for deps in remaining.values():
            deps.discard(nxt)
    return order


def _inherited_priority(
    name: str, group: list[Entity], dependents: dict[str, set[str]], seen: frozenset[str] = frozenset()
) -> float:
    """Smallest documented order among the entities that (transitively) depend on ``name``."""
    by_name = {x.entity: x for x in group}
    best = math.inf
    for d in dependents[name]:
        if d in seen:
            continue
        de = by_name[d]
        cand = de.sync_order if de.sync_order is not None else _inherited_priority(d, group, dependents, seen | {name})
        best = min(best, cand)
    return best


def derive_orders(entities: list[Entity]) -> list[Entity]:
    """Fill run_order, run_order_new_sf, dependency_level and order_note (see module docstring)."""
    validate(entities)
    levels = _levels(entities)
    out: dict[str, Entity] = {}
    for direction in ("crm_to_kore", "kore_to_crm"):
        group = [e for e in entities if e.direction == direction]
        dependents: dict[str, set[str]] = {e.entity: set() for e in group}
        for e in group:
            for p in e.prerequisites:
                dependents[p].add(e.entity)

        prio: dict[str, tuple] = {}
        notes: dict[str, str] = {}
        for e in group:
            if e.sync_order is not None:
                prio[e.entity] = (float(e.sync_order), 0, levels[e.entity], e.entity)
                notes[e.entity] = "documented"
            else:
                inh = _inherited_priority(e.entity, group, dependents)
                if math.isfinite(inh):
                    # just below the documented dependent; deeper prerequisites go first
                    prio[e.entity] = (inh - 0.5, levels[e.entity], levels[e.entity], e.entity)
                    notes[e.entity] = f"derived: runs just before its documented dependent at order {inh:g}"
                else:
                    prio[e.entity] = (math.inf, levels[e.entity], levels[e.entity], e.entity)
                    notes[e.entity] = f"derived: after all documented entities, at dependency level {levels[e.entity]}"
        order = _kahn(group, prio)
        rank = {n: i + 1 for i, n in enumerate(order)}
        prio_sf = {
            e.entity: (0, e.sync_order_new_sf) if e.sync_order_new_sf is not None else (1, rank[e.entity])
            for e in group
        }
        order_sf = _kahn(group, prio_sf)
        rank_sf = {n: i + 1 for i, n in enumerate(order_sf)}
        for e in group:
            note = notes[e.entity]
            if e.sync_order is not None and rank[e.entity] != e.sync_order:
                note += f"; renumbered from {e.sync_order} to make room for derived entities"
            out[e.entity] = Entity(
                **{
                    **e.__dict__,
                    "run_order": rank[e.entity],
                    "run_order_new_sf": rank_sf[e.entity],
                    "dependency_level": levels[e.entity],
                    "order_note": note,
                }
            )
    return [out[e.entity] for e in entities]


def _row(e: Entity) -> dict[str, str]:
    row = {}
    for col in DOCUMENTED_COLUMNS + DERIVED_COLUMNS:
        v = getattr(e, col)
        if isinstance(v, tuple):
            v = ";".join(v)
        row[col] = "" if v is None else str(v)
    return row


def write(entities: list[Entity], path: Path = REGISTRY_CSV) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=DOCUMENTED_COLUMNS + DERIVED_COLUMNS, lineterminator="\n")
        w.writeheader()
        for e in entities:
            w.writerow(_row(e))


@lru_cache(maxsize=1)
def load() -> tuple[Entity, ...]:
    """The registry with derived columns, as stored in the seed (validated)."""
    with open(REGISTRY_CSV, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    stored = {r["entity"]: r for r in rows}
    entities = derive_orders(read_documented())
    for e in entities:
        if _row(e) != {k: stored[e.entity].get(k, "") for k in _row(e)}:
            raise RegistryError(
                f"{REGISTRY_CSV.name}: derived columns of {e.entity} are stale; run `python -m kore.registry --write`"
            )
    return tuple(entities)


def crm_to_kore(flavor: str | None = None) -> list[Entity]:
    """CRM-owned entities in pull order (optionally only those synced from the given flavour)."""
    ents = [e for e in load() if e.direction == "crm_to_kore"]
    if flavor:
        ents = [e for e in ents if e.crm_name(flavor)]
    return sorted(ents, key=lambda e: e.run_order)


def kore_to_crm(flavor: str = "dynamics") -> list[Entity]:
    """KORE-owned entities in push order for the flavour (Salesforce uses the 'new SF' order)."""
    ents = [e for e in load() if e.direction == "kore_to_crm"]
    key = (lambda e: e.run_order_new_sf) if flavor == "salesforce" else (lambda e: e.run_order)
    return sorted(ents, key=key)


def by_name(name: str) -> Entity:
    for e in load():
        if e.entity == name:
            return e
    raise KeyError(name)


if __name__ == "__main__":
    if "--write" in sys.argv:
        write(derive_orders(read_documented()))
        print(f"wrote {REGISTRY_CSV}")
    else:
        for e in sorted(load(), key=lambda e: (e.direction, e.run_order)):
            print(f"{e.direction:12} {e.run_order:3} {e.run_order_new_sf:3} {e.entity:30} {e.order_note}")
