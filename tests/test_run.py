"""`kore run` from the command line against the sandbox: every stage, exit codes, one JSON document
on stdout, rows the CRM refuses named in the failure, and the README's cron line run as written.

One module fixture does the expensive part once: a generated export, the sandbox Archtics API and
CRM started in this process (threads on 127.0.0.1), and a first `kore run` that lands the export and
the sandbox's deltas (the changes after the export's cutoff) and runs every stage. That run is the
README's cron line run as written with `/bin/sh` (one full run serves both: its JSON document is the
file the line redirects stdout to, its progress the log the line appends stderr to).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from kore.config import REPO_ROOT, get_settings
from orchestration.demo import generate_sample
from orchestration.flow import STAGE_NAMES

pytestmark = pytest.mark.slow


def kore_env(wd: Path, archtics, crm) -> dict[str, str]:
    """The environment a scheduler would give `kore run`: the systems' URLs and credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KORE_") or k == "KORE_DBT_PARSE_CACHE"}
    env.update(
        PYTHONPATH=str(REPO_ROOT),
        KORE_WORKDIR=str(wd),
        KORE_ARCHTICS_API_URL=archtics.url,
        KORE_ARCHTICS_CLIENT_ID=archtics.client_id,
        KORE_ARCHTICS_CLIENT_SECRET=archtics.client_secret,
        KORE_CRM_URL=crm.url,
        KORE_CRM_CLIENT_ID=crm.credentials["client_id"],
        KORE_CRM_CLIENT_SECRET=crm.credentials["client_secret"],
        KORE_CRM_TENANT=crm.credentials["tenant_id"],
        KORE_CRM_AUTHORITY=crm.credentials["authority"],  # the sandbox serves Dynamics' token endpoint
        KORE_CRM_CA_BUNDLE=crm.credentials["ca_bundle"],  # the sandbox CRM's self-signed certificate
        KORE_APPS_DIR=str(env_apps_dir(wd)),  # the KORE apps' export folder (the sample's)
        # the sample export holds a few deliberately broken rows (as `kore demo` accepts them): a
        # production run stops on any quarantined row unless allowed
        KORE_ALLOW_QUARANTINE="1",
        KORE_MAX_BAD_SHARE_FILE="0.05",
        KORE_MAX_BAD_SHARE_DATASET="0.05",
    )
    return env


def kore(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "orchestration", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def cron_run(wd: Path, env: dict[str, str], home: Path) -> subprocess.CompletedProcess:
    """The README's crontab line run as written by /bin/sh, set up as the README asks the operator."""
    cron_env, command = cron_block()
    assert "kore run" in command
    # what the README asks the operator to put in place: the environment file with the secrets
    exports = {k: v for k, v in env.items() if k.startswith("KORE_") and k != "KORE_WORKDIR"}
    (wd / "kore.env").write_text("".join(f"export {k}='{v}'\n" for k, v in exports.items()))
    # the crontab's own variables, with the workdir and the virtualenv's bin folder of this machine
    shell_env = {**cron_env, "KORE_WORKDIR": str(wd), "HOME": str(home), "PYTHONPATH": str(REPO_ROOT)}
    shell_env["PATH"] = f"{Path(sys.executable).parent}:{cron_env['PATH'].split(':', 1)[1]}"
    return subprocess.run([cron_env.get("SHELL", "/bin/sh"), "-c", command], env=shell_env, capture_output=True,
                          text=True, timeout=900, cwd=home)  # fmt: skip


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory):
    from sandbox.archtics_api import ArchticsSandbox
    from sandbox.crm_api import CrmSandbox

    wd = tmp_path_factory.mktemp("run")
    s = get_settings(wd)
    s.ensure_dirs()
    generate_sample(s, accounts=200, seed=7)
    assert env_apps_dir(wd) == s.sandbox_dir / "kore_apps"
    with contextlib.ExitStack() as servers:
        archtics = servers.enter_context(ArchticsSandbox(s.sandbox_dir, s.export_dir))
        crm = servers.enter_context(CrmSandbox(s.sandbox_dir, "dynamics"))
        env = kore_env(wd, archtics, crm)
        first = cron_run(wd, env, tmp_path_factory.mktemp("home"))
        yield wd, env, crm, first


def env_apps_dir(wd: Path) -> Path:
    return wd / "sandbox_data" / "kore_apps"


def run_log(wd: Path) -> str:
    """What the cron line appended to the run log (the run's stderr: human progress)."""
    return (wd / "logs" / "kore-run.log").read_text()


def one_document(stdout: str) -> dict:
    """stdout holds exactly one JSON document (json.loads refuses anything after it)."""
    return json.loads(stdout)


def test_kore_run_runs_every_stage_and_exits_zero(flow) -> None:
    wd, _, _, first = flow
    assert first.returncode == 0, (first.stdout, first.stderr, run_log(wd)[-4000:])
    doc = one_document((wd / "logs" / "last-run.json").read_text())
    assert doc["ok"] and doc["exit_code"] == 0 and doc["failures"] == []
    outcomes = {s["stage"]: s["outcome"] for s in doc["stages"]}
    assert list(outcomes) == list(STAGE_NAMES)
    assert set(outcomes.values()) == {"ok"}, outcomes
    by_stage = {s["stage"]: s for s in doc["stages"]}
    assert by_stage["catch-up deltas"]["rows_in"] > 0, "the sandbox's changes after the cutoff were fetched"
    assert by_stage["CRM push"]["detail"]["failed"] == 0
    # human progress went to stderr (dbt's lines streamed as they came), the report was written
    log = run_log(wd)
    assert "dbt build" in log and re.search(r"\d\d:\d\d:\d\d\s+\d+ of \d+ (START|OK)", log)
    assert Path(doc["report"]).is_file()
    assert json.loads((wd / "logs" / "runs" / f"{doc['run_id']}.json").read_text())["stages"] == doc["stages"]


def test_kore_report_rebuilds_a_past_run(flow) -> None:
    wd, env, _, _ = flow
    run_id = one_document((wd / "logs" / "last-run.json").read_text())["run_id"]
    res = kore(env, "report", run_id)
    assert res.returncode == 0, res.stderr
    page = Path(res.stdout.strip()).read_text()
    assert Path(res.stdout.strip()).name == f"run-report-run-{run_id}.html"
    for stage in STAGE_NAMES:
        assert stage in page
    assert "manifest_rows_equal_landed_plus_quarantined" in page, "the run's check results are in the report"
    bad = kore(env, "report", "nosuchrun")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def cron_block() -> tuple[dict[str, str], str]:
    """The README's crontab: its variable lines and the command of its schedule line."""
    text = (REPO_ROOT / "README.md").read_text()
    block = re.search(r"<!-- cron -->\s*```[a-z]*\n(.*?)```", text, flags=re.S)
    assert block, "README has a crontab block after <!-- cron -->"
    env: dict[str, str] = {}
    command = ""
    for line in block.group(1).splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if re.match(r"^[A-Z_]+=", line):
            key, value = line.split("=", 1)
            env[key] = value
        else:
            fields = line.split(None, 5)
            assert len(fields) == 6 and all(re.fullmatch(r"[\d*/,-]+", f) for f in fields[:5]), line
            command = fields[5]
    # cron turns an unescaped % into a newline: the line must not have one
    assert "%" not in command.replace(r"\%", ""), command
    return env, command


def test_readme_cron_line_works_as_written(flow) -> None:
    """The fixture's run is the README's crontab line (see `cron_run`): it exits 0 and prints
    nothing (cron mails any output), the run document and the log are where the line puts them."""
    wd, _, _, first = flow
    assert first.returncode == 0, (first.stdout, first.stderr, run_log(wd)[-3000:])
    assert first.stdout == first.stderr == "", "cron mails any output: a successful run prints nothing"
    doc = json.loads((wd / "logs" / "last-run.json").read_text())
    assert doc["ok"] and doc["exit_code"] == 0
    assert "CRM push" in run_log(wd)
    # the KORE apps' folder came from kore.env (KORE_APPS_DIR), as --kore-apps-dir would give it
    apps = next(s for s in doc["stages"] if s["stage"] == "land KORE apps")
    assert apps["outcome"] == "ok" and apps["rows_in"] > 0, apps


def test_rows_the_crm_refuses_fail_the_run_and_are_named(flow) -> None:
    wd, env, crm, first = flow
    assert first.returncode == 0
    con = duckdb.connect(str(wd / "warehouse.duckdb"))
    try:
        keys = [
            r[0]
            for r in con.execute(
                "select external_key from ops.crm_sync_state where entity = 'Contact' and status = 'synced' "
                "order by external_key limit 2"
            ).fetchall()
        ]
        assert len(keys) == 2
        # forget that they were pushed: the next push sends them again
        con.execute("delete from ops.crm_sync_state where entity = 'Contact' and external_key in (?, ?)", keys)
    finally:
        con.close()
    crm.add_faults({"record_errors": {k: "custom validation rule says no" for k in keys}})
    try:
        res = kore(env, "run", "--stages", "CRM push,CRM reconciliation", "--json")
        assert res.returncode == 1, res.stderr[-3000:]
        doc = one_document(res.stdout)
        assert not doc["ok"] and doc["exit_code"] == 1
        outcomes = {s["stage"]: s["outcome"] for s in doc["stages"]}
        assert outcomes["CRM push"].startswith("failed: CRM push: 2 rows failed: Contact 2"), outcomes
        assert outcomes["CRM reconciliation"] == "skipped", "the run stops at the first failure"
        assert any("Contact 2" in f for f in doc["failures"])
        assert "FAILED CRM push: CRM push: 2 rows failed" in res.stderr
        # the failed stage still reports its counts
        push = next(s for s in doc["stages"] if s["stage"] == "CRM push")
        assert push["detail"]["failed"] == 2
        # the flag makes the same failures a success
        allowed = kore(env, "run", "--stages", "CRM push", "--allow-failed-rows", "--json")
        assert allowed.returncode == 0, allowed.stderr[-3000:]
        assert one_document(allowed.stdout)["stages"][0]["detail"]["failed"] == 2
    finally:
        crm.clear_faults()


def test_unknown_dedup_ids_are_one_line(flow) -> None:
    _, env, _, _ = flow
    res = kore(env, "dedup", "explain", "999999991", "999999992")
    assert res.returncode == 2, res.stderr
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("Error:") and "Traceback" not in res.stderr
