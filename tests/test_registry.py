"""The entity registry (dbt seed entity_registry.csv) and its agreement with the dbt project.

The registry decides in which order the CRM pull and push run; a wrong order makes the CRM reject
records whose parent does not exist yet. These checks are written independently of kore.registry's
own validation (so a bug there does not hide a broken registry), and each is shown to catch a broken
copy of the registry.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from dbt_build.runner import dbt_executable
from kore import registry
from kore.config import DBT_PROJECT_DIR, REPO_ROOT

ORDER_COLUMNS = ("run_order", "run_order_new_sf", "sync_order", "sync_order_new_sf")
DERIVED_ORDERS = ("run_order", "run_order_new_sf")


def read_rows(path: Path = registry.REGISTRY_CSV) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def _split(v: str) -> list[str]:
    return [x.strip() for x in (v or "").split(";") if x.strip()]


def registry_problems(rows: list[dict[str, str]]) -> list[str]:
    """Everything wrong with a registry: unknown names, order before a prerequisite, clashing orders."""
    problems: list[str] = []
    by_name = {r["entity"]: r for r in rows}
    for r in rows:
        for p in _split(r["prerequisites"]) + _split(r["crm_references"]):
            if p not in by_name:
                problems.append(f"{r['entity']}: prerequisite {p!r} is not a known entity")
        for p in _split(r["crm_references"]):
            if p in by_name and by_name[p]["direction"] != "crm_to_kore":
                problems.append(f"{r['entity']}: crm_reference {p} is not CRM-owned")
    for col in ORDER_COLUMNS:
        for r in rows:
            if not r.get(col):
                continue
            for p in _split(r["prerequisites"]):
                pr = by_name.get(p)
                if pr is None or pr["direction"] != r["direction"] or not pr.get(col):
                    continue
                if int(pr[col]) >= int(r[col]):
                    problems.append(f"{col}: {r['entity']} ({r[col]}) syncs before its prerequisite {p} ({pr[col]})")
        claimed: dict[tuple[str, int], str] = {}
        for r in rows:
            if r.get(col):
                key = (r["direction"], int(r[col]))
                if key in claimed:
                    problems.append(f"{col} {key[1]} ({key[0]}) is claimed by both {claimed[key]} and {r['entity']}")
                claimed[key] = r["entity"]
    for col in DERIVED_ORDERS:
        per_direction: dict[str, list[int]] = defaultdict(list)
        for r in rows:
            per_direction[r["direction"]].append(int(r[col]) if r.get(col) else 0)
        for direction, values in per_direction.items():
            if sorted(values) != list(range(1, len(values) + 1)):
                problems.append(f"{col} of {direction} is not 1..{len(values)}")
    return problems


def test_registry_loads_with_fresh_derived_columns() -> None:
    registry.load.cache_clear()
    entities = registry.load()
    assert len(entities) == 61
    assert {e.direction for e in entities} == {"crm_to_kore", "kore_to_crm"}


def test_registry_has_no_problems() -> None:
    assert registry_problems(read_rows()) == []


def test_documented_orders_are_kept_where_they_do_not_conflict() -> None:
    """The derived run order keeps every documented relative order (documented = vendor's word)."""
    rows = read_rows()
    for direction in ("crm_to_kore", "kore_to_crm"):
        documented = sorted((int(r["sync_order"]), int(r["run_order"]), r["entity"]) for r in rows
                            if r["direction"] == direction and r["sync_order"])  # fmt: skip
        assert [x[1] for x in documented] == sorted(x[1] for x in documented), documented


def _break(rows: list[dict[str, str]], entity: str, **changes: str) -> list[dict[str, str]]:
    out = [dict(r) for r in rows]
    for r in out:
        if r["entity"] == entity:
            r.update(changes)
    return out


def test_checks_catch_an_entity_syncing_before_its_prerequisite() -> None:
    rows = read_rows()
    season = next(r for r in rows if r["entity"] == "Season")
    event = next(r for r in rows if r["entity"] == "Event2")
    broken = _break(_break(rows, "Season", run_order=event["run_order"]), "Event2", run_order=season["run_order"])
    assert any("Event2" in p and "before its prerequisite Season" in p for p in registry_problems(broken))
    broken_sf = _break(rows, "Event2", run_order_new_sf="1", sync_order_new_sf="")
    broken_sf = _break(broken_sf, "Season", run_order_new_sf=event["run_order_new_sf"])
    assert any("run_order_new_sf" in p and "Event2" in p for p in registry_problems(broken_sf))
    documented = _break(rows, "Contact", sync_order="5")  # before Account (6)
    assert any("sync_order: Contact" in p for p in registry_problems(documented))


def test_checks_catch_an_unknown_prerequisite() -> None:
    broken = _break(read_rows(), "DealLine", prerequisites="DealSheet;Season;InventoryItem;RateCrad")
    assert any("'RateCrad' is not a known entity" in p for p in registry_problems(broken))


def test_checks_catch_two_entities_claiming_one_documented_order() -> None:
    broken = _break(read_rows(), "Category", sync_order="5")  # ApprovalStatus documents 5
    assert any("sync_order 5 (kore_to_crm) is claimed by both" in p for p in registry_problems(broken))


def test_stale_derived_columns_make_load_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hand-editing a derived value (instead of `python -m kore.registry --write`) is refused."""
    rows = read_rows()
    stale = tmp_path / "entity_registry.csv"
    write_rows(stale, _break(rows, "Billing", run_order="3"))
    monkeypatch.setattr(registry, "REGISTRY_CSV", stale)
    registry.load.cache_clear()
    try:
        with pytest.raises(registry.RegistryError, match="stale"):
            registry.load()
        write_rows(stale, rows)  # the untouched copy loads
        registry.load.cache_clear()
        assert len(registry.load()) == 61
    finally:
        registry.load.cache_clear()


def test_field_map_covers_every_crm_entity_once() -> None:
    with open(DBT_PROJECT_DIR / "seeds" / "crm_field_map.csv", newline="", encoding="utf-8") as fh:
        fields = list(csv.DictReader(fh))
    crm_entities = {r["entity"] for r in read_rows() if r["direction"] == "crm_to_kore"}
    assert {f["entity"] for f in fields} == crm_entities
    for entity in crm_entities:
        roles = [f["role"] for f in fields if f["entity"] == entity]
        assert roles.count("key") == 1 and roles.count("modified") == 1, entity
        cols = [f["kore_column"] for f in fields if f["entity"] == entity]
        assert len(cols) == len(set(cols)), f"{entity}: a KORE column is mapped twice"


def test_crm_models_are_generated_from_the_current_field_map() -> None:
    """The CRM staging and Synced* models are generated; a field-map change needs a regeneration."""
    proc = subprocess.run(
        [sys.executable, str(DBT_PROJECT_DIR / "scripts" / "generate_crm_models.py"), "--check"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert proc.returncode == 0, "regenerate with dbt_project/scripts/generate_crm_models.py:\n" + proc.stdout


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """dbt's manifest from `dbt parse` (no database connection)."""
    tmp = tmp_path_factory.mktemp("parse")
    env = {
        **os.environ,
        "KORE_TARGET": "duckdb",
        "KORE_DUCKDB_PATH": str(tmp / "parse.duckdb"),
        "DBT_TARGET_PATH": str(tmp / "target"),
        "DBT_LOG_PATH": str(tmp / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    cmd = [dbt_executable(), "parse", "--profiles-dir", str(DBT_PROJECT_DIR), "--project-dir", str(DBT_PROJECT_DIR)]
    proc = subprocess.run(cmd, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return json.loads((tmp / "target" / "manifest.json").read_text())


def test_every_registry_table_is_a_dbt_model(manifest: dict) -> None:
    models = {n["name"].lower() for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    missing = sorted(
        f"{r['entity']} -> {r['kore_table']}" for r in read_rows() if r["kore_table"].lower() not in models
    )
    assert not missing, "registry entities with no dbt model (KORE table missing):\n  " + "\n  ".join(missing)


def test_registry_seed_is_documented_and_tested(manifest: dict) -> None:
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test"]
    on_registry = {t["test_metadata"]["name"] for t in tests
                   if t.get("test_metadata") and "seed.kore.entity_registry" in t["depends_on"]["nodes"]}  # fmt: skip
    assert {"unique", "not_null", "accepted_values"} <= on_registry
