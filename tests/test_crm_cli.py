"""The CLI path to a CRM, as a user runs it: `kore sandbox serve crm` in its own process, then
`kore crm verify`, `kore crm pull` and `kore crm push` in subprocesses, configured only through the
documented KORE_CRM_* variables (MSAL authority for Dynamics, JWT bearer for Salesforce)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from kore.config import REPO_ROOT, Settings
from tests.test_crm_support import CONTACTS, kore_tables, write_tables


def _kore(args: list[str], env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "orchestration", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module", params=["dynamics", "salesforce"])
def served(request, tmp_path_factory):
    """The sandbox CRM served by the CLI in a subprocess; yields (flavor, url, env for `kore crm`).

    One server per flavour for the module (starting one costs a CLI start-up and a TLS certificate):
    only `test_verify_pull_push_from_the_cli` writes, the other tests read or fail to log in."""
    flavor = request.param
    settings = Settings(workdir=tmp_path_factory.mktemp(f"crm_cli_{flavor}"))
    base = {k: v for k, v in os.environ.items() if not k.startswith("KORE_")}
    env = {**base, **settings.env(), "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestration", "sandbox", "serve", "crm", "--flavor", flavor, "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        m = re.search(r"at (https://127\.0\.0\.1:\d+)", line)
        assert m, f"the sandbox did not start: {line}{proc.stdout.read() if proc.poll() is not None else ''}"  # type: ignore[union-attr]
        url = m.group(1)
        sandbox = settings.sandbox_dir
        creds = json.loads((sandbox / f"crm_{flavor}_credentials.json").read_text())
        crm_env = {
            **env,
            "KORE_CRM_URL": url,
            "KORE_CRM_FLAVOR": flavor,
            "KORE_CRM_CLIENT_ID": creds["client_id"],
            "KORE_CRM_CA_BUNDLE": str(sandbox / "crm_tls" / "cert.pem"),
        }
        if flavor == "dynamics":
            crm_env["KORE_CRM_CLIENT_SECRET"] = creds["client_secret"]
            crm_env["KORE_CRM_AUTHORITY"] = f"{url}/{creds['tenant_id']}"
        else:  # JWT bearer: no secret at all, the connected app's private key signs the assertion
            crm_env["KORE_CRM_USERNAME"] = creds["username"]
            crm_env["KORE_CRM_PRIVATE_KEY_FILE"] = str(sandbox / "crm_salesforce_jwt_key.pem")
        yield flavor, url, crm_env, settings
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _admin(url: str, settings: Settings, path: str) -> dict:
    cert = settings.sandbox_dir / "crm_tls" / "cert.pem"
    return requests.get(f"{url}{path}", verify=str(cert), timeout=10).json()


def test_verify_pull_push_from_the_cli(served):
    flavor, url, env, settings = served
    verified = _kore(["crm", "verify"], env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    report = json.loads(verified.stdout)
    assert report["ok"] and report["checked_entities"] == 42 and not report["missing_fields"]

    pulled = _kore(["crm", "pull"], env)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    user = _admin(url, settings, "/admin/records?entity=User")["records"][0]
    user_id = user["systemuserid" if flavor == "dynamics" else "Id"]
    write_tables(settings, kore_tables(2, user_id), CONTACTS)

    # The warehouse now holds a KORE attribute the org does not define: verify names it, exits 1.
    extra = kore_tables(2, user_id)
    season = next(k for k in extra if k.endswith("season") or k == "kore_seasonbase")
    extra[season]["loyalty_tier"] = "gold"
    write_tables(settings, {season: extra[season]})
    lacking = _kore(["crm", "verify", "--entity", "Season"], env)
    assert lacking.returncode == 1, lacking.stdout + lacking.stderr
    missing = json.loads(lacking.stdout)["missing_fields"]
    assert [f for fields in missing.values() for f in fields if "oyalty" in f.lower()], missing
    write_tables(settings, {season: kore_tables(2, user_id)[season]})

    pushed = _kore(["crm", "push"], env)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    seasons = _admin(url, settings, "/admin/records?entity=Season")["records"]
    assert len(seasons) == 2
    assert "Traceback" not in pushed.stderr


def test_wrong_credentials_fail_with_one_line(served):
    flavor, _url, env, _settings = served
    if flavor == "dynamics":
        env = {**env, "KORE_CRM_CLIENT_SECRET": "wrong"}
    else:
        env = {**env, "KORE_CRM_USERNAME": "someone@else.example"}
    res = _kore(["crm", "verify"], env)
    assert res.returncode != 0
    assert re.search(r"token|credential", res.stdout + res.stderr, re.I)


def test_sandbox_credentials_files_exist(served):
    _flavor, _url, _env, settings = served
    assert Path(settings.sandbox_dir / "crm_tls" / "cert.pem").exists()
