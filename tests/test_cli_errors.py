"""Every user mistake ends as one line on stderr with the fix and exit code 1 or 2, no traceback
(`kore --debug` shows it); `kore check` on an empty warehouse and `kore crm push` with nothing to
push exit 1. One handler (orchestration.cli_common.KoreGroup) does it for every command."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kore.errors import ConfigError, CredentialsRejected, KoreError, Unreachable, as_user_error
from orchestration.cli import app
from orchestration.outcomes import checks_problem, push_problem

runner = CliRunner()


def one_line_error(res, code: int) -> str:
    """The command failed with ``code``, printed exactly one line on stderr and no traceback."""
    assert res.exit_code == code, (res.exit_code, res.output, res.exception)
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("Error: ") and "Traceback" not in res.output
    return lines[0]


def test_unknown_layer(workdir: Path) -> None:
    line = one_line_error(runner.invoke(app, ["check", "--layer", "mart", "--workdir", str(workdir)]), 2)
    assert "unknown layer 'mart'" in line and "marts" in line


def test_bad_target(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KORE_TARGET", "postgres")
    line = one_line_error(runner.invoke(app, ["status", "--workdir", str(workdir)]), 2)
    assert "KORE_TARGET" in line and "'postgres'" in line


def test_missing_sql_server_variables(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KORE_TARGET", "sqlserver")
    for var in ("KORE_MSSQL_SERVER", "KORE_MSSQL_DATABASE", "KORE_MSSQL_USER", "KORE_MSSQL_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    line = one_line_error(runner.invoke(app, ["check", "--workdir", str(workdir)]), 2)
    assert "KORE_MSSQL_SERVER" in line and "KORE_MSSQL_PASSWORD" in line


def test_missing_workdir(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-workdir"
    line = one_line_error(runner.invoke(app, ["check", "--workdir", str(missing)]), 2)
    assert f"workdir {missing} does not exist" in line and "mkdir -p" in line
    assert not missing.exists(), "a typo in --workdir creates nothing"


def test_missing_crm_url_and_credentials(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("KORE_CRM_URL", "KORE_CRM_CLIENT_ID", "KORE_CRM_CLIENT_SECRET", "KORE_CRM_TENANT"):
        monkeypatch.delenv(var, raising=False)
    line = one_line_error(runner.invoke(app, ["crm", "push", "--workdir", str(workdir)]), 2)
    assert "--url" in line and "KORE_CRM_URL" in line
    res = runner.invoke(app, ["crm", "pull", "--url", "https://127.0.0.1:9", "--workdir", str(workdir)])
    line = one_line_error(res, 2)
    assert "KORE_CRM_CLIENT_ID" in line and "KORE_CRM_CLIENT_SECRET" in line


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("flavor", ["dynamics", "salesforce"])
def test_crm_unreachable(workdir: Path, monkeypatch: pytest.MonkeyPatch, flavor: str) -> None:
    monkeypatch.setenv("KORE_CRM_CLIENT_ID", "id")
    monkeypatch.setenv("KORE_CRM_CLIENT_SECRET", "secret")
    monkeypatch.setenv("KORE_CRM_TENANT", "tenant")
    url = f"https://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("KORE_CRM_AUTHORITY", f"{url}/tenant")  # Dynamics' token endpoint on the same host
    res = runner.invoke(app, ["crm", "pull", "--url", url, "--flavor", flavor, "--workdir", str(workdir)])
    line = one_line_error(res, 1)
    assert f"cannot reach {url}/" in line and "KORE_CRM_URL" in line
    assert "secret" not in line


@pytest.mark.parametrize("flavor", ["dynamics", "salesforce"])
def test_wrong_credentials(workdir: Path, monkeypatch: pytest.MonkeyPatch, flavor: str) -> None:
    from sandbox.crm_api import CrmSandbox

    with CrmSandbox(workdir / "sandbox", flavor) as sb:
        c = sb.credentials
        monkeypatch.setenv("KORE_CRM_CLIENT_ID", c["client_id"])
        monkeypatch.setenv("KORE_CRM_CLIENT_SECRET", "not-the-secret")
        monkeypatch.setenv("KORE_CRM_TENANT", c.get("tenant_id", "t"))
        if "authority" in c:
            monkeypatch.setenv("KORE_CRM_AUTHORITY", c["authority"])
        monkeypatch.setenv("KORE_CRM_CA_BUNDLE", c["ca_bundle"])
        res = runner.invoke(app, ["crm", "pull", "--url", sb.url, "--flavor", flavor, "--workdir", str(workdir)])
    line = one_line_error(res, 2)
    assert "credentials rejected" in line and "KORE_CRM_CLIENT_SECRET" in line
    assert "not-the-secret" not in line


def test_debug_shows_the_traceback(workdir: Path) -> None:
    res = runner.invoke(app, ["--debug", "check", "--layer", "mart", "--workdir", str(workdir)])
    assert res.exit_code == 1 and isinstance(res.exception, KoreError), res.output


def test_unknown_option_is_one_line(workdir: Path) -> None:
    line = one_line_error(runner.invoke(app, ["run", "--stagess", "dedup", "--workdir", str(workdir)]), 2)
    assert "--stagess" in line and "--help" in line


def test_check_on_an_empty_warehouse_exits_1_with_one_line(workdir: Path) -> None:
    line = one_line_error(runner.invoke(app, ["check", "--workdir", str(workdir)]), 1)
    assert "no data check ran" in line and "--allow-empty" in line
    res = runner.invoke(app, ["check", "--layer", "marts", "--allow-empty", "--workdir", str(workdir)])
    assert res.exit_code == 0, res.output


def test_push_with_every_source_table_missing_exits_1(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sandbox.crm_api import CrmSandbox

    with CrmSandbox(workdir / "sandbox", "salesforce") as sb:
        c = sb.credentials
        for key, var in (("client_id", "KORE_CRM_CLIENT_ID"), ("client_secret", "KORE_CRM_CLIENT_SECRET")):
            monkeypatch.setenv(var, c[key])
        monkeypatch.setenv("KORE_CRM_CA_BUNDLE", c["ca_bundle"])
        res = runner.invoke(app, ["crm", "push", "--url", sb.url, "--flavor", "salesforce", "--workdir", str(workdir)])
    assert res.exit_code == 1, res.output
    assert res.stdout.count("\n") == 1 and '"entities"' in res.stdout, "the summary: one JSON line on stdout"
    assert "Error: CRM push: every source table is missing" in res.stderr


# -- the rules themselves (pure functions of the stages' summaries) -------------------------------


def test_push_problem_names_entities_and_error_codes() -> None:
    summary = {
        "dry_run": False,
        "failed": 3,
        "retract_failed": 0,
        "entities": {
            "Contact": {"source": "kore.SyncedContacts", "failed": 2, "errors": {"0x80040265": 2}},
            "Account": {"source": "kore.SyncedAccounts", "failed": 1, "errors": {"HTTP 400": 1}},
            "Season": {"source": "kore.kore_seasonbase", "failed": 0, "errors": {}},
        },
    }
    err = push_problem(summary)
    assert err is not None and err.exit_code == 1
    assert "3 rows failed: Contact 2 (0x80040265 x2); Account 1 (HTTP 400 x1)" in err.one_line()
    assert "Season" not in str(err)
    assert push_problem(summary, allow_failed_rows=True) is None
    assert push_problem({**summary, "dry_run": True}) is None
    assert push_problem({**summary, "failed": 0, "entities": {"Season": summary["entities"]["Season"]}}) is None


def test_checks_problem_only_when_nothing_ran() -> None:
    from kore.contracts.checks import CheckResult

    skipped = CheckResult("c", "raw", "t", "fail", "skipped")
    passed = CheckResult("c", "raw", "t", "fail", "passed")

    class Report:
        layer = "all"

        def __init__(self, results):
            self.results = results

    assert checks_problem(Report([skipped, skipped])) is not None
    assert checks_problem(Report([])) is not None
    assert checks_problem(Report([skipped, passed])) is None
    assert checks_problem(Report([skipped]), allow_empty=True) is None


def test_library_errors_that_mean_a_user_mistake() -> None:
    import requests

    try:
        try:
            raise requests.exceptions.ConnectionError("refused", request=requests.Request("GET", "https://h/x?tok=1"))
        except requests.exceptions.ConnectionError as inner:
            raise RuntimeError("pull failed") from inner
    except RuntimeError as outer:
        err = as_user_error(outer)
    assert isinstance(err, Unreachable) and "https://h/x" in err.one_line() and "tok=1" not in err.one_line()
    assert isinstance(as_user_error(RuntimeError("Dynamics token request failed: invalid_client")), CredentialsRejected)
    assert as_user_error(KeyError("a bug")) is None
    assert isinstance(ConfigError("x"), ValueError) and isinstance(ConfigError("x"), RuntimeError)


def test_dedup_on_an_unbuilt_warehouse_is_one_line(workdir: Path) -> None:
    line = one_line_error(runner.invoke(app, ["dedup", "explain", "1", "2", "--workdir", str(workdir)]), 1)
    assert "dedup.dedup_person_records does not exist" in line and "kore build" in line


def test_benchmark_options_after_the_name_are_the_same_as_opt():
    """``kore bench chaos --kills 20`` (as the docs write it) = ``--opt kills=20``; a bare word or a
    flag without a value is refused in one line."""
    import typer

    from orchestration.cli import _extra_opts

    assert _extra_opts(["--kills", "20", "--stages=build,dedup", "--crm-share", "0.24"]) == {
        "kills": 20,
        "stages": "build,dedup",
        "crm_share": 0.24,
    }
    for bad in (["20"], ["--kills"], ["--kills", "--stages", "x"]):
        with pytest.raises(typer.BadParameter):
            _extra_opts(bad)
