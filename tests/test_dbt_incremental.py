"""The routine dbt build gives the warehouse a full rebuild gives, and does work in proportion to
the change.

A small synthetic warehouse (the benchmark's generator, benchmarks/dbt.py) is built in full, the way
`kore build` builds it (dbt_build/scope.py); then a delta lands the way the Archtics delta pipeline
lands it (changed names, returns, a late-arriving older change, a new expanded plan row) and dedup
moves some accounts to another contact. The routine build -- only the nodes the changed sources feed,
incremental models reading only the new rows -- must leave every table of the warehouse equal to a
`--full-refresh` build of the same data, row for row, except for the watermark columns that record
which run wrote a row.
"""

from __future__ import annotations

import duckdb
import pytest

from benchmarks.dbt import (
    PHASE_1,
    PHASE_2,
    synthetic_dedup,
    synthetic_dedup_delta,
    synthetic_delta,
    synthetic_raw,
)
from dbt_build.runner import run_dbt
from dbt_build.scope import (
    CODE_INVARIANT_TAG,
    BuildOutcome,
    BuildPlan,
    build_phase,
    descendants,
    plan_build,
    read_manifest,
)
from kore.config import Settings

ACCOUNTS = 3000
DELTA_LOAD = "1730500000.000002"
LATE_LOAD = "1730600000.000003"
# the incremental models (every table is compared; these must be among them)
TABLES = (
    "stg.stg_archtics__custs",
    "stg.stg_archtics__cust_emails",
    "stg.stg_archtics__tickets",
    "marts.fct_ticket_purchases",
    "marts.dim_account",
    "kore.SyncedTicketPurchases",
)
# columns that record which run wrote a row: they legitimately differ from a full rebuild
WATERMARKS = {
    "batch_load_id",
    "source_load_id",
    "_source_load_id",
    "_built_at",
    "changed_at",
    "persons_changed_at",
    "previous_person_key",
}
MODEL_SCHEMAS = ("stg", "int", "kore", "marts")


def _build(settings: Settings) -> list[BuildOutcome]:
    """Both phases as `kore build` runs them (models only: the data tests have their own tests)."""
    return [build_phase(settings, phase, command="run") for phase in (PHASE_1, PHASE_2)]


def _full_refresh(settings: Settings) -> None:
    """Both phases rebuilt from scratch: the full plan's arguments plus --full-refresh."""
    for phase in (PHASE_1, PHASE_2):
        run_dbt(settings, [*BuildPlan(phase, "full", "", "", {}, command="run").dbt_args(), "--full-refresh"])


def _snapshot(settings: Settings) -> dict[str, list[tuple]]:
    """Every table the models wrote (views recompute), sorted, without the watermark columns."""
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:
        out = {}
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            f"where table_type = 'BASE TABLE' and table_schema in {MODEL_SCHEMAS}"
        ).fetchall()
        for schema, name in tables:
            cols = [
                f'"{c}"'
                for (c,) in con.execute(
                    "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
                    "order by ordinal_position",
                    [schema, name],
                ).fetchall()
                if c not in WATERMARKS
            ]
            out[f"{schema}.{name}"] = con.execute(
                f'select {", ".join(cols)} from {schema}."{name}" order by all'
            ).fetchall()
        return out
    finally:
        con.close()


def _late_and_plan_changes(con: duckdb.DuckDBPyConnection) -> None:
    """A name change that lands late with an older change time than the staged row (it must not win),
    and a new expanded per-event row of one plan seat: account 1001's first-season plan (its
    plan-level row stops counting; its renewal, another plan and seat, still counts)."""
    con.execute(
        f"insert into raw_archtics.cust select * replace ('Stale' as name_last, '2019-01-01 00:00:00' as upd_date, "
        f"'{LATE_LOAD}' as _dlt_load_id) from raw_archtics.cust where cast(acct_id as bigint) = 1005"
    )
    con.execute(
        f"insert into raw_archtics.ticket select * replace (cast(5 as varchar) as event_id, '{LATE_LOAD}' as "
        f"_dlt_load_id, '2025-01-01 00:00:00' as upd_datetime) from raw_archtics.ticket "
        f"where cast(acct_id as bigint) = 1001 and plan_event_id = (select min(plan_event_id) from "
        f"raw_archtics.ticket where cast(acct_id as bigint) = 1001)"
    )


def _kore_app_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The two KORE-app tables mart_customer_360 reads (deals, touchpoints), as the kore_*base models
    would leave them: the benchmark's phases leave those models out, so they stand here as tables."""
    con.execute("create schema if not exists kore")
    con.execute(
        "create table kore.kore_premiumdealbase as select contact_key, "
        "case when hash(contact_key) % 3 = 0 then 'Signed' else 'Proposal' end as status, "
        "cast(1000 + hash(contact_key) % 500 as decimal(18, 2)) as annual_value "
        "from kore_dedup.golden_contacts where hash(contact_key) % 40 = 1"
    )
    con.execute(
        "create table kore.kore_touchpointbase as select contact_key, "
        "timestamp '2025-01-01' + to_days(cast(hash(contact_key) % 300 as integer)) as occurred_at "
        "from kore_dedup.golden_contacts where hash(contact_key) % 40 in (1, 2)"
    )


def _kore_app_changes(con: duckdb.DuckDBPyConnection) -> int:
    """Sales staff at work in the KORE apps: open deals signed, a new deal, touchpoints logged and one
    removed. Returns the number of rows changed."""
    changed = con.execute(
        "update kore.kore_premiumdealbase set status = 'Signed' where hash(contact_key) % 3 = 1"
    ).fetchone()[0]
    changed += con.execute(
        "insert into kore.kore_premiumdealbase select contact_key, 'Proposal', 2500 "
        "from kore_dedup.golden_contacts where hash(contact_key) % 40 = 3"
    ).fetchone()[0]
    changed += con.execute(
        "insert into kore.kore_touchpointbase select contact_key, timestamp '2026-06-01' "
        "from kore_dedup.golden_contacts where hash(contact_key) % 40 in (2, 4)"
    ).fetchone()[0]
    changed += con.execute("delete from kore.kore_touchpointbase where hash(contact_key) % 80 = 1").fetchone()[0]
    return int(changed)


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict:
    settings = Settings(workdir=tmp_path_factory.mktemp("dbt_incremental"))
    settings.ensure_dirs()
    con = duckdb.connect(str(settings.duckdb_path))
    try:
        synthetic_raw(con, ACCOUNTS)
        synthetic_dedup(con, ACCOUNTS)
        _kore_app_tables(con)
    finally:
        con.close()
    run_dbt(settings, ["seed"])
    first = _build(settings)
    con = duckdb.connect(str(settings.duckdb_path))
    try:
        delta = synthetic_delta(con, ACCOUNTS, load_id=DELTA_LOAD)
        moved = synthetic_dedup_delta(con)
        _late_and_plan_changes(con)
        app_changes = _kore_app_changes(con)
    finally:
        con.close()
    routine = _build(settings)
    incremental = _snapshot(settings)
    quiet = [plan_build(settings, phase, command="run") for phase in (PHASE_1, PHASE_2)]
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:  # rows the incremental run wrote carry its watermark (the newest load, LATE_LOAD)
        rewritten = {
            table: con.execute(f"select avg(case when {col} = '{LATE_LOAD}' then 1.0 else 0 end) from {table}").fetchone()[0]
            for table, col in (("stg.stg_archtics__tickets", "batch_load_id"), ("stg.stg_archtics__custs", "batch_load_id"),
                               ("marts.fct_ticket_purchases", "batch_load_id"), ("marts.dim_account", "source_load_id"),
                               ("kore.SyncedTicketPurchases", "_source_load_id"),
                               ("int.int_person_season_spend", "source_load_id"),
                               ("marts.fct_season_ticket_holders", "source_load_id"))
        }  # fmt: skip
    finally:
        con.close()
    _full_refresh(settings)
    return {"settings": settings, "incremental": incremental, "full": _snapshot(settings), "delta": delta,
            "moved": moved, "rewritten": rewritten, "first": first, "routine": routine, "quiet": quiet,
            "app_changes": app_changes}  # fmt: skip


def test_routine_build_equals_a_full_rebuild(builds: dict) -> None:
    """Every table -- the incremental models and the ones the routine build skipped -- holds what a
    full rebuild of the same data gives."""
    assert builds["delta"]["names_changed"] > 0 and builds["delta"]["tickets_returned"] > 0 and builds["moved"] > 0
    assert builds["app_changes"] > 0
    assert set(TABLES) <= set(builds["full"]) and len(builds["full"]) > 20
    assert set(builds["incremental"]) == set(builds["full"])
    for table, full in builds["full"].items():
        inc = builds["incremental"][table]
        assert len(inc) == len(full), f"{table}: {len(inc)} rows after the routine build, {len(full)} in a full rebuild"
        assert inc == full, f"{table}: the routine build differs from a full rebuild"


def test_routine_build_runs_only_what_the_changed_sources_feed(builds: dict) -> None:
    """The first build is a full one; after the delta only the Archtics names and tickets and the
    dedup mapping changed, so exactly the models downstream of those sources run (dbt's graph, read
    from the manifest): the fact, the accounts and contacts, and the reporting marts that read them
    (stale otherwise), while the CRM, event and e-mail models are not run; with nothing new, nothing
    runs at all (no dbt invocation)."""
    assert [o.plan.mode for o in builds["first"]] == ["full", "full"]
    pre, post = builds["routine"]
    assert pre.plan.mode == post.plan.mode == "changed"
    assert {"archtics.cust", "archtics.ticket", "kore_dedup.account_contact_map"} <= set(pre.plan.changed_sources)
    assert not any(s.startswith("crm.") for s in pre.plan.changed_sources)
    ran = {r["unique_id"].split(".")[-1] for o in builds["routine"] for r in o.result.results}
    assert {"stg_archtics__custs", "fct_ticket_purchases", "dim_account", "SyncedTicketPurchases"} <= ran
    assert {"fct_event_sales", "fct_season_ticket_holders", "fct_renewals", "mart_customer_360", "fct_rep_book"} <= ran
    assert not ran & {"SyncedUsers", "SyncedContacts", "stg_archtics__events", "stg_archtics__cust_emails", "dim_event"}
    manifest = read_manifest(builds["settings"])
    assert manifest is not None
    full_ids = {r["unique_id"] for o in builds["first"] for r in o.result.results}
    feeds = descendants(manifest, sorted({*pre.plan.changed_sources, *post.plan.changed_sources})) & full_ids
    expected = {u.split(".")[-1] for u in feeds if CODE_INVARIANT_TAG not in manifest["nodes"][u]["tags"]}
    assert ran == expected, f"ran but not fed: {ran - expected}; fed but not run: {expected - ran}"
    assert len(ran) < len(full_ids) / 2
    assert [(p.mode, p.dbt_args()) for p in builds["quiet"]] == [("nothing", None), ("nothing", None)]


def test_late_older_change_does_not_win_and_a_new_expanded_row_retires_the_plan_row(builds: dict) -> None:
    con = duckdb.connect(str(builds["settings"].duckdb_path), read_only=True)
    try:
        names = con.execute("select name_last from stg.stg_archtics__custs where acct_id = 1005").fetchall()
        assert names and all(n != "Stale" for (n,) in names)
        plan_rows = con.execute(
            "select season_id, is_active from marts.fct_ticket_purchases where acct_id = 1001 "
            "and is_plan_level_row = 1 order by season_id"
        ).fetchall()
        assert plan_rows == [(1, 0), (2, 1)]  # the expanded plan is retired, its renewal is not
    finally:
        con.close()


def test_incremental_build_rewrites_only_what_the_delta_touched(builds: dict) -> None:
    """~1% of names and tickets changed: each incremental table rewrote a small share of its rows, yet
    some (the run did happen) -- the person-level reporting marts too: only the persons whose accounts'
    tickets changed or whose accounts dedup moved."""
    assert {"int.int_person_season_spend", "marts.fct_season_ticket_holders"} <= set(builds["rewritten"])
    for table, share in builds["rewritten"].items():
        assert 0 < share < 0.1, f"{table}: the incremental run rewrote {share:.1%} of the rows"


def test_data_tests_check_the_rows_the_latest_run_wrote(builds: dict) -> None:
    """A duplicate the latest run did not write is outside a routine build's tests (older runs were
    tested when they ran); var kore_test_all_rows tests every row and finds it; a duplicate in the
    latest run's rows fails the routine test."""
    import json

    settings = builds["settings"]
    unique = ["test", "--select", "fct_ticket_purchases,test_name:kore_primary_key"]

    def duplicate(batch: str) -> None:
        con = duckdb.connect(str(settings.duckdb_path))
        try:
            con.execute("delete from marts.fct_ticket_purchases where load_id = 'dup'")
            con.execute(
                f"insert into marts.fct_ticket_purchases select * replace ('dup' as load_id, {batch} as batch_load_id) "
                "from marts.fct_ticket_purchases where acct_id = 1002 and is_plan_level_row = 1"
            )
        finally:
            con.close()

    duplicate("'0'")
    assert run_dbt(settings, unique, check=False).ok
    assert not run_dbt(settings, [*unique, "--vars", json.dumps({"kore_test_all_rows": True})], check=False).ok
    duplicate("(select max(batch_load_id) from marts.fct_ticket_purchases)")
    assert not run_dbt(settings, unique, check=False).ok


def test_a_crashed_build_is_redone_and_a_project_change_rebuilds_everything(
    builds: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build state moves only after dbt succeeded: a build that dies half-way leaves the next one
    to select the same changed sources; once a build succeeds there is nothing left to do. A changed
    project (another hash) means a full build whatever the data did."""
    settings = builds["settings"]
    con = duckdb.connect(str(settings.duckdb_path))
    try:
        con.execute(
            "insert into raw_archtics.ticket select * replace ('1731000000.000004' as _dlt_load_id, "
            "'2025-02-01 00:00:00' as upd_datetime, 'R' as ticket_status) from raw_archtics.ticket "
            "where cast(acct_id as bigint) = 1009 and plan_event_id is null limit 1"
        )
    finally:
        con.close()
    before = plan_build(settings, PHASE_1, command="run")
    assert before.mode == "changed" and before.changed_sources == ["archtics.ticket"]

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated crash in the middle of dbt")

    with monkeypatch.context() as m:
        m.setattr("dbt_build.scope.run_dbt", crash)
        with pytest.raises(RuntimeError, match="simulated crash"):
            build_phase(settings, PHASE_1, command="run")
    again = plan_build(settings, PHASE_1, command="run")
    assert (again.mode, again.changed_sources) == (before.mode, before.changed_sources)

    assert build_phase(settings, PHASE_1, command="run").ok
    assert plan_build(settings, PHASE_1, command="run").mode == "nothing"
    assert plan_build(settings, PHASE_2, command="run").mode == "changed"  # its upstream just built new data
    # a dedup re-run changes only what the second phase reads: the first has nothing to start dbt for
    con = duckdb.connect(str(settings.duckdb_path))
    try:
        assert synthetic_dedup_delta(con) > 0
    finally:
        con.close()
    only_dedup = plan_build(settings, PHASE_1, command="run")
    assert (only_dedup.mode, only_dedup.dbt_args()) == ("nothing", None)
    assert only_dedup.reason.endswith("none feeds this phase")
    changed_project = plan_build(settings, PHASE_1, command="run", phash="another project")
    assert (changed_project.mode, changed_project.reason) == ("full", "the dbt project changed")
    assert changed_project.dbt_args() == ["run", "--exclude", *PHASE_1.exclude, "tag:code_invariant"]


NEW_SEASON_LOAD = "1732000000.000005"


def _new_season(con: duckdb.DuckDBPyConnection) -> None:
    """A third season starts: its season, a plan of type FS and the plan's first sale (one seat of
    account 1004, the holder of that plan type last season)."""
    load = f"'{NEW_SEASON_LOAD}' as _dlt_load_id"
    con.execute(
        f"insert into raw_archtics.season select * replace ('3' as season_id, '2025 Season' as name, '2025' as "
        f"season_year, '2024-12-01 00:00:00' as upd_datetime, {load}) from raw_archtics.season where season_id = '2'"
    )
    con.execute(
        f"insert into raw_archtics.evnt select * replace ('908' as event_id, 'Plan 8' as event_name, '3' as season_id, "
        f"'2024-12-01 00:00:00' as upd_date, {load}) from raw_archtics.evnt where event_id = '904'"
    )
    con.execute(
        f"insert into raw_archtics.ticket select * replace ('908' as event_id, '908' as plan_event_id, "
        f"'2025-03-01 00:00:00' as add_datetime, '2025-03-01 00:00:00' as upd_datetime, {load}) "
        f"from raw_archtics.ticket where acct_id = '1004' and plan_event_id = '904' and ticket_status = 'A'"
    )


def test_a_new_season_recomputes_every_holder_and_equals_a_full_rebuild(builds: dict) -> None:
    """What every person's rows share changes -- a new season's first plan sale makes every holder of
    last season who has not renewed (yet) lapsed -- so the person-level marts recompute everyone, and
    the routine build still equals a full rebuild."""
    settings = builds["settings"]
    con = duckdb.connect(str(settings.duckdb_path))
    try:  # the duplicate an earlier test planted in the fact (its load_id 'dup' would hide every newer load)
        con.execute("delete from marts.fct_ticket_purchases where load_id = 'dup'")
        _new_season(con)
    finally:
        con.close()
    _build(settings)
    incremental = _snapshot(settings)
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:
        lapsed, holders, rewritten = con.execute(
            "select sum(case when holder_status = 'lapsed' then 1 else 0 end), sum(is_holder), "
            f"avg(case when source_load_id = '{NEW_SEASON_LOAD}' then 1.0 else 0 end) "
            "from marts.fct_season_ticket_holders where season_id = 3"
        ).fetchone()
        everyone = con.execute(
            f"select avg(case when source_load_id = '{NEW_SEASON_LOAD}' then 1.0 else 0 end) "
            "from marts.fct_season_ticket_holders"
        ).fetchone()[0]
    finally:
        con.close()
    assert holders == 1 and lapsed > 100 and rewritten == 1 and everyone == 1
    _full_refresh(settings)
    full = _snapshot(settings)
    for table in ("int.int_person_season_spend", "marts.fct_season_ticket_holders", "marts.fct_renewals",
                  "marts.mart_customer_360", "marts.fct_rep_book"):  # fmt: skip
        assert incremental[table] == full[table], f"{table}: the routine build differs from a full rebuild"
