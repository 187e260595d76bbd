"""Data checks on a small DuckDB warehouse built with the documented table names and columns.

The clean warehouse must pass; each kind of defect a real run can produce (duplicate key, broken
reference, wrong total, manifest mismatch, a contact with two primaries, a table a stage claims but
that is missing) must be caught with the right severity and with key-only examples.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from expectations import suites
from expectations.audits import references, tickets
from expectations.audits.plugins import discover_plugins
from expectations.frames import mssql_engine
from expectations.results import CheckReport
from expectations.runner import run_checks, run_checks_ahead
from kore.config import REPO_ROOT, Settings
from kore.contracts.field_limits import as_sent, sent_lengths
from sandbox import checks as sandbox_checks

CUST_FILE = "cust/cust-part-0001.csv.gz"
TICKET_FILE = "ticket/ticket-part-0001.csv.gz"


def _t(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def build_warehouse(workdir: Path) -> Settings:
    """A tiny but consistent warehouse: every layer, one excluded account, one account in review."""
    settings = Settings(workdir=workdir, excluded_account_types=("Comp",))
    settings.ensure_dirs()
    export = settings.export_dir
    (export / "cust").mkdir(parents=True, exist_ok=True)
    (export / "ticket").mkdir(parents=True, exist_ok=True)
    manifest = {
        "format_version": 1,
        "source": "archtics",
        "cutoff": "2026-01-01 12:00:01",
        "files": [
            {"dataset": "cust", "path": CUST_FILE, "rows": 6, "sha256": "x", "bytes": 1, "columns": []},
            {"dataset": "ticket", "path": TICKET_FILE, "rows": 8, "sha256": "y", "bytes": 1, "columns": []},
        ],
    }
    (export / "manifest.json").write_text(json.dumps(manifest))
    for f in (CUST_FILE, TICKET_FILE):
        with gzip.open(export / f, "wt") as fh:
            fh.write("acct_id\n")

    cust = _t(
        [
            dict(acct_id="1001", cust_name_id="1", primary_code="Primary", name_type="I", acct_type_desc="Full"),
            dict(acct_id="1001", cust_name_id="2", primary_code="Secondary", name_type="I", acct_type_desc="Full"),
            dict(acct_id="1002", cust_name_id="1", primary_code="Primary", name_type="C", acct_type_desc="Full"),
            dict(acct_id="1003", cust_name_id="1", primary_code="Primary", name_type="I", acct_type_desc="Comp"),
            dict(acct_id="1004", cust_name_id="1", primary_code="Primary", name_type="I", acct_type_desc="Full"),
        ]
    )
    cust["_source_file"] = CUST_FILE
    cust["_source_line"] = [str(i) for i in range(2, 7)]

    def tk(acct, event, seat, status, price, code, upd, ret=None, seats="2", plan=None):
        return dict(
            acct_id=acct,
            event_id=event,
            section_id="10",
            row_id="5",
            seat_num=seat,
            num_seats=seats,
            ticket_status=status,
            price_code=code,
            purchase_price=price,
            upd_datetime=upd,
            return_datetime=ret,
            plan_event_id=plan,
        )

    ticket = _t(
        [
            tk("1001", "501", "1", "A", "100.00", "A", "2025-05-01 10:00:00"),
            tk("1001", "501", "3", "A", "80.50", "B", "2025-05-01 10:00:00"),
            tk("1002", "502", "1", "A", "60.00", "A", "2025-05-02 10:00:00"),
            tk("1002", "502", "7", "A", "60.00", "A", "2025-05-02 10:00:00"),
            # seat 7 returned later: not active any more
            tk("1002", "502", "7", "R", "60.00", "A", "2025-05-03 10:00:00", ret="2025-05-03 10:00:00"),
            # plan 900: seat 20 was expanded into a per-event row (the plan-level row is not active),
            # seat 21 was not (its plan-level row is the active one)
            tk("1001", "900", "20", "A", "500.00", "P", "2025-04-01 10:00:00", plan="900", seats="1"),
            tk("1001", "501", "20", "A", "50.00", "P", "2025-04-01 10:00:00", plan="900", seats="1"),
            tk("1001", "900", "21", "A", "500.00", "P", "2025-04-01 10:00:00", plan="900", seats="1"),
        ]
    )
    ticket["_source_file"] = TICKET_FILE
    quarantine = _t(
        [dict(source_file=CUST_FILE, source_line=7, dataset="cust", reason="missing acct_id", raw_text=",x")]
    )
    ledger = _t(
        [
            dict(path=CUST_FILE, sha256="x", dataset="cust", rows=6, landed=5, quarantined=1),
            dict(path=TICKET_FILE, sha256="y", dataset="ticket", rows=8, landed=8, quarantined=0),
        ]
    )
    raw_crm_contact = _t([dict(contactid="c-1"), dict(contactid="c-2")])
    synced_contacts = _t(
        [
            dict(crm_id="c-1", kore_external_key="K1", last_name="x"),
            dict(crm_id="c-2", kore_external_key="K2", last_name="y"),
        ]
    )
    golden = _t([dict(contact_key="K1", crm_contact_id="c-1"), dict(contact_key="K2", crm_contact_id="c-2")])
    mapping = _t(
        [
            dict(acct_id="1001", crm_contact_key="K1", crm_contact_id="c-1", cluster_id="cl1", is_primary=1,
                 rule="deterministic", score=1.0, first_seen_at="2026-01-01", decided_by="auto"),
            dict(acct_id="1002", crm_contact_key="K1", crm_contact_id="c-1", cluster_id="cl1", is_primary=0,
                 rule="name+email", score=0.97, first_seen_at="2026-01-01", decided_by="auto"),
        ]
    )  # fmt: skip
    clusters = _t(
        [
            dict(record_id=r, cluster_id=c, first_seen_at="2026-01-01")
            for r, c in [("A:1001:1", "cl1"), ("A:1001:2", "cl1"), ("A:1002:1", "cl1"), ("C:c-1", "cl1"),
                         ("C:c-2", "cl2"), ("A:1004:1", "cl3")]
        ]
    )  # fmt: skip
    pair_scores = _t(
        [
            dict(record_id_l="A:1001:1", record_id_r="C:c-1", weight=14.2, decision="match"),
            dict(record_id_l="A:1002:1", record_id_r="C:c-1", weight=9.1, decision="match"),
            dict(record_id_l="A:1004:1", record_id_r="C:c-2", weight=4.0, decision="possible"),
            dict(record_id_l="A:1003:1", record_id_r="C:c-2", weight=-3.5, decision="non_match"),
        ]
    )
    review = _t([dict(record_id_l="A:1004:1", record_id_r="C:c-2", weight=4.0)])
    stp = _t(
        [
            dict(external_key="T1", contact_key="K1"),
            dict(external_key="T2", contact_key="K1"),
            dict(external_key="T3", contact_key="K1"),
        ]
    )
    dim_contact = _t(
        [
            dict(
                contact_key="K1",
                email="pat@example.com",
                phone="14155550100",
                zip5="94103",
                state="CA",
                primary_acct_id="1001",
                birth_date="1980-02-29",
            ),
            dict(
                contact_key="K2",
                email="sam@example.org",
                phone="14155550101",
                zip5="10001",
                state="NY",
                primary_acct_id=None,
                birth_date=None,
            ),
        ]
    )

    def ft(key, acct, event, code, seats, price, day, active, status="A"):
        return dict(
            ticket_key=key,
            acct_id=int(acct),
            event_id=int(event),
            price_code=code,
            num_seats=seats,
            purchase_price=price,
            ticket_status=status,
            add_datetime=pd.Timestamp(day),
            is_active=active,
        )

    fct = _t(
        [
            ft("T1", 1001, 501, "A", 2, 100.0, "2025-05-01", 1),
            ft("T2", 1001, 501, "B", 2, 80.5, "2025-05-01", 1),
            ft("T3", 1002, 502, "A", 2, 60.0, "2025-05-02", 1),
            ft("T4", 1002, 502, "A", 2, 60.0, "2025-05-02", 0),
            ft("T5", 1002, 502, "A", 2, 60.0, "2025-05-03", 0, status="R"),
            ft("T6", 1001, 900, "P", 1, 500.0, "2025-04-01", 0),
            ft("T7", 1001, 501, "P", 1, 50.0, "2025-04-01", 1),
            ft("T8", 1001, 900, "P", 1, 500.0, "2025-04-01", 1),
        ]
    )  # fmt: skip
    sync_state = _t(
        [
            dict(entity="Contact", external_key="K1", crm_id="c-1", status="updated"),
            dict(entity="Contact", external_key="K2", crm_id="c-2", status="unchanged"),
        ]
    )
    tables = {
        "raw_archtics.cust": cust,
        "raw_archtics.ticket": ticket,
        "raw_archtics.quarantine": quarantine,
        "raw_archtics.file_ledger": ledger,
        "raw_archtics.load_cutoff": _t([dict(cutoff="2026-01-01 12:00:01")]),
        "raw_crm.dynamics_contact": raw_crm_contact,
        "kore.SyncedContacts": synced_contacts,
        "kore.SyncedTicketPurchases": stp,
        "kore_dedup.golden_contacts": golden,
        "kore_dedup.account_contact_map": mapping,
        "kore_dedup.clusters": clusters,
        "kore_dedup.pair_scores": pair_scores,
        "kore_dedup.review_queue": review,
        "marts.dim_contact": dim_contact,
        "marts.fct_ticket_purchases": fct,
        "ops.crm_sync_state": sync_state,
    }
    con = duckdb.connect(str(settings.duckdb_path))
    try:
        for name, df in tables.items():
            schema, table = name.split(".")
            con.execute(f"create schema if not exists {schema}")
            con.register("_df", df)
            con.execute(f"create or replace table {schema}.{table} as select * from _df")
            con.unregister("_df")
    finally:
        con.close()
    return settings


def sql(settings: Settings, statement: str) -> None:
    con = duckdb.connect(str(settings.duckdb_path))
    try:
        con.execute(statement)
    finally:
        con.close()


def check(settings: Settings, **kw) -> CheckReport:
    """A check run with the sandbox's plug-in named explicitly: the editable install's entry points
    are those of the checkout it was installed from (the entry point itself is tested below)."""
    kw.setdefault("plugins", [sandbox_checks.audits])
    return run_checks(settings, show_progress=False, **kw)


def failed(report: CheckReport, check: str, table: str | None = None) -> list:
    return [
        r
        for r in report.results
        if r.check == check and not r.success and (table is None or r.table.lower() == table.lower())
    ]


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> tuple[Settings, CheckReport]:
    settings = build_warehouse(tmp_path_factory.mktemp("clean"))
    return settings, check(settings)


@pytest.fixture
def wh(tmp_path) -> Settings:
    return build_warehouse(tmp_path)


# -- clean data -------------------------------------------------------------------------------------


def test_clean_warehouse_passes(clean):
    _, report = clean
    assert report.ok, report.summary_table(only_problems=True)
    assert not report.failures(), report.summary_table(only_problems=True)
    ran = {(r.table.lower(), r.check) for r in report.results if r.status == "passed"}
    # the important checks really ran (not skipped) on the small warehouse
    assert ("kore.syncedcontacts", "column_values_to_be_unique(crm_id)") in ran
    assert ("raw_archtics.file_ledger", "manifest_rows_equal_landed_plus_quarantined") in ran
    assert ("marts.fct_ticket_purchases", "ticket_totals_per_event_and_price_code") in ran
    assert ("marts.fct_ticket_purchases", "ticket_rows_per_event_and_price_code") in ran
    assert ("kore_dedup.account_contact_map", "every_account_mapped_excluded_or_in_review") in ran
    assert ("kore_dedup.account_contact_map", "at_most_one_primary_account_per_contact") in ran
    assert ("raw_archtics.cust", "table_row_count_to_be_between") in ran


def test_missing_tables_are_skipped_not_failed(clean):
    _, report = clean
    skipped = {r.table for r in report.results if r.status == "skipped" and r.check == "table_exists"}
    assert "kore.kore_contractbase" in skipped  # nobody built it in this warehouse
    assert "raw_archtics.evnt" in skipped


def test_results_written_to_ops_and_data_docs(clean):
    settings, report = clean
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:
        n = con.execute("select count(*) from ops.check_results where run_id = ?", [report.run_id]).fetchone()[0]
        runs = con.execute("select outcome from ops.run_history where stage = 'check'").fetchall()
    finally:
        con.close()
    assert n == len(report.results)
    assert runs and runs[-1][0] == "success"
    index = Path(report.data_docs)
    assert index.exists() and "manifest_rows_equal_landed_plus_quarantined" in index.read_text()
    assert (index.parent / "validations" / "kore.SyncedContacts.json").exists()
    assert "crm_id" in report.summary_table()


def test_checks_run_ahead_are_those_of_final_tables_and_are_taken_in_their_place(wh):
    """The flow runs, while the dedup step runs, the checks whose every table is final by then
    (``run_checks_ahead``); the checks stage takes their results instead of running them again, in
    their place: the report equals one run whole. Never ahead: a check of a table written later, a
    reference to such a table, an audit that does not declare what it reads."""
    written_later = ("kore_dedup.", "ops.", "marts.dim_contact")

    def final(relation: str) -> bool:
        return not relation.lower().startswith(written_later)

    head = run_checks_ahead(wh, final, plugins=[sandbox_checks.audits], min_rows=0)
    ahead = set(head.results)
    assert {
        "suite raw_archtics.cust",
        "suite marts.fct_ticket_purchases",
        "audit manifest_rows_equal_landed_plus_quarantined on raw_archtics.file_ledger",
        "audit ticket_totals_per_event_and_price_code on marts.fct_ticket_purchases",
        "audit reference:acct_id->raw_archtics.cust.acct_id on raw_archtics.ticket",
    } <= ahead
    assert not {k for k in ahead if "kore_dedup" in k or "dim_contact" in k}, ahead
    # reads not declared (the CRM-integrity audits read the run's records and the decisions too)
    assert not {k for k in ahead if "crm_integrity" in k}
    whole = check(wh)
    taken = check(wh, head_start=head)

    def rows(report: CheckReport) -> list[tuple]:
        return [(r.check, r.table, r.status, r.failing_rows) for r in report.results]

    assert rows(taken) == rows(whole) and whole.ok
    assert {k.removeprefix("ahead ") for k in taken.seconds if k.startswith("ahead ")} == ahead
    # taken as they were: the flow runs ahead only what no later stage writes
    sql(wh, "update marts.fct_ticket_purchases set purchase_price = 81.5 where ticket_key = 'T2'")
    assert not check(wh).ok
    assert check(wh, head_start=head).ok
    # only the checks of tables large enough to keep the engine busy go ahead
    few = run_checks_ahead(wh, final, plugins=[sandbox_checks.audits], min_rows=5)
    assert set(few.results) < ahead and "suite raw_archtics.ticket" in few.results
    assert "suite kore.SyncedContacts" in ahead and "suite kore.SyncedContacts" not in few.results  # 3 rows


# -- defects ----------------------------------------------------------------------------------------


def test_duplicate_key_fails_hard(wh):
    sql(wh, "insert into kore.SyncedContacts values ('c-1', 'K9', 'z')")
    sql(wh, "insert into kore_dedup.account_contact_map select * from kore_dedup.account_contact_map limit 1")
    report = check(wh, layer="all")
    assert not report.ok
    [dup] = failed(report, "column_values_to_be_unique(crm_id)", "kore.SyncedContacts")
    assert dup.severity == "fail" and dup.failing_rows == 2
    assert {"crm_id": "c-1"} in dup.examples
    [dup_map] = failed(report, "column_values_to_be_unique(acct_id)", "kore_dedup.account_contact_map")
    assert dup_map.examples and set(dup_map.examples[0]) <= {"acct_id", "crm_contact_key"}


def test_broken_references_fail(wh):
    sql(
        wh,
        "insert into marts.fct_ticket_purchases values ('T9', 9999, 501, 'Z', 1, 0.0, 'R', timestamp '2025-05-01', 0)",
    )
    sql(
        wh,
        "insert into kore_dedup.account_contact_map values "
        "('1004', 'K404', null, 'cl3', 1, 'x', 0.9, '2026-01-01', 'auto')",
    )
    report = check(wh, layer="all")
    assert not report.ok
    [orphan_ticket] = failed(report, "reference:acct_id->raw_archtics.cust.acct_id", "marts.fct_ticket_purchases")
    assert orphan_ticket.examples == [{"acct_id": "9999"}]
    [orphan_map] = failed(report, "reference:crm_contact_key->kore_dedup.golden_contacts.contact_key")
    assert orphan_map.failing_rows == 1 and orphan_map.examples == [{"crm_contact_key": "K404"}]


def test_raw_orphan_ticket_only_warns(wh):
    sql(wh, "update raw_archtics.ticket set acct_id = '7777' where seat_num = '3'")
    report = check(wh, layer="raw")
    [orphan] = failed(report, "reference:acct_id->raw_archtics.cust.acct_id", "raw_archtics.ticket")
    assert orphan.severity == "warn" and orphan.examples == [{"acct_id": "7777"}]
    assert report.ok  # dirty raw data is reported, not blocking


def test_revenue_mismatch_fails(wh):
    sql(wh, "update marts.fct_ticket_purchases set purchase_price = 81.5 where ticket_key = 'T2'")
    report = check(wh, layer="marts")
    [tot] = failed(report, "ticket_totals_per_event_and_price_code")
    assert not report.ok and tot.failing_rows == 1
    ex = tot.examples[0]
    assert (ex["event_id"], ex["price_code"], ex["raw_revenue"], ex["mart_revenue"]) == ("501", "B", 80.5, 81.5)


def test_cancelled_ticket_marked_active_is_a_seat_mismatch(wh):
    sql(wh, "update marts.fct_ticket_purchases set is_active = 1 where ticket_key = 'T4'")
    report = check(wh, layer="marts")
    [tot] = failed(report, "ticket_totals_per_event_and_price_code")
    assert (tot.examples[0]["raw_seats"], tot.examples[0]["mart_seats"]) == (2, 4)
    assert not failed(report, "ticket_rows_per_event_and_price_code")


def test_expanded_plan_row_marked_active_is_a_mismatch(wh):
    sql(wh, "update marts.fct_ticket_purchases set is_active = 1 where ticket_key = 'T6'")
    report = check(wh, layer="marts")
    [tot] = failed(report, "ticket_totals_per_event_and_price_code")
    assert tot.examples[0]["event_id"] == "900" and tot.examples[0]["raw_revenue"] == 500.0


def test_ticket_row_lost_by_the_mart_fails(wh):
    sql(wh, "delete from marts.fct_ticket_purchases where ticket_key = 'T5'")  # an inactive row
    report = check(wh, layer="marts")
    [rows] = failed(report, "ticket_rows_per_event_and_price_code")
    assert rows.examples == [{"event_id": "502", "price_code": "A", "raw_rows": 3, "mart_rows": 2}]
    assert not failed(report, "ticket_totals_per_event_and_price_code")


def test_manifest_mismatch_fails(wh):
    sql(wh, "delete from raw_archtics.quarantine")  # the quarantined row went missing
    report = check(wh, layer="raw")
    [m] = failed(report, "manifest_rows_equal_landed_plus_quarantined")
    assert not report.ok
    assert m.examples == [{"file": CUST_FILE, "manifest_rows": 6, "landed": 5, "quarantined": 0}]


def test_manifest_file_never_landed_fails(wh):
    sql(wh, f"delete from raw_archtics.file_ledger where path = '{TICKET_FILE}'")
    sql(wh, f"delete from raw_archtics.ticket where _source_file = '{TICKET_FILE}'")
    report = check(wh, layer="raw")
    [m] = failed(report, "manifest_rows_equal_landed_plus_quarantined")
    assert m.examples[0]["file"] == TICKET_FILE and m.examples[0]["landed"] == 0


def test_audit_compares_the_manifest_with_the_tables_not_the_ledger(wh):
    """The ledger says every file landed; the table lost rows (a killed load): the audit sees it."""
    from kore.landing import ledger_problems
    from kore.warehouse import connect

    sql(wh, "delete from raw_archtics.cust where acct_id = '1002'")
    with connect(wh) as w:
        assert ledger_problems(w), "the guard sees the ledger/table mismatch too"
        w.execute("update raw_archtics.file_ledger set landed = landed - 1 where dataset = 'cust'")
        assert not ledger_problems(w)  # ledger and table agree again; only the manifest says otherwise
    report = check(wh, layer="raw")
    [m] = failed(report, "manifest_rows_equal_landed_plus_quarantined")
    assert m.examples == [{"file": CUST_FILE, "manifest_rows": 6, "landed": 4, "quarantined": 1}]


def test_contact_with_two_primaries_fails(wh):
    sql(wh, "update kore_dedup.account_contact_map set is_primary = 1 where acct_id = '1002'")
    report = check(wh, layer="dedup")
    [p] = failed(report, "at_most_one_primary_account_per_contact")
    assert not report.ok and p.examples == [{"crm_contact_key": "K1", "primary_accounts": 2}]


def test_unmapped_account_fails_but_excluded_and_review_do_not(wh):
    sql(wh, "delete from kore_dedup.review_queue")
    report = check(wh, layer="dedup")
    [m] = failed(report, "every_account_mapped_excluded_or_in_review")
    # 1004 is no longer in review; 1003 is excluded by Account Type (Comp) and stays fine
    assert m.examples == [{"acct_id": "1004", "mapped_contacts": 0}]
    # an account mapped to two CRM contacts is named too
    sql(wh, "insert into kore_dedup.account_contact_map select * replace ('K9' as crm_contact_key) "
            "from kore_dedup.account_contact_map where acct_id = '1001'")  # fmt: skip
    [m] = failed(check(wh, layer="dedup"), "every_account_mapped_excluded_or_in_review")
    assert {"acct_id": "1001", "mapped_contacts": 2} in m.examples
    sql(wh, "delete from kore_dedup.account_contact_map where crm_contact_key = 'K9'")
    # an account Archtics merged into another may stay unmapped
    sql(wh, "create schema int; create table int.int_archtics_account_merges as select 1004 as old_acct_id")
    [again] = check(wh, layer="dedup").by_check("every_account_mapped_excluded_or_in_review")
    assert again.status == "passed", again.detail


def test_missing_table_claimed_by_landing_refuses_the_check(wh):
    from kore.landing import LandingIncomplete

    sql(wh, "drop table raw_archtics.ticket")
    with pytest.raises(LandingIncomplete, match=r"raw_archtics.ticket is missing.*rerun `kore land export`") as err:
        check(wh, layer="raw")
    assert "\n" not in str(err.value)


def test_row_count_bound_relative_to_manifest(wh):
    sql(wh, "delete from raw_archtics.cust where acct_id in ('1002', '1003', '1004')")
    sql(wh, "update raw_archtics.file_ledger set landed = landed - 3 where dataset = 'cust'")  # (else: refused)
    report = check(wh, layer="raw")
    [rc] = failed(report, "table_row_count_to_be_between", "raw_archtics.cust")
    assert rc.severity == "warn" and "manifest:cust = 5 rows" in rc.detail


def test_format_warnings_show_keys_not_emails(wh):
    sql(wh, "update marts.dim_contact set email = 'not-an-email', zip5 = '9410' where contact_key = 'K2'")
    report = check(wh, layer="marts")
    [em] = failed(report, "column_values_to_match_regex(email)")
    assert em.severity == "warn" and em.examples == [{"contact_key": "K2"}]
    assert report.ok
    docs = Path(report.data_docs).parent / "validations" / "marts.dim_contact.json"
    assert "not-an-email" not in docs.read_text() and "not-an-email" not in report.summary_table()


def test_future_dates_and_negative_prices_fail(wh):
    sql(wh, "update marts.fct_ticket_purchases set add_datetime = timestamp '2099-01-01' where ticket_key='T1'")
    sql(wh, "update marts.fct_ticket_purchases set purchase_price = -1 where ticket_key='T3'")
    report = check(wh, layer="marts")
    assert failed(report, "column_values_to_be_between(add_datetime)")[0].examples[0]["ticket_key"] == "T1"
    assert failed(report, "column_values_to_be_between(purchase_price)")[0].examples[0]["ticket_key"] == "T3"
    assert not report.ok


# -- contracts and construction ---------------------------------------------------------------------


def test_suite_files_are_valid_gx_suites_and_kore_suites_match_registry():
    import great_expectations as gx

    specs = suites.load_suites()
    assert {s.layer for s in specs} == {"raw", "staging", "kore", "dedup", "marts"}
    for s in specs:
        assert isinstance(suites.to_gx_suite(s), gx.ExpectationSuite)
        assert s.path is not None and s.path.stem == s.name
    for doc in suites.kore_suites():
        path = suites.SUITES_DIR / f"{doc['name']}.json"
        assert path.read_text() == suites.suite_json(doc), "regenerate: python -m expectations.suites --write"


def test_bad_suite_file_is_refused():
    with pytest.raises(ValueError, match="meta.kore"):
        suites.parse_suite({"name": "x", "expectations": []})
    with pytest.raises(ValueError, match="severity"):
        suites.parse_suite(
            {
                "name": "x",
                "meta": {"kore": {"layer": "raw", "table": "a.b"}},
                "expectations": [{"type": "expect_x", "kwargs": {}, "meta": {"severity": "bad"}}],
            }
        )


def test_unknown_layer_is_refused(wh):
    with pytest.raises(ValueError, match="layer"):
        check(wh, layer="bronze")


def test_sqlserver_engine_is_constructed_without_connecting(monkeypatch):
    for k, v in {
        "KORE_MSSQL_SERVER": "db.example.invalid",
        "KORE_MSSQL_DATABASE": "kore",
        "KORE_MSSQL_USER": "u",
        "KORE_MSSQL_PASSWORD": "p@ss",
    }.items():
        monkeypatch.setenv(k, v)
    engine = mssql_engine(Settings(workdir=Path("/tmp"), target="sqlserver"))
    # the URL carries the one connection string kore.config builds (SQLAlchemy's odbc_connect)
    odbc = engine.url.query["odbc_connect"]
    assert engine.dialect.name == "mssql" and "db.example.invalid" in odbc
    assert "ODBC Driver 18 for SQL Server" in odbc


def test_audit_sql_is_valid_tsql_and_duckdb():
    import sqlglot
    from sqlglot import exp

    mart = [
        tickets.MART_TOTALS.format(measures=m, table="marts.fct_ticket_purchases", where=w)
        for m, w in ((tickets.MART_SUMS, "where is_active = 1"), (tickets.MART_ROWS, ""))
    ]
    for sql_text in [tickets.RAW_TICKET_TOTALS.format(source=source) for source in ("active", "t")] + mart:
        for dialect in ("tsql", "duckdb"):
            tree = sqlglot.parse_one(sql_text, read=dialect)
            assert not list(tree.find_all(exp.Anonymous)), (dialect, sql_text[:60])


def test_raw_active_ticket_rule_edges():
    """The audit's own active-ticket rule (independent of the dbt models it checks): a return cancels
    the seat's active rows it is later than, not one of the same second; a plan-level row counts only
    where the plan's seat has no expanded per-event row."""
    con = duckdb.connect()
    con.execute("create schema raw_archtics")
    con.execute(
        "create table raw_archtics.ticket (acct_id varchar, event_id varchar, plan_event_id varchar, "
        "section_id varchar, row_id varchar, seat_num varchar, ticket_status varchar, price_code varchar, "
        "upd_datetime varchar, num_seats varchar, purchase_price varchar)"
    )
    rows = [
        # seat 1: active, returned later -> cancelled
        ("1", "10", None, "S", "A", "1", "A", "P", "2025-01-01 10:00:00", "1", "10.00"),
        ("1", "10", None, "S", "A", "1", "R", "P", "2025-01-02 10:00:00", "1", "10.00"),
        # seat 2: a return in the same second does not cancel it; an earlier return does not either
        ("1", "10", None, "S", "A", "2", "A", "P", "2025-01-02 10:00:00", "1", "20.00"),
        ("1", "10", None, "S", "A", "2", "R", "P", "2025-01-02 10:00:00", "1", "20.00"),
        ("1", "10", None, "S", "A", "2", "R", "P", "2025-01-01 09:00:00", "1", "20.00"),
        # plan 90: seat 3 expanded into event 10 (the plan-level row does not count), seat 4 not
        ("2", "90", "90", "S", "A", "3", "A", "P", "2025-01-01 10:00:00", "1", "300.00"),
        ("2", "10", "90", "S", "A", "3", "A", "P", "2025-01-01 10:00:00", "1", "30.00"),
        ("2", "90", "90", "S", "A", "4", "A", "P", "2025-01-01 10:00:00", "1", "400.00"),
        # a per-event row always counts, even on a seat some plan expanded
        ("3", "90", None, "S", "A", "3", "A", "P", "2025-01-01 10:00:00", "1", "5.00"),
    ]
    con.executemany("insert into raw_archtics.ticket values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    active = con.execute(
        f"select event_id, seats, revenue_cents from ({tickets.RAW_TICKET_TOTALS.format(source='active')}) "
        "order by event_id"
    ).fetchall()
    # event 10: seats 2 and 3; event 90: plan 90's seat 4 and the per-event row of seat 3
    assert active == [("10", 2.0, 5000.0), ("90", 2.0, 40500.0)]
    every = con.execute(f"select sum(row_count) from ({tickets.RAW_TICKET_TOTALS.format(source='t')})").fetchone()
    assert every == (len(rows),)


@given(st.lists(st.one_of(st.none(), st.text(max_size=20), st.from_regex(r"\d{1,15}", fullmatch=True), st.integers())))
@hypothesis_settings(max_examples=60, deadline=None)
def test_field_lengths_column_wise_equal_the_push_s_value_by_value(values):
    """The audit measures a million values column-wise; each must be the length the push sends
    (``as_sent``: digits-only phones gain a "+"), 0 where there is no text."""
    series = pd.Series(values, dtype=object)
    texts = [v for v in values if not isinstance(v, int)]
    for column in ("phone", "last_name"):
        want = [len(as_sent(column, v)) if isinstance(v, str) else 0 for v in values]
        assert sent_lengths(column, series).tolist() == want
        # text as the warehouse returns it (pandas' string dtype): the same lengths
        want = [len(as_sent(column, v)) if isinstance(v, str) else 0 for v in texts]
        assert sent_lengths(column, pd.Series(texts, dtype="string")).tolist() == want


def test_registry_prerequisites_become_reference_audits(tmp_path):
    refs = {(r.child, r.child_column, r.parent) for r in references.references(Settings(workdir=tmp_path))}
    assert ("kore.kore_contractlinebase", "deal_sheet_key", "kore.kore_contractbase") in refs


# -- audits against the sandbox APIs over real HTTP on loopback ----------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, Path]:
    from sandbox.generator import generate

    root = tmp_path_factory.mktemp("gen")
    generate(60, root / "export", seed=5, sandbox_dir=root / "sandbox", show_progress=False)
    return root / "export", root / "sandbox"


def _write_tables(settings: Settings, tables: dict[str, pd.DataFrame]) -> None:
    con = duckdb.connect(str(settings.duckdb_path))
    try:
        for name, df in tables.items():
            schema, table = name.split(".")
            con.execute(f"create schema if not exists {schema}")
            con.register("_df", df)
            con.execute(f"create or replace table {schema}.{table} as select * from _df")
            con.unregister("_df")
    finally:
        con.close()


def test_replica_equals_live_archtics(generated, tmp_path):
    import requests

    from sandbox.archtics_api import ArchticsSandbox

    export, sandbox_dir = generated
    settings = Settings(workdir=tmp_path)
    with ArchticsSandbox(sandbox_dir, export) as api:
        tok = requests.post(
            api.url + "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": api.client_id, "client_secret": api.client_secret},
            timeout=10,
        ).json()["access_token"]
        live = requests.get(
            api.url + "/admin/state", params={"dataset": "cust"}, headers={"Authorization": f"Bearer {tok}"}, timeout=10
        ).json()["rows"]
        replica = pd.DataFrame(live).drop(columns=["change_ts"], errors="ignore")
        replica["_dlt_id"] = "x"
        _write_tables(settings, {"raw_archtics.cust": replica})
        kw = dict(
            layer="raw",
            archtics_api_url=api.url,
            archtics_client_id=api.client_id,
            archtics_client_secret=api.client_secret,
        )
        report = check(settings, **kw)
        [ok] = report.by_check("replica_equals_live_archtics[cust]")
        assert ok.status == "passed", ok.detail
        assert report.by_check("replica_equals_live_archtics[ticket]")[0].status == "skipped"

        first, second = replica.iloc[0], replica.iloc[1]
        sql(settings, f"update raw_archtics.cust set city = 'Elsewhere' where acct_id = '{first.acct_id}' "
                      f"and cust_name_id = '{first.cust_name_id}'")  # fmt: skip
        sql(settings, f"delete from raw_archtics.cust where acct_id = '{second.acct_id}' "
                      f"and cust_name_id = '{second.cust_name_id}'")  # fmt: skip
        report = check(settings, **kw)
    [bad] = failed(report, "replica_equals_live_archtics[cust]")
    assert bad.failing_rows == 2 and not report.ok
    problems = {(e["acct_id"], e["problem"]) for e in bad.examples}
    assert (str(first.acct_id), "differs: city") in problems
    assert (str(second.acct_id), "missing in replica") in problems


def test_pushed_rows_equal_crm_records(generated, tmp_path):
    import requests

    from sandbox.crm_api import CrmSandbox

    _, sandbox_dir = generated
    settings = Settings(workdir=tmp_path, crm_flavor="dynamics")
    with CrmSandbox(sandbox_dir, "dynamics") as crm:
        creds = crm.credentials
        records = requests.get(
            crm.url + "/admin/records", params={"entity": "Contact"}, verify=creds["ca_bundle"], timeout=10
        ).json()["records"]
        assert records
        state = pd.DataFrame(
            [
                dict(crm_flavor="dynamics", entity="Contact", external_key=f"K{i}", crm_id=r["contactid"],
                     status="synced")
                for i, r in enumerate(records)
            ]
            + [dict(crm_flavor="dynamics", entity="Contact", external_key="KX", crm_id=None, status="failed")]
        )  # fmt: skip
        _write_tables(settings, {"ops.crm_sync_state": state})
        report = check(settings, layer="kore", crm_url=crm.url, crm_credentials=creds)
        [ok] = report.by_check("pushed_rows_equal_crm_records")
        assert ok.status == "passed", ok.detail
        assert f"{len(records)} pushed rows" in ok.detail

        sql(settings, "insert into ops.crm_sync_state values ('dynamics', 'Contact', 'KZ', 'no-such-id', 'synced')")
        report = check(settings, layer="kore", crm_url=crm.url, crm_credentials=creds)
    [bad] = failed(report, "pushed_rows_equal_crm_records")
    assert bad.examples == [{"entity": "Contact", "external_key": "KZ", "crm_id": "no-such-id"}]
    assert not report.ok


def test_missing_model_that_dbt_built_fails_and_dedup_claims_its_tables(wh):
    target = wh.dbt_target_dir
    target.mkdir(parents=True, exist_ok=True)
    uid = "model.kore.dim_contact"
    (target / "run_results.json").write_text(json.dumps({"results": [{"unique_id": uid, "status": "success"}]}))
    (target / "manifest.json").write_text(
        json.dumps({"nodes": {uid: {"schema": "marts", "alias": "dim_contact", "name": "dim_contact"}}})
    )
    sql(wh, "drop table marts.dim_contact")
    sql(wh, "drop table kore_dedup.clusters")
    sql(wh, "create table ops.run_history (stage varchar, outcome varchar, rows_out bigint)")
    sql(wh, "insert into ops.run_history values ('dedup', 'success', 3)")
    report = check(wh)
    [dim] = failed(report, "table_exists", "marts.dim_contact")
    assert "dbt built model.kore.dim_contact" in dim.detail
    [cl] = failed(report, "table_exists", "kore_dedup.clusters")
    assert "dedup stage" in cl.detail and not report.ok


# -- the Account-Type rule and the check plug-ins ----------------------------------------------------


def test_excluded_account_type_ignores_case_and_surrounding_spaces(wh):
    sql(wh, "update raw_archtics.cust set acct_type_desc = '  cOMP ' where acct_id = '1003'")
    [m] = check(wh, layer="dedup").by_check("every_account_mapped_excluded_or_in_review")
    assert m.status == "passed", m.detail
    assert "1 excluded by Account Type" in m.detail


def test_sandbox_plugin_is_declared_as_an_entry_point():
    import tomllib
    from importlib.metadata import EntryPoint

    from kore.contracts.checks import ENTRY_POINT_GROUP

    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    assert declared[ENTRY_POINT_GROUP] == {"sandbox": "sandbox.checks:audits"}
    assert EntryPoint("sandbox", declared[ENTRY_POINT_GROUP]["sandbox"], ENTRY_POINT_GROUP).load() is (
        sandbox_checks.audits
    )


def test_installed_plugins_are_discovered_and_a_broken_one_is_an_error(wh, tmp_path, monkeypatch):
    """Entry points of an installed distribution (a real ``.dist-info`` on ``sys.path``) are found
    without the caller naming them; one that does not load is reported, not fatal."""
    dist = tmp_path / "site" / "kore_check_probe-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: kore-check-probe\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[kore.checks]\nprobe = sandbox.checks:audits\nbroken = no_such_module_kore:audits\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    found = dict(discover_plugins())
    assert found["sandbox.checks:audits"] is sandbox_checks.audits
    assert isinstance(found["no_such_module_kore:audits"], ModuleNotFoundError)

    report = run_checks(wh, layer="kore", show_progress=False)  # no plugins named: the installed ones
    [pushed] = report.by_check("pushed_rows_equal_crm_records")
    assert pushed.status == "skipped" and pushed.detail == "no CRM URL given"
    [broken] = report.by_check("check_plugin[no_such_module_kore:audits]")
    assert broken.status == "error" and "ModuleNotFoundError" in broken.detail and not report.ok
