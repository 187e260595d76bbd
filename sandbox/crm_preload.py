"""Data a client's CRM already holds before KORE arrives.

Two sources, loaded only into an empty store:
- ``<sandbox_dir>/crm_seed/*.jsonl`` written by the sandbox generator (``sandbox.crm_seed``: users,
  countries, states, industries, accounts, contacts) in KORE column names (``crm_field_map.csv``);
  this module renames them to the flavour's field names and keeps ``crm_id`` and ``modified_at``.
  Lookup columns hold the parent's ``crm_id``. (``<entity_snake>.csv[.gz]`` is read the same way.)
- a few synthetic records for every CRM-owned entity the flavour syncs that the seed does not
  cover (leads, campaigns, lists, activities, notes, cases, opportunities, related ticketing
  names...), so a pull has something to read for every entity. Entities the seed covers get no
  synthetic rows: made-up contacts would be people the dedup ground truth does not know.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from kore.contracts import crm_names
from kore.registry import crm_to_kore
from sandbox.crm_schema import resolve
from sandbox.crm_store import CrmStore, parse_ts

SYNTHETIC_ROWS = 6


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".jsonl":
        return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))


def api_timestamp(value: str, flavor: str) -> str:
    """A seed timestamp (``YYYY-MM-DD HH:MM:SS``, UTC) as the flavour's API writes timestamps."""
    ts = parse_ts(value)
    if flavor == "dynamics":
        return ts.strftime("%Y-%m-%dT%H:%M:%SZ")
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}+0000"


def _plural(word: str) -> str:
    return word[:-1] + "ies" if word.endswith("y") else word + "s"


def seed_files(seed_dir: Path) -> dict[str, Path]:
    """Seed file per registry entity (by ``entity_snake`` file stem)."""
    out: dict[str, Path] = {}
    if not seed_dir.is_dir():
        return out
    names = {crm_names.entity_snake(e.entity): e.entity for e in crm_to_kore()}
    names.update({_plural(k): v for k, v in names.items()})
    names["states"] = "StateOrProvince"
    for p in sorted(seed_dir.iterdir()):
        stem = p.name.split(".")[0]
        if stem in names and p.suffix in (".csv", ".gz", ".jsonl"):
            out[names[stem]] = p
    return out


def load_seed(store: CrmStore, seed_dir: Path) -> dict[str, int]:
    """Load the generator's CRM seed (KORE column names) into the flavour's tables."""
    counts: dict[str, int] = {}
    flavor = store.flavor
    files = seed_files(seed_dir)
    order = [e.entity for e in crm_to_kore(flavor)]
    with store.transaction() as con:
        for entity in order:
            if entity not in files:
                continue
            spec = resolve(flavor, crm_names.crm_entity_name(entity, flavor))
            fmap = crm_names.field_spec(entity).kore_to_field(flavor)
            stamps = {
                r.field(flavor) for r in crm_names.field_spec(entity).for_flavor(flavor) if r.data_type == "timestamp"
            }
            n = 0
            for row in _read_rows(files[entity]):
                rid = row.get("crm_id") or store.new_id()
                data = {
                    fmap[k]: (v if v != "" else None)
                    for k, v in row.items()
                    if k in fmap and k not in ("crm_id", "modified_at")
                }
                for f in stamps & data.keys():
                    if data[f]:
                        data[f] = api_timestamp(str(data[f]), flavor)
                store.insert_raw(con, spec, str(rid), data, modified=row.get("modified_at") or None)
                n += 1
            counts[entity] = n
    return counts


def _value(row: crm_names.FieldRow, entity: str, i: int, rng: random.Random) -> Any:
    col = row.kore_column
    if row.data_type == "date":
        return (date(2026, 1, 1) + timedelta(days=rng.randint(0, 300))).isoformat()
    if row.data_type == "timestamp":
        ts = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 400_000))
        return ts.strftime("%Y-%m-%dT%H:%M:%SZ")
    if row.data_type == "decimal":
        return round(rng.uniform(1, 5000), 2)
    special = {
        "email": f"{entity.lower()}{i}@example.org",
        "phone": f"+1555{rng.randint(1000000, 9999999)}",
        "mobile_phone": f"+1555{rng.randint(1000000, 9999999)}",
        "currency_code": ["USD", "CAD", "EUR", "GBP", "MXN", "JPY"][i % 6],
        "iso_code": ["US", "CA", "MX", "GB", "FR", "DE"][i % 6],
        "abbreviation": ["NY", "CA", "TX", "ON", "QC", "FL"][i % 6],
        "status": ["Open", "Completed", "Cancelled"][i % 3],
        # Salesforce Task.TaskSubtype is a restricted picklist of task kinds (Task, Email, Call, ...):
        # https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_task.htm
        # Appointments are the separate Event object, so no Task row stands for one.
        "activity_subtype": ["Task", "Call"][i % 2],
        "archtics_account_id": str(900000 + i),
        "archtics_name_id": str(i % 3),
        "postal_code": f"{10000 + i:05d}",
    }
    if col in special:
        return special[col]
    text = f"{entity} {col.replace('_', ' ')} {i}"
    return text[: row.max_length] if row.max_length else text


def synthesize(store: CrmStore, seed: int = 7, skip: set[str] | frozenset[str] = frozenset()) -> dict[str, int]:
    """A few records for every CRM-owned entity of the flavour (except ``skip``), lookups pointing
    at earlier ones (seeded or synthetic)."""
    rng = random.Random(seed)
    flavor = store.flavor
    counts: dict[str, int] = {}
    ids: dict[str, list[str]] = {}
    with store.transaction() as con:
        for ent in crm_to_kore(flavor):
            spec = resolve(flavor, crm_names.crm_entity_name(ent, flavor))
            for r in con.execute("select id from records where tbl = ?", [spec.name]).fetchall():
                ids.setdefault(ent.entity, []).append(r[0])
            if ent.entity in skip:
                continue
            fields = crm_names.field_spec(ent.entity)
            made = []
            for i in range(1, SYNTHETIC_ROWS + 1):
                data: dict[str, Any] = {}
                for row in fields.for_flavor(flavor):
                    f = row.field(flavor)
                    if row.role in ("key", "modified", "external_key"):
                        continue
                    if row.role == "lookup":
                        parents = ids.get(row.references) or []
                        data[f] = rng.choice(parents) if parents else None
                    elif row.kore_column in ("regarding_id", "contact_id"):
                        parents = ids.get("Contact") or []
                        data[f] = rng.choice(parents) if parents else None
                    else:
                        data[f] = _value(row, ent.entity, i, rng)
                rid = store.new_id()
                # spread over the past year like real CRM data, so an incremental boundary is one row
                modified = datetime(2025, 11, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 360 * 86_400))
                store.insert_raw(con, spec, rid, data, modified=modified.isoformat())
                made.append(rid)
            ids.setdefault(ent.entity, []).extend(made)
            counts[ent.entity] = len(made)
    return counts
