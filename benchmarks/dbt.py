"""Benchmark the dbt build: full build and incremental build on a warehouse of ``accounts`` accounts.

Raw data comes either from the real upstream stages (``raw="generator"``: sandbox.generator writes the
static export, dlt_pipelines.archtics_export lands it) or, by default, from a vectorised DuckDB
generator here (``raw="synthetic"``) that writes raw_archtics.* / raw_crm.* in the landed shape
directly -- so a million-account build can be measured without first spending the landing's time.

Figures: ``full_seconds`` (the first ``dbt build``, models and tests, of both phases: phase 1 is
everything but needs_dedup, phase 2 the needs_dedup models over dedup outputs written here in the dedup
step's shape; the KORE-app models are left out, they read the KORE apps' own small landed data),
``incremental_seconds`` (the same two phases as ``kore build`` runs them after a delta -- only what the
changed sources feed, dbt_build/scope.py: 1% of names changed, returns of ~1% of the tickets, 0.1% of
accounts moved to another contact), ``no_change_seconds`` (a third build with nothing new), what each
phase ran and why (``*_phases``), the slowest nodes, and row counts. ``command=run`` times ``dbt run``
instead (models only).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb

from benchmarks.landing import PeakRss
from dbt_build.runner import run_dbt
from dbt_build.scope import Phase, build_phase
from dbt_build.session import close_worker
from kore.config import Settings
from kore.contracts.archtics import DATASETS
from kore.runlog import run_record

# kore build's two phases (dbt_build/scope.py), without the KORE-app models: they read the KORE apps'
# own landed data, which this benchmark does not write (mart_customer_360 then has no deals or touchpoints)
PHASE_1 = Phase("pre-dedup", exclude=("tag:needs_dedup", "path:models/staging/kore_app+"))
PHASE_2 = Phase(
    "post-dedup", select=("tag:needs_dedup",), exclude=("path:models/kore_to_crm/kore_*",), upstream=PHASE_1
)
LANDING = ["_source_file", "_source_line", "_row_hash", "_dlt_load_id", "_dlt_id"]
FIRST_NAMES = ["john", "mary", "james", "patricia", "robert", "jennifer", "michael", "linda", "william",
               "elizabeth", "david", "barbara", "richard", "susan", "joseph", "jessica", "thomas", "sarah"]  # fmt: skip
LAST_NAMES = ["smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "rodriguez",
              "martinez", "hernandez", "lopez", "gonzalez", "wilson", "anderson", "thomas", "taylor", "moore"]  # fmt: skip
TICKETS_PER_ACCOUNT = 10
CITIES = ["Springfield", "Chicago", "Peoria", "Naperville", "Joliet", "Aurora", "Rockford", "Elgin"]


def _pick(options: list[str], expr: str) -> str:
    """SQL picking one of ``options`` by an integer expression (deterministic, vectorised)."""
    arr = "[" + ", ".join(f"'{o}'" for o in options) + "]"
    return f"{arr}[(({expr}) % {len(options)}) + 1]"


def _select(dataset: str, values: dict[str, str], source: str, load_id: str) -> str:
    """SELECT producing the dataset's raw columns (text) in order; unspecified columns are null."""
    cols = [f"cast({values[c]} as varchar) as {c}" if c in values else f"cast(null as varchar) as {c}"
            for c in DATASETS[dataset].columns]  # fmt: skip
    landing = [
        f"'{dataset}/{dataset}-part-0001.csv.gz' as _source_file",
        "cast(row_number() over () + 1 as varchar) as _source_line",
        "md5(cast(random() as varchar)) as _row_hash",
        f"'{load_id}' as _dlt_load_id",
        "cast(uuid() as varchar) as _dlt_id",
    ]
    return f"select {', '.join(cols + landing)} from {source}"


def synthetic_raw(con: duckdb.DuckDBPyConnection, accounts: int, load_id: str = "1730000000.000001") -> dict:
    """Write raw_archtics.* and raw_crm.dynamics_* for ``accounts`` accounts; returns row counts."""
    n = int(accounts)
    con.execute("set enable_progress_bar = false")
    con.execute("create schema if not exists raw_archtics")
    con.execute("create schema if not exists raw_crm")
    _synthetic_names(con, n, load_id)
    _synthetic_events(con, load_id)
    _synthetic_tickets(con, n, load_id)
    _synthetic_crm(con, n, load_id)
    return {
        t: con.execute(f"select count(*) from raw_archtics.{t}").fetchone()[0]
        for t in ("cust", "cust_email", "cust_address", "ticket", "evnt", "note")
    }


def _synthetic_names(con: duckdb.DuckDBPyConnection, n: int, load_id: str) -> None:
    """raw_archtics.cust, cust_email, cust_address, cust_rep: one or two names per account, every 20th
    account a second account of the person before it."""
    names = f"(select a.i as acct, k.k as name_id from range({n}) a(i), range(1, 3) k(k) where k.k = 1 or a.i % 3 = 0)"
    # every 20th account is a second account of the person of the account before it (same name, email)
    person = "case when acct % 20 = 1 then acct - 1 else acct end"
    cust = {
        "acct_id": "acct + 1000",
        "cust_name_id": "name_id",
        "primary_code": "case when name_id = 1 then 'Primary' else 'Secondary' end",
        "rec_status": "'A'",
        "acct_type_desc": _pick(["Season", "Single", "Group", "Comp", "Internal", "Season", "Single"], "acct"),
        "name_type": "case when acct % 50 = 7 then 'C' else 'I' end",
        "name_first": _pick(FIRST_NAMES, f"({person}) * 7 + name_id"),
        "name_last": _pick(LAST_NAMES, f"({person}) * 13 + name_id * 0"),
        "company_name": "case when acct % 50 = 7 then concat('Company ', acct % 997) end",
        "street_addr_1": f"concat(({person}) % 9999 + 1, ' Main Street')",
        "city": _pick(CITIES, person),
        "state": "'IL'",
        "zip": f"cast(60000 + ({person}) % 3000 as varchar)",
        "phone_cell": f"concat('(312) ', lpad(cast(({person}) % 10000000 as varchar), 7, '0'))",
        "email_addr": f"concat('p', {person}, '.', name_id, '@example.com')",
        "add_date": "'2020-01-01 00:00:00'",
        "upd_date": "strftime(timestamp '2023-01-01' + to_seconds(cast(acct % 31536000 as bigint)), '%Y-%m-%d %H:%M:%S')",
    }
    con.execute(f"create or replace table raw_archtics.cust as {_select('cust', cust, names, load_id)}")
    email = {"acct_id": "acct + 1000", "cust_name_id": "name_id", "email_id": "acct * 3 + name_id",
             "email_addr": f"concat('p', {person}, '.', name_id, '@example.com')", "primary_ind": "'Y'",
             "email_sort": "1"}  # fmt: skip
    con.execute(f"create or replace table raw_archtics.cust_email as {_select('cust_email', email, names, load_id)}")
    addr = {"acct_id": "acct + 1000", "cust_name_id": "name_id", "cust_address_id": "acct * 3 + name_id",
            "primary_ind": "'Y'", "street_addr_1": "concat(acct % 9999 + 1, ' Oak Avenue')", "city": "'Chicago'",
            "state": "'IL'", "zip": "'60601'"}  # fmt: skip
    con.execute(
        f"create or replace table raw_archtics.cust_address as "
        f"{_select('cust_address', addr, f'(select * from {names} where acct % 2 = 0)', load_id)}"
    )
    rep = {"acct_id": "i + 1000", "acct_rep_id": "i % 40 + 1", "acct_rep_type": "'1'",
           "rep_full_name": "concat('Rep ', i % 40 + 1)"}  # fmt: skip
    con.execute(
        f"create or replace table raw_archtics.cust_rep as "
        f"{_select('cust_rep', rep, f'(select i from range({n}) r(i) where i % 10 = 0)', load_id)}"
    )


def _synthetic_events(con: duckdb.DuckDBPyConnection, load_id: str) -> None:
    """raw_archtics.evnt, events_in_plan, season: two seasons of 40 games and 4 plans (FS, HA, HB, MP) each."""
    events = {"event_id": "i + 1", "event_name": "concat('Game ', i + 1)",
              "event_date": "strftime(date '2023-10-01' + cast((i // 40) * 365 + (i % 40) * 4 as integer), '%Y-%m-%d')",
              "plan": "'N'", "season_id": "cast(i // 40 + 1 as varchar)", "upd_date": "'2023-01-01 00:00:00'"}  # fmt: skip
    plans = {"event_id": "i + 900", "event_name": "concat('Plan ', i)", "plan": "'Y'",
             "plan_type": _pick(["FS", "HA", "HB", "MP"], "i"), "season_id": "cast(i // 4 + 1 as varchar)",
             "upd_date": "'2023-01-01 00:00:00'"}  # fmt: skip
    con.execute(
        f"create or replace table raw_archtics.evnt as {_select('evnt', events, 'range(80) r(i)', load_id)} "
        f"union all {_select('evnt', plans, 'range(8) r(i)', load_id)}"
    )
    eip = {"plan_group_id": "cast(p % 4 + 1 as varchar)", "plan_event_id": "p + 900", "event_id": "e + 1",
           "season_id": "cast(p // 4 + 1 as varchar)",
           "event_date": "strftime(date '2023-10-01' + cast((e // 40) * 365 + (e % 40) * 4 as integer), '%Y-%m-%d')"}  # fmt: skip
    pairs = "(select p.i as p, e.i as e from range(8) p(i), range(80) e(i) where e.i // 40 = p.i // 4 and e.i % 4 = p.i % 4)"
    con.execute(
        f"create or replace table raw_archtics.events_in_plan as {_select('events_in_plan', eip, pairs, load_id)}"
    )
    season = {"season_id": "cast(i + 1 as varchar)", "name": "concat(2023 + i, ' Season')",
              "season_year": "cast(2023 + i as varchar)", "upd_datetime": "'2022-12-01 00:00:00'"}  # fmt: skip
    con.execute(f"create or replace table raw_archtics.season as {_select('season', season, 'range(2) r(i)', load_id)}")


def _synthetic_tickets(con: duckdb.DuckDBPyConnection, n: int, load_id: str) -> None:
    """raw_archtics.ticket and note."""
    # ~10 ticket rows per account (10M at 1M accounts, a large client's ticket table): per-event seats,
    # some returned later, a plan-level row in the first season and, for 80% of accounts, its renewal
    # in the second (every 23rd with a second seat: an upgrade)
    renewed = "k = 4 and a % 5 <> 0"
    tickets = {
        "acct_id": "a + 1000",
        "event_id": f"case when k = 3 then 900 + a % 4 when {renewed} then 904 + a % 4 else (a * 7 + k) % 80 + 1 end",
        "plan_event_id": f"case when k = 3 then 900 + a % 4 when {renewed} then 904 + a % 4 end",
        "section_id": "a % 40 + 1",
        "row_id": "(a / 40) % 30 + 1",
        "seat_num": "(a / 1200) % 1000 * 10 + k + 1",
        "last_seat": f"(a / 1200) % 1000 * 10 + k + 1 + case when {renewed} and a % 23 = 0 then 1 else 0 end",
        "num_seats": f"case when {renewed} and a % 23 = 0 then 2 else 1 end",
        "price_code": _pick(["A", "B", "C"], "a"),
        "section_name": "concat('Sec ', a % 40 + 1)",
        "renewal_ind": f"case when {renewed} then 'Y' else 'N' end",
        "ticket_status": "case when k = 2 and a % 5 = 0 then 'R' else 'A' end",
        "return_datetime": "case when k = 2 and a % 5 = 0 then '2024-02-01 00:00:00' end",
        "purchase_price": "cast(20 + a % 80 as varchar)",
        "add_datetime": "'2024-01-15 00:00:00'",
        "upd_datetime": "case when k = 2 and a % 5 = 0 then '2024-02-01 00:00:00' else '2024-01-15 00:00:00' end",
    }
    con.execute(
        f"create or replace table raw_archtics.ticket as "
        f"{_select('ticket', tickets, f'(select a.i as a, k.k as k from range({n}) a(i), range({TICKETS_PER_ACCOUNT}) k(k))', load_id)}"
    )
    note = {"note_id": "i + 1", "task_stage_seq_num": "1", "acct_id": "i * 50 + 1000",
            "text": "case when i % 10 = 0 then concat('Merged account ', i * 50 + 1001, ' into ', i * 50 + 1000) "
                    "else 'Called about renewal' end", "upd_datetime": "'2024-01-10 00:00:00'"}  # fmt: skip
    con.execute(
        f"create or replace table raw_archtics.note as {_select('note', note, f'range({max(n // 50, 1)}) r(i)', load_id)}"
    )


def _synthetic_crm(con: duckdb.DuckDBPyConnection, n: int, load_id: str) -> None:
    """raw_crm.dynamics_contact and dynamics_account."""
    # CRM contacts for 10% of people: half carry the Archtics id, all share the person's email
    con.execute(
        f"""create or replace table raw_crm.dynamics_contact as
        select concat('c', i) as contactid, {_pick(FIRST_NAMES, "i * 7 + 1")} as firstname,
               {_pick(LAST_NAMES, "i * 13")} as lastname, concat('p', i, '.1@example.com') as emailaddress1,
               case when i % 20 = 0 then cast(i + 1000 as varchar) end as kore_archticsaccountid,
               '2024-01-01T00:00:00Z' as modifiedon, '{load_id}' as _dlt_load_id, cast(uuid() as varchar) as _dlt_id
        from range(0, {n}, 10) r(i)"""
    )
    con.execute(
        f"""create or replace table raw_crm.dynamics_account as
        select concat('a', i) as accountid, concat('Account ', i) as name, '2024-01-01T00:00:00Z' as modifiedon,
               '{load_id}' as _dlt_load_id, cast(uuid() as varchar) as _dlt_id from range(0, {n}, 20) r(i)"""
    )


def synthetic_dedup(con: duckdb.DuckDBPyConnection, accounts: int) -> dict:
    """What the dedup step writes (kore_dedup.*), in its shape: one contact per person, the person's
    first account primary, every 25th contact's account shared with the next person (a household)."""
    n = int(accounts)
    person = "case when a.i % 20 = 1 then a.i - 1 else a.i end"
    con.execute("create schema if not exists kore_dedup")
    con.execute(
        f"""create or replace table kore_dedup.account_contact_map as
        select cast(a.i + 1000 as varchar) as acct_id, concat('K', {person}) as crm_contact_key,
               cast(null as varchar) as crm_contact_id, concat('cl', {person}) as cluster_id,
               case when a.i % 20 = 1 then 0 else 1 end as is_primary, 'email' as rule, 12.5 as score,
               '2024-01-01 00:00:00' as first_seen_at, 'auto' as decided_by
        from range({n}) a(i)"""
    )
    con.execute(
        f"""create or replace table kore_dedup.golden_contacts as
        select concat('K', a.i) as contact_key, cast(null as varchar) as crm_contact_id,
               concat('cl', a.i) as cluster_id, concat('AK', a.i - a.i % 25) as account_key,
               {_pick(FIRST_NAMES, "a.i * 7 + 1")} as first_name, {_pick(LAST_NAMES, "a.i * 13")} as last_name,
               concat('p', a.i, '.1@example.com') as email, cast(null as varchar) as phone,
               concat(a.i % 9999 + 1, ' main st') as street, 'chicago' as city, 'il' as state,
               cast(60000 + a.i % 3000 as varchar) as zip5, cast(null as varchar) as company,
               cast(null as varchar) as birth_date, cast(a.i + 1000 as varchar) as primary_acct_id
        from range({n}) a(i) where a.i % 20 <> 1"""
    )
    return {"mapped_accounts": n}


def synthetic_dedup_delta(con: duckdb.DuckDBPyConnection) -> int:
    """A dedup re-run after the delta: 0.1% of accounts move to another contact (a new golden contact,
    as the dedup step writes one for every contact it maps accounts to), and the contacts of another
    0.1% are gone: all their accounts went to a new contact (a person re-decided the cluster)."""
    moved = con.execute(
        "update kore_dedup.account_contact_map set crm_contact_key = concat(crm_contact_key, 'm') "
        "where cast(acct_id as bigint) % 1000 = 11"
    ).fetchone()[0]
    con.execute(
        """insert into kore_dedup.golden_contacts
        select * replace (concat(contact_key, 'm') as contact_key, concat(cluster_id, 'm') as cluster_id)
        from kore_dedup.golden_contacts
        where contact_key in (
            select left(crm_contact_key, length(crm_contact_key) - 1) from kore_dedup.account_contact_map
            where cast(acct_id as bigint) % 1000 = 11)"""
    )
    gone = "select crm_contact_key from kore_dedup.account_contact_map where cast(acct_id as bigint) % 1000 = 7"
    con.execute(
        f"""create temp table gone_contacts as select * from kore_dedup.golden_contacts where contact_key in ({gone})"""
    )
    con.execute("delete from kore_dedup.golden_contacts where contact_key in (select contact_key from gone_contacts)")
    con.execute(
        """insert into kore_dedup.golden_contacts select * replace (concat(contact_key, 'g') as contact_key,
        concat(cluster_id, 'g') as cluster_id) from gone_contacts"""
    )
    con.execute(
        "update kore_dedup.account_contact_map set crm_contact_key = concat(crm_contact_key, 'g'), "
        "cluster_id = concat(cluster_id, 'g') where crm_contact_key in (select contact_key from gone_contacts)"
    )
    con.execute("drop table gone_contacts")
    return int(moved)


def synthetic_delta(con: duckdb.DuckDBPyConnection, accounts: int, load_id: str = "1730500000.000002") -> dict:
    """A delta as the API would merge it: 1% of names changed, new returns of 1% of active seats."""
    n = int(accounts)
    con.execute("set enable_progress_bar = false")
    # the delta happens after everything already landed: one day after the newest change time
    base = con.execute(
        "select max(try_cast(upd_datetime as timestamp)) + interval 1 day from raw_archtics.ticket"
    ).fetchone()[0]
    ts = base.strftime("%Y-%m-%d %H:%M:%S")
    changed = con.execute(
        f"update raw_archtics.cust set name_last = concat(name_last, 'x'), upd_date = '{ts}', "
        f"_dlt_load_id = '{load_id}' where cast(acct_id as bigint) % 100 = 3"
    ).fetchone()[0]
    con.execute(
        f"""insert into raw_archtics.ticket
        select * replace (
            'R' as ticket_status, '{ts}' as return_datetime, '{ts}' as upd_datetime,
            '{load_id}' as _dlt_load_id, cast(uuid() as varchar) as _dlt_id)
        from raw_archtics.ticket
        where ticket_status = 'A' and plan_event_id is null and cast(acct_id as bigint) % 100 = 7"""
    )
    returns = con.execute(f"select count(*) from raw_archtics.ticket where _dlt_load_id = '{load_id}'").fetchone()[0]
    return {"names_changed": int(changed or 0), "tickets_returned": int(returns), "accounts": n}


def _count(settings: Settings, table: str) -> int:
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:
        return int(con.execute(f"select count(*) from {table}").fetchone()[0])
    finally:
        con.close()


def _slowest(nodes: list[dict], top: int = 10) -> dict[str, float]:
    """The nodes (models, tests) that took longest in a dbt run (name -> seconds): where the time goes."""
    timed = sorted(nodes, key=lambda r: -(r.get("execution_time") or 0))[:top]
    return {r["unique_id"].split(".")[-1]: round(r.get("execution_time") or 0, 2) for r in timed}


def _land_with_generator(settings: Settings, accounts: int) -> dict:
    from dlt_pipelines.archtics_export import land_export
    from sandbox.generator import generate

    gen = generate(accounts, settings.export_dir, sandbox_dir=settings.sandbox_dir, show_progress=False)
    landed = land_export(settings, settings.export_dir, show_progress=False)
    return {"generated": gen, "landed": landed}


def _with_db(settings: Settings, fn, *args):
    con = duckdb.connect(str(settings.duckdb_path))
    try:
        return fn(con, *args)
    finally:
        con.close()


def _save_nodes(settings: Settings, name: str, nodes: list[dict]) -> None:
    """Keep a build's node results (timing, thread) beside dbt's artifacts: the next build overwrites
    run_results.json, and the full build's is the one that shows the critical path."""
    keep = [{k: n.get(k) for k in ("unique_id", "status", "thread_id", "execution_time", "timing")} for n in nodes]
    (settings.dbt_target_dir.parent / f"{name}_nodes.json").write_text(json.dumps(keep, indent=1))


def _build(settings: Settings, command: str, full: bool = False) -> dict:
    """Both phases as ``kore build`` runs them (phase 2 over the dedup outputs already written):
    seconds, what each phase built and why, the slowest nodes, failures. Each build starts without a
    warm dbt process (dbt_build/session.py), as a new ``kore run`` process does: the first phase pays
    dbt's start and parse, the second reuses them."""
    close_worker()
    t0 = time.perf_counter()
    with PeakRss(own=False) as rss:  # dbt's DuckDB lives in the dbt worker process
        outcomes = [build_phase(settings, p, full=full, command=command, check=False) for p in (PHASE_1, PHASE_2)]
    seconds = round(time.perf_counter() - t0, 2)
    for o in outcomes:
        if not o.ok and not any(x.get("status") in ("fail", "warn") for x in o.result.results):
            raise RuntimeError("dbt failed:\n" + "\n".join(o.result.stdout.splitlines()[-30:]))
    nodes = [node for o in outcomes if o.result for node in o.result.results]
    _save_nodes(settings, "full" if full else "incremental", nodes)
    return {
        "seconds": seconds,
        "peak_rss_mb": rss.mb,
        "phases": {o.plan.phase.name: {k: v for k, v in o.summary().items() if k != "phase"} for o in outcomes},
        "slowest": _slowest(nodes),
        "failed": sum(1 for node in nodes if node.get("status") in ("fail", "error")),
    }


def run(
    workdir: Path,
    accounts: int | None = None,
    rows: int | None = None,
    raw: str = "synthetic",
    command: str = "build",
    **kw,
) -> dict:
    """Full and incremental dbt build on a fresh warehouse in ``workdir`` (see the module docstring)."""
    accounts = int(accounts or 100_000)
    settings = Settings(workdir=Path(workdir).resolve())
    settings.ensure_dirs()
    if settings.duckdb_path.exists():
        settings.duckdb_path.unlink()
    out: dict = {"accounts": accounts, "raw": raw, "command": f"dbt {command}"}
    with run_record(settings, "bench", "dbt") as rec:
        t0 = time.perf_counter()
        if raw == "generator":
            out["landing"] = _land_with_generator(settings, accounts)
        else:
            out["raw_rows"] = _with_db(settings, synthetic_raw, accounts)
        _with_db(settings, synthetic_dedup, accounts)
        out["raw_seconds"] = round(time.perf_counter() - t0, 2)
        run_dbt(settings, ["seed"])
        run_dbt(settings, ["parse"])  # parse once, so the timings below are the builds themselves

        full = _build(settings, command, full=True)
        out["full_seconds"], out["full_tests_failed"] = full["seconds"], full["failed"]
        out["full_phases"], out["full_slowest"] = full["phases"], full["slowest"]
        out["full_dbt_peak_rss_mb"] = full["peak_rss_mb"]
        fact_before = _count(settings, "marts.fct_ticket_purchases")

        out["delta"] = _with_db(settings, synthetic_delta, accounts)
        out["delta"]["accounts_moved_to_another_contact"] = _with_db(settings, synthetic_dedup_delta)
        inc = _build(settings, command)
        out["incremental_seconds"], out["incremental_tests_failed"] = inc["seconds"], inc["failed"]
        out["incremental_phases"], out["incremental_slowest"] = inc["phases"], inc["slowest"]
        out["incremental_dbt_peak_rss_mb"] = inc["peak_rss_mb"]
        # a build with nothing new: the fixed cost of a routine run (dedup outputs always count as changed)
        out["no_change_seconds"] = _build(settings, command)["seconds"]
        out["incremental_share"] = round(out["incremental_seconds"] / out["full_seconds"], 3)
        out["fact_rows_before"] = fact_before
        out["fact_rows_after"] = _count(settings, "marts.fct_ticket_purchases")
        out["rows"] = {
            t: _count(settings, t)
            for t in ("stg.stg_archtics__custs", "stg.stg_archtics__tickets", "marts.fct_ticket_purchases",
                      "marts.dim_account", "marts.dim_contact", "kore.SyncedTicketPurchases",
                      "dedup.dedup_person_records", "marts.fct_event_sales", "marts.fct_season_ticket_holders",
                      "marts.fct_renewals", "marts.mart_customer_360", "marts.fct_rep_book")
        }  # fmt: skip
        rec.rows_in = sum(out.get("raw_rows", {}).values())
        rec.rows_out = out["fact_rows_after"]
        rec.detail = {k: v for k, v in out.items() if k.endswith("_seconds")}
    return out
