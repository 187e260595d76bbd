"""Shared builders for the CRM sync tests (no tests here).

Until the dbt kore_*base models and dedup outputs exist in a test warehouse, the tests create
small tables with the documented columns (docs/architecture.md "Modelled tables"): generated
generically from the registry's prerequisites, so every KORE-owned entity is covered.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd

from kore.config import Settings
from kore.contracts import crm_names
from kore.registry import kore_to_crm
from kore.warehouse import connect

CONTACTS = [
    dict(
        contact_key="K1",
        crm_contact_id=None,
        first_name="Ann",
        last_name="Lee",
        email="ann@example.org",
        phone="15550001",
        street="1 Main St",
        city="Springfield",
        state="IL",
        zip5="62701",
        company=None,
        birth_date=None,
        primary_acct_id="100",
        account_key="AHH1",
        account_rule="household",
    ),
    dict(
        contact_key="K2",
        crm_contact_id=None,
        first_name="Bo",
        last_name="Chan",
        email="bo@example.org",
        phone=None,
        street=None,
        city="Peoria",
        state="IL",
        zip5="61602",
        company="Acme Corp",
        birth_date="1980-02-03",
        primary_acct_id="200",
        account_key="ACO2",
        account_rule="company",
    ),
    dict(
        contact_key="K3",
        crm_contact_id=None,
        first_name="Cy",
        last_name="Diaz",
        email=None,
        phone=None,
        street=None,
        city=None,
        state=None,
        zip5=None,
        company=None,
        birth_date=None,
        primary_acct_id="300",
        account_key="APN3",
        account_rule="person",
    ),
]


def _h(*values: object) -> str:
    return hashlib.md5("|".join("" if v is None else str(v) for v in values).encode()).hexdigest()


def kore_tables(rows_per_entity: int = 3, user_id: str | None = None) -> dict[str, pd.DataFrame]:
    """One small kore_*base table per KORE-owned entity; row i of a child points at row i of each parent."""
    out: dict[str, pd.DataFrame] = {}
    for ent in kore_to_crm("dynamics"):
        recs = []
        for i in range(1, rows_per_entity + 1):
            r: dict[str, object] = {"external_key": f"{ent.entity}-{i}", "name": f"{ent.entity} {i}"}
            for lk in crm_names.lookups(ent):
                if lk.target == "Contact":
                    r[lk.column] = CONTACTS[(i - 1) % len(CONTACTS)]["contact_key"]
                elif lk.target == "Account":
                    r[lk.column] = CONTACTS[(i - 1) % len(CONTACTS)]["account_key"]
                elif lk.target == "User":
                    r[lk.column] = user_id
                else:
                    r[lk.column] = f"{lk.target}-{i}"
            r["status"] = "Active" if i % 2 else "Draft"
            r["amount"] = 10.5 * i
            r["row_hash"] = _h(*r.values())
            r["modified_at"] = pd.Timestamp("2026-10-01 12:00:00")
            recs.append(r)
        out[ent.model_name] = pd.DataFrame(recs)
    return out


def write_tables(settings: Settings, tables: dict[str, pd.DataFrame], golden: list[dict] | None = None) -> None:
    settings.ensure_dirs()
    with connect(settings) as wh:
        for name, df in tables.items():
            wh.replace_table("kore", name, df)
        if golden is not None:
            wh.replace_table("kore_dedup", "golden_contacts", pd.DataFrame(golden))


def sync_state(settings: Settings) -> pd.DataFrame:
    with connect(settings) as wh:
        return wh.query_df("select * from ops.crm_sync_state")


def settings_for(tmp: Path, monkeypatch, **overrides: Any) -> Settings:
    """Settings for a tmp workdir (``overrides``: other fields, e.g. ``crm_timeout``), with the
    process environment pointed at it for this test only (monkeypatch restores it), so nothing that
    reads the environment (``KORE_DUCKDB_PATH``, a subprocess) can reach another test's warehouse.
    """
    settings = Settings(workdir=tmp, **overrides)
    for k, v in settings.env().items():
        monkeypatch.setenv(k, v)
    return settings
