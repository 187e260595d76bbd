"""dbt conventions analysts rely on when they use plain dbt next to `kore`.

- ``KORE_SCHEMA_PREFIX`` gives each analyst their own schemas (macros/generate_schema_name.sql); without
  it every model lands in its documented schema, as production expects.
- Plain dbt never opens an empty warehouse next to the project: the profile takes ``KORE_DUCKDB_PATH``,
  else ``$KORE_WORKDIR/warehouse.duckdb``, else stops naming the variable.
- The push's exposure lists every model the push reads (generated from the registry, kept current),
  and those models enforce contracts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from dbt_build.runner import dbt_executable, run_dbt
from kore.config import DBT_PROJECT_DIR, REPO_ROOT, Settings
from kore.registry import kore_to_crm
from tests import dbt_fixture

FOLDER_SCHEMAS = {"stg", "int", "kore", "dedup", "marts", "kore_registry"}


def _schemas(manifest: dict) -> dict[str, str]:
    return {n["name"]: n["schema"] for n in manifest["nodes"].values() if n["resource_type"] in ("model", "seed")}


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict, dict]:
    """One real model and seed built with the prefix, then without it (production, no
    KORE_SCHEMA_PREFIX), on one fixture warehouse; the manifests dbt wrote after each build (the
    whole project: every model, source and exposure). One parse per build, none extra."""
    settings = Settings(workdir=tmp_path_factory.mktemp("conventions"))
    dbt_fixture.build(settings.duckdb_path, with_dedup=False)
    build = ["build", "--select", "stg_archtics__seasons", "entity_registry", "--resource-type", "model",
             "--resource-type", "seed"]  # fmt: skip
    run_dbt(Settings(workdir=settings.workdir, schema_prefix="dev_alice"), build)
    prefixed = json.loads((settings.dbt_target_dir / "manifest.json").read_text())
    run_dbt(settings, build)
    plain = json.loads((settings.dbt_target_dir / "manifest.json").read_text())
    return settings, prefixed, plain


@pytest.fixture(scope="module")
def manifest(builds: tuple[Settings, dict, dict]) -> dict:
    """The manifest of the production build (no prefix)."""
    return builds[2]


def test_schema_prefix_lands_models_in_prefixed_schemas_on_duckdb(builds: tuple[Settings, dict, dict]) -> None:
    """A real build: the same model and seed land in dev_alice_* with the prefix and in the documented
    schemas without it (production unchanged); the two builds do not touch each other's tables, and
    with the prefix every model and seed is planned into a dev_alice_ schema, sources stay put."""
    settings, prefixed, manifest = builds
    default = _schemas(manifest)
    assert set(default.values()) == FOLDER_SCHEMAS
    assert _schemas(prefixed) == {name: f"dev_alice_{schema}" for name, schema in default.items()}
    assert {s["schema"] for s in prefixed["sources"].values()} == {s["schema"] for s in manifest["sources"].values()}
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:
        tables = set(con.sql("select table_schema, table_name from information_schema.tables").fetchall())
    finally:
        con.close()
    for schema in ("dev_alice_stg", "stg"):
        assert (schema, "stg_archtics__seasons") in tables
    for schema in ("dev_alice_kore_registry", "kore_registry"):
        assert (schema, "entity_registry") in tables


def test_plain_dbt_without_a_warehouse_path_stops(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KORE_DUCKDB_PATH", "KORE_WORKDIR", "KORE_TARGET")}
    env |= {"DBT_TARGET_PATH": str(tmp_path / "target"), "DBT_LOG_PATH": str(tmp_path / "logs")}
    proc = subprocess.run(
        [dbt_executable(), "ls", "--profiles-dir", str(DBT_PROJECT_DIR), "--select", "dim_season"],
        cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode != 0 and "KORE_DUCKDB_PATH" in proc.stdout
    assert not (DBT_PROJECT_DIR / "warehouse.duckdb").exists()
    # with the workdir set, plain dbt uses the workdir's warehouse, as `kore` does
    proc = subprocess.run(
        [dbt_executable(), "debug", "--profiles-dir", str(DBT_PROJECT_DIR)],
        cwd=DBT_PROJECT_DIR, env=env | {"KORE_WORKDIR": str(tmp_path)}, capture_output=True, text=True,
    )  # fmt: skip
    assert f"path: {tmp_path}/warehouse.duckdb" in proc.stdout, proc.stdout[-2000:]


def test_push_exposure_is_generated_from_the_registry_and_current(manifest: dict) -> None:
    script = REPO_ROOT / "dbt_project" / "scripts" / "generate_exposures.py"
    proc = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    exposure = manifest["exposures"]["exposure.kore.crm_push"]
    models = {n.split(".")[-1] for n in exposure["depends_on"]["nodes"] if n.startswith("model.")}
    pushed = {e.model_name for flavor in ("dynamics", "salesforce") for e in kore_to_crm(flavor)} - {
        "account",
        "contact",
    }
    names = {n["name"].lower(): n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert {m.lower() for m in models} == pushed and len(pushed) >= 40
    assert "source.kore.kore_dedup.golden_contacts" in exposure["depends_on"]["nodes"]
    # every model the push reads is the CRM's interface: its contract is enforced, every column typed
    for model in pushed:
        node = manifest["nodes"][f"model.kore.{names[model]}"]
        assert node["contract"]["enforced"], model
        assert node["columns"] and all(c.get("data_type") for c in node["columns"].values()), model
