"""KORE apps' own data: sandbox generator, dlt landing (incremental, merge), staging and kore_*base models."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from dbt_build.runner import run_dbt
from dlt_pipelines.kore_apps import KoreAppExportError, land_kore_apps
from kore.config import DBT_PROJECT_DIR, REPO_ROOT, get_settings
from kore.contracts.crm_names import entity_snake
from kore.contracts.kore_apps import ENTITIES, SPEC, columns, foreign_keys
from kore.registry import kore_to_crm
from sandbox.kore_app_files import read_rows, sibling_acct_ids, sibling_owner_emails
from sandbox.kore_app_tables import REP_EMAILS, TS_FORMAT
from sandbox.kore_apps import generate, mutate

ACCT_IDS = list(range(5001, 5061))


def republish(src: Path, path: str, data: bytes) -> None:
    """Write an export file as the app would export it again: its bytes and the manifest agree."""
    (src / path).write_bytes(data)
    manifest = json.loads((src / "manifest.json").read_text())
    for f in manifest["files"]:
        if f["path"] == path:
            f["sha256"] = hashlib.sha256(data).hexdigest()
    (src / "manifest.json").write_text(json.dumps(manifest))


def _all_rows(out: Path) -> dict[str, list[dict]]:
    return {e: read_rows(out, e) for e in ENTITIES}


def _assert_fk_integrity(rows: dict[str, list[dict]]) -> None:
    ids = {e: {r["id"] for r in rs} for e, rs in rows.items()}
    for entity, rs in rows.items():
        assert len(ids[entity]) == len(rs), f"{entity}: duplicate ids"
        for col, parent in foreign_keys(entity).items():
            dangling = [r[col] for r in rs if r[col] is not None and r[col] not in ids[parent]]
            assert not dangling, f"{entity}.{col} -> {parent}: {dangling[:5]} do not exist"


# ------------------------------------------------------------------------------------------------ generator
def test_app_schema_matches_registry() -> None:
    """Every KORE-owned registry entity (except Archtics-built ticket purchases) has an app table whose
    foreign keys are exactly its prerequisites, and its CRM references are carried."""
    registry = {e.entity: e for e in kore_to_crm() if e.entity != "TicketPurchaseKoreps"}
    assert set(SPEC) == set(registry) and len(SPEC) == 39
    for name, e in registry.items():
        assert set(foreign_keys(name).values()) == set(e.prerequisites), name
        cols = {f.name for f in SPEC[name]}
        if {"Account", "Contact"} & set(e.crm_references):
            assert "acct_id" in cols, name
        if "User" in e.crm_references:
            assert "owner_user_email" in cols, name
    assert entity_snake("DealSheet") == "deal_sheet" and entity_snake("Event2") == "event2"


def test_generate_is_deterministic_and_referentially_sound(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", seed=7, accounts=120, acct_ids=ACCT_IDS)
    generate(tmp_path / "b", seed=7, accounts=120, acct_ids=ACCT_IDS)
    generate(tmp_path / "c", seed=8, accounts=120, acct_ids=ACCT_IDS)
    for e in ENTITIES:
        f = f"{entity_snake(e)}.jsonl"
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), e
    assert any(
        (tmp_path / "a" / f"{entity_snake(e)}.jsonl").read_bytes()
        != (tmp_path / "c" / f"{entity_snake(e)}.jsonl").read_bytes()
        for e in ENTITIES
    )
    assert a["entities"] == 39 and all(n > 0 for n in a["rows_per_entity"].values())
    rows = _all_rows(tmp_path / "a")
    _assert_fk_integrity(rows)
    as_of = datetime.strptime(a["as_of"], TS_FORMAT)
    for entity, rs in rows.items():
        for r in rs:
            assert set(r) == {f.name for f in columns(entity)}, entity
            assert r["created_at"] <= r["modified_at"] < a["as_of"], entity
            assert datetime.strptime(r["modified_at"], TS_FORMAT) < as_of
            if "acct_id" in r:
                assert r["acct_id"] in ACCT_IDS
    # scales with accounts
    big = generate(tmp_path / "big", seed=7, accounts=600)
    assert big["rows_per_entity"]["DealSheet"] > a["rows_per_entity"]["DealSheet"]
    assert big["rows_per_entity"]["Touchpoint2"] > a["rows_per_entity"]["Touchpoint2"]


def test_generate_uses_the_sandbox_ticketing_accounts_and_crm_users(tmp_path: Path) -> None:
    """Next to the Archtics sandbox data the KORE apps reference its accounts and the CRM seed's users,
    so the dedup mapping and SyncedUsers can resolve the CRM references end to end."""
    from sandbox.generator import generate as generate_archtics

    generate_archtics(40, tmp_path / "export", seed=2, sandbox_dir=tmp_path / "sandbox", show_progress=False)
    acct_ids = sibling_acct_ids(tmp_path / "sandbox")
    users = sibling_owner_emails(tmp_path / "sandbox")
    assert len(acct_ids) == 40 and users
    generate(tmp_path / "sandbox" / "kore_apps", seed=2, accounts=40)
    rows = _all_rows(tmp_path / "sandbox" / "kore_apps")
    used_accts = {r["acct_id"] for e in ("DealSheet", "PremiumDeal", "Touchpoint2") for r in rows[e]}
    used_users = {r["owner_user_email"] for e in ("DealSheet", "SalesGoal", "TouchpointGoal") for r in rows[e]}
    assert used_accts <= set(acct_ids) and len(used_accts) > 10
    assert used_users <= set(users)
    mutate(tmp_path / "sandbox" / "kore_apps", fraction=0.2)
    rows = _all_rows(tmp_path / "sandbox" / "kore_apps")
    assert {r["acct_id"] for r in rows["Touchpoint2"]} <= set(acct_ids)
    assert {r["owner_user_email"] for r in rows["DealSheet"]} <= set(users)


def test_mutate_moves_only_edited_rows_and_adds_new(tmp_path: Path) -> None:
    out = tmp_path / "app"
    first = generate(out, seed=3, accounts=150, acct_ids=ACCT_IDS)
    before = _all_rows(out)
    res = mutate(out, fraction=0.1)
    after = _all_rows(out)
    _assert_fk_integrity(after)
    assert res["generation"] == 2 and res["as_of"] > first["as_of"]
    changed = 0
    for e in ENTITIES:
        old = {r["id"]: r for r in before[e]}
        for r in after[e]:
            if r["id"] not in old:
                assert first["as_of"] < r["created_at"] <= r["modified_at"] < res["as_of"]
                changed += 1
            elif r != old[r["id"]]:
                assert first["as_of"] < r["modified_at"] < res["as_of"], e
                changed += 1
            else:
                assert r["modified_at"] < first["as_of"]
        assert len(after[e]) - len(before[e]) == res["added"][e]
    assert changed == res["changed_rows"] > 0
    assert res["added"]["DealSheet"] > 0 and res["added"]["Touchpoint2"] > 0
    # deterministic: the same snapshot mutated again with the same seed gives the same files
    out2 = tmp_path / "app2"
    generate(out2, seed=3, accounts=150, acct_ids=ACCT_IDS)
    mutate(out2, fraction=0.1)
    assert _all_rows(out2) == after
    with pytest.raises(ValueError):
        mutate(out, as_of=datetime(2000, 1, 1))


# ------------------------------------------------------------------------------------------------ landing
def _raw(settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_landing_is_incremental_and_idempotent(workdir: Path) -> None:
    settings = get_settings(workdir)
    src = settings.sandbox_dir / "kore_apps"
    gen = generate(src, seed=11, accounts=100, acct_ids=ACCT_IDS)
    env_before = dict(os.environ)
    r1 = land_kore_apps(settings, src)
    assert dict(os.environ) == env_before, "pipeline options come from .dlt/config.toml, not os.environ"
    # dlt's columns on arrow rows, asked for in [kore_apps.normalize.parquet_normalizer]
    n = gen["rows_per_entity"]["DealSheet"]
    assert _raw(settings, "select count(_dlt_load_id), count(_dlt_id) from raw_kore_app.deal_sheet")[0] == (n, n)
    assert r1["rows_loaded"] == r1["rows_read"] == gen["rows"]
    assert r1["quarantined"] == 0 and not r1["refused_files"]
    for e, n in gen["rows_per_entity"].items():
        assert _raw(settings, f"select count(*), count(distinct id) from raw_kore_app.{entity_snake(e)}")[0] == (n, n)
    loads_before = _raw(settings, "select count(*) from raw_kore_app._dlt_loads")[0][0]

    # nothing changed: nothing written
    r2 = land_kore_apps(settings, src)
    assert r2["rows_loaded"] == 0
    assert _raw(settings, "select count(distinct _dlt_load_id) from raw_kore_app.deal_sheet")[0][0] == 1

    # the app moves on: exactly the changed rows are merged, the rest keep their load id
    res = mutate(src, fraction=0.08)
    r3 = land_kore_apps(settings, src)
    assert r3["rows_loaded"] == res["changed_rows"]
    new_load = _raw(settings, "select max(load_id) from raw_kore_app._dlt_loads")[0][0]
    assert _raw(settings, "select count(*) from raw_kore_app._dlt_loads")[0][0] > loads_before
    for e in ENTITIES:
        t = entity_snake(e)
        file_rows = {r["id"]: r for r in read_rows(src, e)}
        got = _raw(settings, f"select id, name, modified_at, _dlt_load_id from raw_kore_app.{t}")
        assert len(got) == len(file_rows), e  # merged, not appended
        assert {g[0]: (g[1], g[2]) for g in got} == {i: (r["name"], r["modified_at"]) for i, r in file_rows.items()}
        touched = sum(1 for g in got if g[3] == new_load)
        assert touched == res["edited"][e] + res["added"][e], e
    history = [json.loads(x) for x in (settings.logs_dir / "runs.jsonl").read_text().splitlines()]
    assert [h["rows_out"] for h in history if h["stage"] == "land_kore_apps"] == [gen["rows"], 0, res["changed_rows"]]


def test_landing_quarantines_bad_lines_and_refuses_tampered_files(workdir: Path) -> None:
    settings = get_settings(workdir)
    src = settings.sandbox_dir / "kore_apps"
    generate(src, seed=5, accounts=60, acct_ids=ACCT_IDS)
    # the app itself exported a broken line (manifest agrees with the bytes): quarantine that line only
    seasons = src / "season.jsonl"
    lines = seasons.read_text().splitlines()
    lines.insert(1, '{"id": "x", "name": broken')
    lines.append('{"id": 99, "name": "no timestamp"}')
    lines.append(lines[2].replace('"season_year":', '"season_year": "twenty", "x":').replace('"id":2', '"id":98'))
    lines.append(lines[3])  # the same id twice
    # values no warehouse column holds: quarantined, not a crash of the whole landing
    lines.append(lines[2].replace('"id":2', f'"id":{2**63}'))  # beyond a 64-bit id
    lines.append(lines[2].replace('"id":2', '"id":97').replace('"season_year":2025', f'"season_year":{2**64}'))
    lines.append(lines[2].replace('"id":2', '"id":96').replace('"name":"', '"name":"\\ud800'))  # half a surrogate pair
    data = ("\n".join(lines) + "\n").encode()
    republish(src, "season.jsonl", data)
    # a file changed after the export (bytes differ from the manifest): refused whole
    (src / "round.jsonl").write_text((src / "round.jsonl").read_text()[:-20])

    res = land_kore_apps(settings, src)
    assert res["quarantined"] == 7
    assert res["refused_files"] == [
        {"entity": "Round", "file": "round.jsonl", "reason": "sha256 differs from manifest"}
    ]
    q = _raw(settings, "select source_file, source_line, reason from raw_kore_app.quarantine order by source_line")
    assert q[0][:2] == ("season.jsonl", 2) and q[0][2].startswith("invalid JSON")
    assert q[1][0] == "season.jsonl" and q[1][1] == len(lines) - 5 and "modified_at" in q[1][2]
    assert "wrong value type in season_year" in q[2][2] or "not in the manifest" in q[2][2]
    assert q[3][1] == len(lines) - 3 and q[3][2].startswith("duplicate id")
    assert [r[2] for r in q[4:]] == [
        "id out of the 64-bit integer range",
        "wrong value type in season_year",
        "wrong value type in name",
    ]
    assert _raw(settings, "select count(*) from raw_kore_app.season")[0][0] == 3
    tables = {
        t
        for (t,) in _raw(settings, "select table_name from information_schema.tables where table_schema='raw_kore_app'")
    }
    assert "round" not in tables and "deal_sheet" in tables
    history = [json.loads(x) for x in (settings.logs_dir / "runs.jsonl").read_text().splitlines()]
    assert history[-1]["outcome"] == "success with refused files" and history[-1]["rows_failed"] == 7

    # a re-run over the same files neither duplicates the quarantine nor loads anything again
    again = land_kore_apps(settings, src)
    assert again["rows_loaded"] == 0 and again["quarantined"] == 7
    assert _raw(settings, "select count(*) from raw_kore_app.quarantine")[0][0] == 7

    (src / "manifest.json").unlink()
    with pytest.raises(KoreAppExportError, match="no manifest"):
        land_kore_apps(settings, src)


# ------------------------------------------------------------------------------------------------ dbt
def test_generated_models_are_current_and_cover_registry() -> None:
    script = DBT_PROJECT_DIR / "scripts" / "generate_kore_app_models.py"
    proc = subprocess.run([sys.executable, str(script), "--check"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for e in kore_to_crm():
        if e.entity == "TicketPurchaseKoreps":
            continue
        assert (DBT_PROJECT_DIR / "models" / "kore_to_crm" / f"{e.model_name}.sql").exists(), e.entity
        assert (
            DBT_PROJECT_DIR / "models" / "staging" / "kore_app" / f"stg_kore_app__{entity_snake(e.entity)}.sql"
        ).exists()


def _write_dedup_fixture(settings, acct_ids: list[int]) -> dict[int, tuple[str, str | None]]:
    """A stand-in for the dedup stage's output: acct -> contact (two accounts share one contact)."""
    expected: dict[int, tuple[str, str | None]] = {}
    with duckdb.connect(str(settings.duckdb_path)) as con:
        con.execute("create schema if not exists kore_dedup")
        con.execute(
            "create or replace table kore_dedup.account_contact_map (acct_id bigint, crm_contact_key varchar,"
            " crm_contact_id varchar, cluster_id varchar, is_primary integer)"
        )
        con.execute(
            "create or replace table kore_dedup.golden_contacts (contact_key varchar, crm_contact_id varchar,"
            " cluster_id varchar, account_key varchar)"
        )
        for i, acct in enumerate(acct_ids[:40]):
            key = f"KC-{i // 2}"
            con.execute("insert into kore_dedup.account_contact_map values (?, ?, null, ?, ?)", [acct, key, key, i % 2])
            if i % 2 == 0:
                account = f"KA-{i // 2}" if i % 4 == 0 else None
                con.execute("insert into kore_dedup.golden_contacts values (?, null, ?, ?)", [key, key, account])
            expected[acct] = (key, f"KA-{i // 2}" if (i // 2) % 2 == 0 else None)
    return expected


def _write_crm_users_fixture(settings) -> dict[str, str]:
    """raw_crm.dynamics_user as the CRM pull lands it: all sales reps but the last are CRM users."""
    users = {email: f"00000000-0000-4000-8000-{i:012d}" for i, email in enumerate(REP_EMAILS[:-1])}
    with duckdb.connect(str(settings.duckdb_path)) as con:
        con.execute("create schema if not exists raw_crm")
        con.execute(
            "create or replace table raw_crm.dynamics_user (systemuserid varchar, fullname varchar,"
            " internalemailaddress varchar, modifiedon varchar, _dlt_load_id varchar, _dlt_id varchar)"
        )
        for email, crm_id in users.items():
            con.execute(
                "insert into raw_crm.dynamics_user values (?, ?, ?, '2026-01-01T00:00:00Z', '1', ?)",
                [crm_id, email.split("@")[0], email.upper(), crm_id],
            )
    return users


def test_dbt_builds_kore_app_models_in_two_phases(workdir: Path) -> None:
    settings = get_settings(workdir)
    src = settings.sandbox_dir / "kore_apps"
    generate(src, seed=21, accounts=90, acct_ids=ACCT_IDS)
    land_kore_apps(settings, src)
    crm_users = _write_crm_users_fixture(settings)

    phase1 = run_dbt(
        settings,
        ["build", "--select", "staging.kore_app+", "stg_crm__users", "SyncedUsers", "--exclude", "tag:needs_dedup"],
    )
    built = {r["unique_id"].split(".")[-1] for r in phase1.results if r["unique_id"].startswith("model.")}
    assert len(built - {"stg_crm__users", "SyncedUsers"}) == 39 + 35
    assert phase1.count("fail") == 0 and phase1.count("error") == 0
    assert "kore_contractbase" not in built  # needs the dedup mapping: second phase

    expected = _write_dedup_fixture(settings, ACCT_IDS)
    # the second phase reads the dedup outputs through their staging views, built in the same phase
    phase2 = run_dbt(
        settings,
        [
            "build",
            "--select",
            "staging.kore_app+,tag:needs_dedup",
            "staging.kore_dedup",
            "--exclude",
            "path:models/marts",
        ],
    )
    built2 = {r["unique_id"].split(".")[-1] for r in phase2.results if r["unique_id"].startswith("model.")}
    assert built2 == {"kore_contractbase", "kore_premiumdealbase", "kore_rosterrelationshipbase", "kore_touchpointbase",
                      "stg_kore_dedup__account_contact_map", "stg_kore_dedup__golden_contacts"}  # fmt: skip
    tests2 = [r for r in phase2.results if r["unique_id"].startswith("test.")]
    assert any("relationships_kore_billbase_deal_sheet_key" in r["unique_id"] for r in tests2)

    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        deal = con.execute(
            "select external_key, season_key, deal_type_key, account_key, archtics_acct_id from kore.kore_contractbase"
        ).fetchall()
        assert all(k.startswith("KORE-DEALSHEET-") and s.startswith("KORE-SEASON-") for k, s, *_ in deal)
        for *_, account_key, acct in deal:
            assert account_key == expected.get(acct, (None, None))[1]
        for contact_key, acct in con.execute(
            "select contact_key, archtics_acct_id from kore.kore_touchpointbase"
        ).fetchall():
            assert contact_key == expected.get(acct, (None, None))[0]
        pd_cols = [c[0] for c in con.execute("describe kore.kore_premiumdealbase").fetchall()]
        assert pd_cols[:7] == [
            "external_key",
            "name",
            "premium_deal_type_key",
            "season_key",
            "suite_key",
            "contact_key",
            "account_key",
        ]
        assert pd_cols[-2:] == ["row_hash", "modified_at"]
        goals = con.execute("select user_key, owner_user_email from kore.kore_salesgoalbase").fetchall()
        assert goals and all(user_key == crm_users.get(email) for user_key, email in goals)
        assert {e for _, e in goals} - set(crm_users), "some goal owners should not be CRM users yet"
        # what the push cannot do without is a NOT NULL constraint of the enforced contract
        nullable = dict(
            con.execute(
                "select column_name, is_nullable from information_schema.columns "
                "where table_schema = 'kore' and table_name = 'kore_seasonbase'"
            ).fetchall()
        )
        assert {c: nullable[c] for c in ("external_key", "name", "row_hash", "modified_at")} == dict.fromkeys(
            ("external_key", "name", "row_hash", "modified_at"), "NO"
        )
        seasons = con.execute("select * from kore.kore_seasonbase order by external_key").fetchall()
        hashes_before = dict(con.execute("select external_key, row_hash from kore.kore_billbase").fetchall())
        hashes_before_ds = dict(con.execute("select external_key, row_hash from kore.kore_contractbase").fetchall())

    # a season without a name: the build refuses it and the table the push reads keeps its rows
    with duckdb.connect(str(settings.duckdb_path)) as con:
        con.execute("update raw_kore_app.season set name = null where id = (select min(id) from raw_kore_app.season)")
    refused = run_dbt(settings, ["run", "--select", "kore_seasonbase"], check=False)
    assert refused.count("error") == 1
    with duckdb.connect(str(settings.duckdb_path)) as con:
        assert con.execute("select * from kore.kore_seasonbase order by external_key").fetchall() == seasons
        con.execute("update raw_kore_app.season set name = 'Season restored' where name is null")

    # the app edits rows: exactly those rows (and the new ones) get a new row_hash
    res = mutate(src, fraction=0.1)
    land_kore_apps(settings, src)
    run_dbt(settings, ["run", "--select", "kore_billbase", "kore_contractbase"])  # staging are views
    for entity, table, before in (
        ("Billing", "kore_billbase", hashes_before),
        ("DealSheet", "kore_contractbase", hashes_before_ds),
    ):
        with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
            after = dict(con.execute(f"select external_key, row_hash from kore.{table}").fetchall())
        changed = {k for k, h in after.items() if before.get(k) != h}
        assert len(changed) == res["edited"][entity] + res["added"][entity] > 0, entity
