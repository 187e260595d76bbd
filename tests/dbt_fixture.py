"""A small raw warehouse for dbt tests: raw_archtics.*, raw_crm.* and kore_dedup.* with known cases.

Why hand-written rows: each row is here to prove one rule (latest wins, an active ticket cancelled
by a later return, a plan row superseded by its expanded per-event row, a duplicate person the
blocking must pair, an excluded Account Type). Tables have the exact raw shapes: Archtics columns
from ``kore.contracts.archtics`` as text plus ``_source_file``, ``_source_line``, ``_row_hash``,
``_dlt_load_id``, ``_dlt_id``; CRM tables with dlt-normalised field names of the flavour.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb

from kore.contracts.archtics import DATASETS

LOAD_1 = "1730000000.000001"
LOAD_2 = "1730100000.000002"

CUST = [
    # latest wins: the older row (Smyth) loses to the newer (Smith)
    dict(
        acct_id="100",
        cust_name_id="1",
        primary_code="Primary",
        name_type="I",
        acct_type_desc="Season",
        name_first="John",
        name_last="Smyth",
        street_addr_1="12 Main Street",
        city="Springfield",
        state="IL",
        zip="62701-1234",
        phone_cell="(555) 123-4567",
        email_addr="john.smith@example.com",
        upd_date="2024-01-01 10:00:00",
    ),
    dict(
        acct_id="100",
        cust_name_id="1",
        primary_code="Primary",
        name_type="I",
        acct_type_desc="Season",
        name_first="John",
        name_last="Smith",
        street_addr_1="12 Main Street",
        city="Springfield",
        state="IL",
        zip="62701-1234",
        phone_cell="(555) 123-4567",
        email_addr="john.smith@example.com",
        upd_date="2024-02-01 10:00:00",
    ),
    dict(
        acct_id="100",
        cust_name_id="2",
        primary_code="Secondary",
        name_type="I",
        acct_type_desc="Season",
        name_first="Jane",
        name_last="Smith",
        street_addr_1="12 Main St.",
        city="Springfield",
        state="IL",
        zip="62701",
        upd_date="2024-01-01 10:00:00",
    ),
    # same person, second account (typo'd first name, same email in upper case)
    dict(
        acct_id="200",
        cust_name_id="1",
        primary_code="Primary",
        name_type="I",
        acct_type_desc="Single",
        name_first="Jon",
        name_last="Smith",
        city="Chicago",
        state="IL",
        zip="60601",
        email_addr=" JOHN.SMITH@Example.com ",
        upd_date="2024-01-05 10:00:00",
    ),
    dict(
        acct_id="300",
        cust_name_id="1",
        primary_code="Primary",
        name_type="C",
        acct_type_desc="Comp",
        company_name="Acme Corp",
        name_last="Acme",
        city="Peoria",
        state="IL",
        zip="61602",
        upd_date="2024-01-05 10:00:00",
    ),
    dict(
        acct_id="400",
        cust_name_id="1",
        primary_code="Primary",
        name_type="I",
        acct_type_desc="Single",
        name_first="Maria",
        name_last="Garcia",
        city="Naperville",
        state="IL",
        zip="60540",
        phone_day="555.987.6543",
        upd_date="2024-01-05 10:00:00",
    ),
]
CUST_EMAIL = [
    dict(
        acct_id="100",
        cust_name_id="1",
        email_id="1",
        email_addr="john.smith@example.com",
        primary_ind="Y",
        email_sort="1",
    ),
]
CUST_ADDRESS = [
    dict(
        acct_id="400",
        cust_name_id="1",
        cust_address_id="1",
        primary_ind="Y",
        street_addr_1="5 Oak Avenue",
        city="Naperville",
        state="IL",
        zip="60540",
    ),
]
CUST_REP = [dict(acct_id="100", acct_rep_id="7", acct_rep_type="1", rep_full_name="Rep Seven")]

T = "2024-03-01 09:00:00"
TICKET = [
    # event 10, seat 1: active
    dict(
        acct_id="100",
        event_id="10",
        section_id="1",
        row_id="1",
        seat_num="1",
        last_seat="1",
        num_seats="1",
        ticket_status="A",
        purchase_price="50.00",
        add_datetime=T,
        upd_datetime=T,
    ),
    # event 10, seat 2: active, then returned later -> not active
    dict(
        acct_id="100",
        event_id="10",
        section_id="1",
        row_id="1",
        seat_num="2",
        last_seat="2",
        num_seats="1",
        ticket_status="A",
        purchase_price="50.00",
        add_datetime=T,
        upd_datetime=T,
    ),
    dict(
        acct_id="100",
        event_id="10",
        section_id="1",
        row_id="1",
        seat_num="2",
        last_seat="2",
        num_seats="1",
        ticket_status="R",
        return_datetime="2024-03-05 12:00:00",
        add_datetime=T,
        upd_datetime="2024-03-05 12:00:00",
    ),
    # event 10, seat 3: two versions of one row, the newer price wins
    dict(
        acct_id="100",
        event_id="10",
        section_id="1",
        row_id="1",
        seat_num="3",
        last_seat="3",
        num_seats="1",
        ticket_status="A",
        purchase_price="40.00",
        add_datetime=T,
        upd_datetime=T,
    ),
    dict(
        acct_id="100",
        event_id="10",
        section_id="1",
        row_id="1",
        seat_num="3",
        last_seat="3",
        num_seats="1",
        ticket_status="A",
        purchase_price="45.00",
        add_datetime=T,
        upd_datetime="2024-03-02 09:00:00",
    ),
    # plan 50 seat 5: plan-level row with an expanded per-event row (event 11) -> only the event row counts
    dict(
        acct_id="200",
        event_id="50",
        plan_event_id="50",
        section_id="2",
        row_id="1",
        seat_num="5",
        last_seat="5",
        num_seats="1",
        ticket_status="A",
        add_datetime=T,
        upd_datetime=T,
    ),
    dict(
        acct_id="200",
        event_id="11",
        plan_event_id="50",
        section_id="2",
        row_id="1",
        seat_num="5",
        last_seat="5",
        num_seats="1",
        ticket_status="A",
        add_datetime=T,
        upd_datetime=T,
    ),
    # plan 50 seat 6: plan-level row, not expanded -> active
    dict(
        acct_id="200",
        event_id="50",
        plan_event_id="50",
        section_id="2",
        row_id="1",
        seat_num="6",
        last_seat="6",
        num_seats="1",
        ticket_status="A",
        add_datetime=T,
        upd_datetime=T,
    ),
    # excluded account type (Comp) with an active seat
    dict(
        acct_id="300",
        event_id="10",
        section_id="3",
        row_id="1",
        seat_num="1",
        last_seat="1",
        num_seats="1",
        ticket_status="A",
        add_datetime=T,
        upd_datetime=T,
    ),
]
EVNT = [
    dict(
        event_id="10",
        event_name="Game 1",
        event_date="2024-04-01",
        plan="N",
        season_id="1",
        upd_date="2024-01-01 00:00:00",
    ),
    dict(
        event_id="11",
        event_name="Game 2",
        event_date="2024-04-08",
        plan="N",
        season_id="1",
        upd_date="2024-01-01 00:00:00",
    ),
    dict(event_id="50", event_name="Full Season", plan="Y", season_id="1", upd_date="2024-01-01 00:00:00"),
]
EVENTS_IN_PLAN = [
    dict(plan_group_id="1", plan_event_id="50", event_id="10", season_id="1", event_date="2024-04-01"),
    dict(plan_group_id="1", plan_event_id="50", event_id="11", season_id="1", event_date="2024-04-08"),
]
SEASON = [dict(season_id="1", name="2024 Season", season_year="2024", upd_datetime="2023-12-01 00:00:00")]
NOTE = [
    dict(
        note_id="1",
        task_stage_seq_num="1",
        acct_id="100",
        text="Merged account 500 into 100.",
        upd_datetime="2024-01-10 00:00:00",
    ),
    dict(
        note_id="2",
        task_stage_seq_num="1",
        acct_id="100",
        text="Called about renewal",
        upd_datetime="2024-01-11 00:00:00",
    ),
]
ARCHTICS = {
    "cust": CUST,
    "cust_email": CUST_EMAIL,
    "cust_address": CUST_ADDRESS,
    "cust_rep": CUST_REP,
    "ticket": TICKET,
    "evnt": EVNT,
    "events_in_plan": EVENTS_IN_PLAN,
    "season": SEASON,
    "note": NOTE,
}

# CRM (Dynamics names as dlt lands them). Contact c1 has two versions: the newer wins.
DYNAMICS = {
    "dynamics_user": [dict(systemuserid="u1", fullname="Rep One", modifiedon="2024-01-01T00:00:00Z")],
    "dynamics_account": [dict(accountid="a1", name="Garcia Household", modifiedon="2024-01-01T00:00:00Z")],
    "dynamics_contact": [
        dict(
            contactid="c1",
            firstname="Maria",
            lastname="Garcia",
            telephone1="+1 (555) 987-6543",
            _parentcustomerid_value="a1",
            modifiedon="2024-01-01T00:00:00Z",
        ),
        dict(
            contactid="c1",
            firstname="Maria",
            lastname="Garcia-Lopez",
            telephone1="+1 (555) 987-6543",
            _parentcustomerid_value="a1",
            modifiedon="2024-02-01T00:00:00Z",
        ),
        dict(
            contactid="c2",
            firstname="Johnny",
            lastname="Smith",
            kore_archticsaccountid="100",
            modifiedon="2024-01-01T00:00:00Z",
        ),
    ],
    "dynamics_appointment": [dict(activityid="act-1", subject="Suite tour", modifiedon="2024-01-01T00:00:00Z")],
    "dynamics_task": [dict(activityid="act-2", subject="Renewal call back", modifiedon="2024-01-01T00:00:00Z")],
    "dynamics_phone_call": [dict(activityid="act-3", subject="Call", modifiedon="2024-01-01T00:00:00Z")],
    "dynamics_email": [dict(activityid="act-4", subject="Offer", modifiedon="2024-01-01T00:00:00Z")],
    # no fax / letter tables: dlt creates none for an entity without rows
}
SALESFORCE = {
    "salesforce_appointment": [  # Salesforce's Event object
        dict(
            id="00U1",
            subject="Suite tour",
            end_date_time="2024-01-05T15:00:00.000+0000",
            system_modstamp="2024-01-01T00:00:00.000+0000",
        ),
    ],
    "salesforce_task": [
        dict(id="00T2", subject="Call back", task_subtype="Call", system_modstamp="2024-01-01T00:00:00.000+0000"),
    ],
    "salesforce_contact": [
        dict(id="003A", first_name="Maria", last_name="Garcia", system_modstamp="2024-01-01T00:00:00.000+0000"),
    ],
}

# Dedup outputs (phase 2): acct 100 and 200 belong to contact K1; 100 is its primary account.
ACCOUNT_CONTACT_MAP = [
    dict(
        acct_id="100",
        crm_contact_key="K1",
        crm_contact_id="c2",
        cluster_id="cl1",
        is_primary=1,
        rule="email",
        score=12.0,
        first_seen_at="2024-01-01 00:00:00",
        decided_by="auto",
    ),
    dict(
        acct_id="200",
        crm_contact_key="K1",
        crm_contact_id="c2",
        cluster_id="cl1",
        is_primary=0,
        rule="email",
        score=11.0,
        first_seen_at="2024-01-02 00:00:00",
        decided_by="auto",
    ),
    dict(
        acct_id="300",
        crm_contact_key="K3",
        crm_contact_id=None,
        cluster_id="cl3",
        is_primary=1,
        rule="single",
        score=0.0,
        first_seen_at="2024-01-01 00:00:00",
        decided_by="auto",
    ),
]
GOLDEN_CONTACTS = [
    dict(
        cluster_id="cl1",
        contact_key="K1",
        crm_contact_id="c2",
        first_name="John",
        last_name="Smith",
        email="john.smith@example.com",
        phone=None,
        street="12 main st",
        city="springfield",
        state="il",
        zip5="62701",
        company=None,
        birth_date=None,
        primary_acct_id="100",
        account_key="AHH1",
    ),
    dict(
        cluster_id="cl3",
        contact_key="K3",
        crm_contact_id=None,
        first_name=None,
        last_name="Acme",
        email=None,
        phone=None,
        street=None,
        city="peoria",
        state="il",
        zip5="61602",
        company="acme corp",
        birth_date=None,
        primary_acct_id="300",
        account_key="ACO3",
    ),
]


def _hash(values: list[str | None]) -> str:
    return hashlib.md5("|".join(v or "" for v in values).encode()).hexdigest()


def _create(con: duckdb.DuckDBPyConnection, schema: str, table: str, columns: list[str], rows: list[dict]) -> None:
    con.execute(f"create schema if not exists {schema}")
    cols = ", ".join(f'"{c}" varchar' for c in columns)
    con.execute(f'create or replace table {schema}."{table}" ({cols})')
    if rows:
        marks = ", ".join("?" for _ in columns)
        con.executemany(f'insert into {schema}."{table}" values ({marks})', [[r.get(c) for c in columns] for r in rows])


def archtics_rows(dataset: str, rows: list[dict], load_id: str = LOAD_1) -> tuple[list[str], list[dict]]:
    """Rows with every source column (missing = null) plus the landing columns."""
    cols = DATASETS[dataset].columns
    out = []
    for i, r in enumerate(rows):
        base = {c: r.get(c) for c in cols}
        base.update(
            _source_file=f"{dataset}/{dataset}-part-0001.csv.gz",
            _source_line=str(i + 2),
            _row_hash=_hash([base[c] for c in cols]),
            _dlt_load_id=load_id,
            _dlt_id=f"{dataset}-{i}",
        )
        out.append(base)
    return cols + ["_source_file", "_source_line", "_row_hash", "_dlt_load_id", "_dlt_id"], out


def crm_rows(rows: list[dict], load_id: str = LOAD_1) -> tuple[list[str], list[dict]]:
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    out = [{**r, "_dlt_load_id": load_id, "_dlt_id": f"crm-{i}"} for i, r in enumerate(rows)]
    return cols + ["_dlt_load_id", "_dlt_id"], out


def build(path: Path, with_dedup: bool = True) -> None:
    """Write the fixture's raw tables (and, optionally, the dedup outputs) into a DuckDB file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        for dataset, rows in ARCHTICS.items():
            cols, data = archtics_rows(dataset, rows)
            _create(con, "raw_archtics", dataset, cols, data)
        for table, rows in {**DYNAMICS, **SALESFORCE}.items():
            cols, data = crm_rows(rows)
            _create(con, "raw_crm", table, cols, data)
        if with_dedup:
            write_dedup(con)
    finally:
        con.close()


def write_dedup(con: duckdb.DuckDBPyConnection) -> None:
    import pandas as pd

    con.execute("create schema if not exists kore_dedup")
    for name, rows in (("account_contact_map", ACCOUNT_CONTACT_MAP), ("golden_contacts", GOLDEN_CONTACTS)):
        df = pd.DataFrame(rows)  # noqa: F841 - read by duckdb's replacement scan
        con.execute(f"create or replace table kore_dedup.{name} as select * from df")


def write_dedup_file(path: Path) -> None:
    con = duckdb.connect(str(path))
    try:
        write_dedup(con)
    finally:
        con.close()


def append_ticket(path: Path, row: dict, load_id: str = LOAD_2) -> None:
    """Land one more ticket row (as a delta would)."""
    con = duckdb.connect(str(path))
    try:
        cols, data = archtics_rows("ticket", [row], load_id)
        data[0]["_source_line"] = "999"
        marks = ", ".join("?" for _ in cols)
        con.execute(f"insert into raw_archtics.ticket values ({marks})", [data[0][c] for c in cols])
    finally:
        con.close()
