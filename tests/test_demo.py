"""`kore demo` runs every stage end to end, fills every stage's output table, and is re-runnable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from kore.config import REPO_ROOT

pytestmark = pytest.mark.slow

# one table per stage that the stage must leave non-empty
STAGE_TABLES = {
    "land export": ["raw_archtics.cust", "raw_archtics.ticket", "raw_archtics.cust_email"],
    "land KORE apps": ["raw_kore_app.season", "raw_kore_app.deal_sheet"],
    "CRM pull": ["raw_crm.dynamics_contact", "raw_crm.dynamics_account"],
    "dbt build": ["kore.SyncedContacts", "kore.kore_seasonbase", "dedup.dedup_person_records", "marts.fct_event_sales"],
    "dedup": ["kore_dedup.account_contact_map", "kore_dedup.clusters"],
    "dbt build (post-dedup)": [
        "marts.dim_contact",
        "marts.fct_ticket_purchases",
        "kore.SyncedTicketPurchases",
        "marts.fct_season_ticket_holders",
        "marts.fct_renewals",
        "marts.mart_customer_360",
        "marts.fct_rep_book",
    ],
    "data-quality checks": ["ops.check_results"],
    "CRM push": ["ops.crm_sync_state"],
}


def _demo(workdir: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KORE_") or k == "KORE_DBT_PARSE_CACHE"}
    env["PYTHONPATH"] = str(REPO_ROOT)
    return subprocess.run(
        [sys.executable, "-m", "orchestration", "demo", "--accounts", "300", "--workdir", str(workdir)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[subprocess.CompletedProcess]]:
    wd = tmp_path_factory.mktemp("demo")
    first = _demo(wd)
    second = _demo(wd)
    return wd, [first, second]


def test_demo_exits_zero_twice(demo_runs) -> None:
    _, runs = demo_runs
    for i, proc in enumerate(runs, 1):
        assert proc.returncode == 0, f"run {i} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"


def test_every_stage_ok_and_its_output_table_non_empty(demo_runs) -> None:
    wd, _ = demo_runs
    stages = {s["stage"]: s for s in json.loads((wd / "logs" / "last_demo.json").read_text())}
    for stage in ("generate", "protect a sponsor", "catch-up deltas", *STAGE_TABLES):
        assert stages[stage]["outcome"] == "ok", stages[stage]
    con = duckdb.connect(str(wd / "warehouse.duckdb"), read_only=True)
    try:
        for stage, tables in STAGE_TABLES.items():
            for table in tables:
                n = con.execute(f"select count(*) from {table}").fetchone()[0]
                assert n > 0, f"{stage}: {table} is empty"
    finally:
        con.close()


def test_integrity_audit_counts_in_the_crm_with_a_protected_sponsor(demo_runs) -> None:
    """After the push, every structural integrity count read from the sandbox CRM's own records is 0,
    and the protected-record count ran (the demo protects the seed's sponsor) rather than skipped."""
    wd, _ = demo_runs
    con = duckdb.connect(str(wd / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "select check_name, status, failing_rows, detail from ops.check_results "
            "where check_name like 'crm_integrity_%[crm]' and run_id = (select run_id from ops.check_results "
            "where check_name like 'crm_integrity_%[crm]' order by checked_at desc limit 1)"
        ).fetchall()
    finally:
        con.close()
    got = {name: (status, n, detail) for name, status, n, detail in rows}
    for name in ("duplicated_accounts", "moved_contacts", "protected_fields_changed", "retracted_rows_active"):
        status, n, detail = got[f"crm_integrity_{name}[crm]"]
        assert (status, n) == ("passed", 0), (name, status, n, detail)
    assert got["crm_integrity_protected_fields_changed[crm]"][2].startswith("0 of 1 protected")
    # the reconciliation after the push runs the audits only (the suites ran before the push, and
    # the push changes the CRM and the sync state, not the tables they check)
    history = [json.loads(x) for x in (wd / "logs" / "runs.jsonl").read_text().splitlines()]
    reconciliation = [json.loads(h["detail"]) for h in history if (h["stage"], h.get("entity")) == ("check", "kore")]
    assert reconciliation and all(not any(k.startswith("suite ") for k in d["seconds"]) for d in reconciliation)
    assert all(any(k.startswith("audit crm_integrity_") for k in d["seconds"]) for d in reconciliation)


def test_analysts_page_plots_the_marts(demo_runs) -> None:
    """The run report's analysts' panels (holders, retention, revenue by event) each carry a plot."""
    wd, _ = demo_runs
    page = (wd / "reports" / "run-report-latest.html").read_text()
    for key in ("analysts_holders", "analysts_retention", "analysts_event_revenue"):
        assert f'<section id="{key}">' in page, key
        section = page.split(f'<section id="{key}">', 1)[1].split("</section>", 1)[0]
        assert "<img" in section, f"{key}: {section[:300]}"


def test_second_run_changes_nothing(demo_runs) -> None:
    """Re-running on unchanged sources doubles no row and creates nothing new in the CRM."""
    wd, _ = demo_runs
    history = [json.loads(x) for x in (wd / "logs" / "runs.jsonl").read_text().splitlines()]
    pushes = [h for h in history if h["stage"] == "CRM push"]
    assert len(pushes) == 2, [h["stage"] for h in history]
    first, second = (json.loads(p["detail"]) for p in pushes)
    assert first["created"] > 0
    # the contacts pushed by run 1 come back through the CRM pull and are recognised, not re-created
    assert second["created"] == 0, second
    assert second["failed"] == 0, second
    # ... and nothing unchanged is sent again (the CRM id a created row got back is not a change)
    assert second["sent"] == 0, second
    con = duckdb.connect(str(wd / "warehouse.duckdb"), read_only=True)
    try:
        # landing twice never doubles a row: one row per business key in the replica
        dupes = con.execute(
            "select count(*) from (select acct_id, cust_name_id from raw_archtics.cust "
            "group by acct_id, cust_name_id having count(*) > 1) d"
        ).fetchone()[0]
        assert dupes == 0
        # every account maps to exactly one contact after the round trip
        multi = con.execute(
            "select count(*) from (select acct_id from kore_dedup.account_contact_map "
            "group by acct_id having count(*) > 1) d"
        ).fetchone()[0]
        assert multi == 0
    finally:
        con.close()


def _plain_env(wd: Path) -> dict[str, str]:
    """The environment of an analyst using plain dbt/dlt on the demo workdir (README "Using plain dbt
    and dlt"): the workdir and dlt's data directory, nothing else of KORE's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KORE_", "DLT_", "DBT_"))}
    return env | {"KORE_WORKDIR": str(wd), "DLT_DATA_DIR": str(wd / ".dlt_data"),
                  "DBT_TARGET_PATH": str(wd / "plain_dbt" / "target"), "DBT_LOG_PATH": str(wd / "plain_dbt" / "logs")}  # fmt: skip


def test_plain_dbt_source_freshness_passes_on_the_demo_warehouse(demo_runs) -> None:
    """`dbt source freshness` (plain dbt, from the project folder): every enabled source is fresh; the
    other CRM flavour's sources are disabled, not failing."""
    from dbt_build.runner import dbt_executable
    from kore.config import DBT_PROJECT_DIR

    wd, _ = demo_runs
    proc = subprocess.run([dbt_executable(), "source", "freshness", "--profiles-dir", "."], cwd=DBT_PROJECT_DIR,
                          env=_plain_env(wd), capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:]
    results = json.loads((wd / "plain_dbt" / "target" / "sources.json").read_text())["results"]
    assert len(results) > 40 and {r["status"] for r in results} == {"pass"}
    assert not any(".salesforce_" in r["unique_id"] for r in results)  # the demo's CRM is Dynamics
    assert not (DBT_PROJECT_DIR / "warehouse.duckdb").exists()


def test_dlt_cli_lists_the_pipelines_with_the_documented_setting(demo_runs) -> None:
    """`DLT_DATA_DIR=<workdir>/.dlt_data dlt pipeline --list-pipelines` finds every pipeline the demo ran."""
    wd, _ = demo_runs
    dlt_cli = str(Path(sys.executable).with_name("dlt"))
    cmd = [dlt_cli if Path(dlt_cli).exists() else "dlt", "pipeline", "--list-pipelines"]
    proc = subprocess.run(cmd, env=_plain_env(wd), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("archtics_export", "kore_apps"):
        assert name in proc.stdout, proc.stdout
    info = subprocess.run([*cmd[:2], "archtics_export", "info"], env=_plain_env(wd), capture_output=True, text=True)
    assert info.returncode == 0 and "raw_archtics" in info.stdout, info.stdout + info.stderr
