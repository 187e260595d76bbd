"""Build the dbt project on a small fixture warehouse and check what users rely on.

The fixture (tests/dbt_fixture.py) lands raw Archtics and CRM tables with known cases; the build
runs in the documented two phases (everything but `needs_dedup`, then -- after the dedup step, whose
outputs the fixture provides -- the `needs_dedup` models). Assertions read the built tables.
"""

from __future__ import annotations

import json

import duckdb
import pytest

from dbt_build.runner import run_dbt
from kore.config import Settings
from tests import dbt_fixture

# Phase 1 builds seeds, models and unit tests; the generic data tests run in the real pipeline's build
# (kept out here so this file stays fast on a shared two-core machine).
PHASE_1 = ["build", "--exclude", "tag:needs_dedup", "path:models/staging/kore_app+", "test_type:data"]
VARS = ["--vars", json.dumps({"excluded_account_types": "Comp, Internal"})]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = Settings(workdir=tmp_path_factory.mktemp("dbt_build"))
    dbt_fixture.build(settings.duckdb_path, with_dedup=False)
    run_dbt(settings, PHASE_1 + VARS)  # phase 1 needs no dedup output
    dbt_fixture.write_dedup_file(settings.duckdb_path)  # what the dedup step writes
    run_dbt(settings, ["build", "--select", "tag:needs_dedup", "--exclude", "path:models/kore_to_crm/kore_*", *VARS])
    return settings


def rows(settings: Settings, sql: str) -> list[tuple]:
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_latest_row_wins_per_business_key(built: Settings) -> None:
    assert rows(built, "select name_last from stg.stg_archtics__custs where acct_id = 100 and cust_name_id = 1") == [
        ("Smith",)
    ]
    prices = rows(built, "select purchase_price from stg.stg_archtics__tickets where event_id = 10 and seat_num = 3")
    assert [float(p[0]) for p in prices] == [45.0]
    assert rows(built, "select last_name from kore.SyncedContacts where crm_id = 'c1'") == [("Garcia-Lopez",)]


def test_active_tickets(built: Settings) -> None:
    active = rows(built, "select acct_id, event_id, seat_num, activation_rule from int.int_tickets_activated")
    assert sorted(active) == [
        (100, 10, 1, "event"),  # plain active seat
        (100, 10, 3, "event"),  # newest version of a re-priced seat
        (200, 11, 5, "event"),  # the expanded per-event row, not its plan-level row
        (200, 50, 6, "plan"),  # plan-level row with no expanded row
        (300, 10, 1, "event"),
    ]
    # seat 2 was returned after it was bought: in the fact table, but not active
    assert rows(
        built, "select is_active from marts.fct_ticket_purchases where seat_num = 2 and ticket_status = 'A'"
    ) == [(0,)]


def test_activity_union(built: Settings) -> None:
    got = rows(built, "select activity_type, crm_id from kore.SyncedActivities order by crm_id")
    assert got == [("appointment", "act-1"), ("task", "act-2"), ("phone_call", "act-3"), ("email", "act-4")]
    # fax and letter have no raw table yet: typed, empty models instead of a failed build
    assert rows(built, "select count(*) from stg.stg_crm__faxes") == [(0,)]


def test_dedup_pairs_contain_known_duplicates(built: Settings) -> None:
    pairs = dict(
        ((l_, r_), key)
        for l_, r_, key in rows(built, "select record_id_l, record_id_r, blocking_key from dedup.dedup_candidate_pairs")
    )
    assert pairs[("A:100:1", "A:200:1")] == "email:john.smith@example.com"  # same email, other case
    assert pairs[("A:400:1", "C:c1")] == "phone:15559876543"  # same phone, other punctuation
    assert pairs[("A:100:1", "C:c2")] == "acct:100"  # CRM contact carries the Archtics id
    assert ("A:100:2", "A:400:1") not in pairs
    assert all(left < right for left, right in pairs)


def test_person_records_contract(built: Settings) -> None:
    con = duckdb.connect(str(built.duckdb_path), read_only=True)
    try:
        cols = [d[0] for d in con.execute("select * from dedup.dedup_person_records limit 0").description]
        excluded = con.execute(
            "select record_id from dedup.dedup_person_records where is_excluded_account_type = 1"
        ).fetchall()
    finally:
        con.close()
    assert cols[:6] == ["record_id", "source", "acct_id", "cust_name_id", "crm_contact_id", "is_primary_name"]
    assert {"phone", "zip5", "street", "archtics_account_id_on_crm", "row_hash"} <= set(cols)
    assert excluded == [("A:300:1",)]  # acct_type_desc 'Comp' with excluded_account_types 'Comp, Internal'


def test_ticket_purchases_follow_the_mapping(built: Settings) -> None:
    got = rows(built, "select acct_id, seat_num, contact_key, account_key from kore.SyncedTicketPurchases")
    # acct 100 -> K1 (primary); acct 200 -> K1 (its only mapping); acct 300 is Comp (excluded)
    assert sorted(got) == [
        (100, 1, "K1", "AHH1"),
        (100, 3, "K1", "AHH1"),
        (200, 5, "K1", "AHH1"),
        (200, 6, "K1", "AHH1"),
    ]
    keys = rows(built, "select count(distinct external_key), count(*) from kore.SyncedTicketPurchases")
    assert keys[0][0] == keys[0][1]
    assert rows(built, "select contact_key, mapped_account_count from marts.dim_contact order by 1") == [
        ("K1", 2),
        ("K3", 1),
    ]


def test_incremental_fact_reprocesses_seats_a_return_touches(built: Settings) -> None:
    """A later return of an older active seat flips it to inactive on an incremental run."""
    before = rows(built, "select count(*) from marts.fct_ticket_purchases")[0][0]
    dbt_fixture.append_ticket(
        built.duckdb_path,
        dict(acct_id="100", event_id="10", section_id="1", row_id="1", seat_num="1", last_seat="1", num_seats="1",
             ticket_status="R", return_datetime="2024-04-01 10:00:00", add_datetime="2024-03-01 09:00:00",
             upd_datetime="2024-04-01 10:00:00"),
    )  # fmt: skip
    # a row that lands late, with a change time older than everything built, is still picked up
    dbt_fixture.append_ticket(
        built.duckdb_path,
        dict(acct_id="400", event_id="11", section_id="4", row_id="1", seat_num="9", last_seat="9", num_seats="1",
             ticket_status="A", add_datetime="2023-01-01 09:00:00", upd_datetime="2023-01-01 09:00:00"),
    )  # fmt: skip
    result = run_dbt(built, ["run", "--select", "stg_archtics__tickets", "fct_ticket_purchases", *VARS])
    assert result.ok
    assert rows(built, "select count(*) from marts.fct_ticket_purchases")[0][0] == before + 2
    # only the touched seats were re-decided: the 2 new rows and the active row the return cancels
    assert rows(
        built, f"select count(*) from marts.fct_ticket_purchases where batch_load_id = '{dbt_fixture.LOAD_2}'"
    ) == [(3,)]
    assert rows(built, "select is_active from marts.fct_ticket_purchases where acct_id = 400 and seat_num = 9") == [
        (1,)
    ]
    assert rows(
        built,
        "select ticket_status, is_active from marts.fct_ticket_purchases where event_id = 10 and seat_num = 1 "
        "and acct_id = 100 order by ticket_status",
    ) == [("A", 0), ("R", 0)]


def test_salesforce_flavour_reads_salesforce_tables(built: Settings) -> None:
    sf = json.dumps({"crm_flavor": "salesforce"})
    run_dbt(built, ["run", "--select", "+SyncedActivities", "+SyncedCountries", "--vars", sf])
    got = rows(built, "select activity_type, crm_id, crm_flavor from kore.SyncedActivities order by crm_id")
    # appointments from the Event object, tasks from Task; Dynamics-only activity kinds are empty on Salesforce
    assert got == [("task", "00T2", "salesforce"), ("appointment", "00U1", "salesforce")]
    # Country is "not synced" from Salesforce: an empty table that still has its typed columns
    con = duckdb.connect(str(built.duckdb_path), read_only=True)
    try:
        assert con.execute("select count(*) from kore.SyncedCountries").fetchone() == (0,)
        types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'kore' and table_name = 'SyncedCountries'"
            ).fetchall()
        )
    finally:
        con.close()
    assert types["crm_id"] == "VARCHAR" and types["modified_at"] == "TIMESTAMP"


def test_source_freshness_flags_a_stale_landing_and_passes_a_fresh_one(built: Settings) -> None:
    """`dbt source freshness` reads the landing time from _dlt_load_id: the fixture's loads are from
    2024 (error: older than 72 h); after a landing now the same source passes."""
    import time

    def status() -> str:
        res = run_dbt(built, ["source", "freshness", "--select", "source:archtics.season"], check=False)
        sources = json.loads((built.dbt_target_dir / "sources.json").read_text())["results"]
        assert res.stdout and len(sources) == 1
        return sources[0]["status"]

    assert status() == "error"
    con = duckdb.connect(str(built.duckdb_path))
    try:
        con.execute("update raw_archtics.season set _dlt_load_id = ?", [f"{time.time():.6f}"])
    finally:
        con.close()
    assert status() == "pass"


def test_only_the_configured_flavours_crm_sources_are_enabled(tmp_path) -> None:
    """The other flavour's raw CRM tables are disabled sources (not declared-but-unused ones): dbt
    neither lists them nor runs `dbt source freshness` on them. The flavour comes from
    KORE_CRM_FLAVOR (Settings.env()), and `--vars crm_flavor` overrides it as it does for the models."""

    def crm_sources(settings: Settings, *args: str) -> set[str]:
        res = run_dbt(settings, ["--quiet", "ls", "--resource-type", "source", "--output", "name", *args])
        return {line.split(".")[-1] for line in res.stdout.split() if line.startswith("crm.")}

    by_env = {
        flavor: crm_sources(Settings(workdir=tmp_path, crm_flavor=flavor)) for flavor in ("dynamics", "salesforce")
    }
    for flavor, names in by_env.items():
        assert names and all(name.startswith(f"{flavor}_") for name in names), flavor
    by_vars = crm_sources(
        Settings(workdir=tmp_path, crm_flavor="dynamics"), "--vars", json.dumps({"crm_flavor": "salesforce"})
    )
    assert by_vars == by_env["salesforce"]
