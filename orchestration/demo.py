"""`kore demo`: the production flow (:mod:`orchestration.flow`) against the local sandbox.

generate the sample export -> start the sandbox Archtics API and CRM on 127.0.0.1 -> the flow
(land export, catch-up, KORE apps, CRM pull, dbt, dedup, dbt, checks, push, reconciliation) -> HTML
run report.

The demo adds only what a real client has already: data (the generator) and the two remote systems
(the sandbox servers, in this process, on ephemeral ports, stopped with it). It is one of the two
places in the application layer allowed to import :mod:`sandbox` (the other is the CLI's sandbox
commands). A second demo in the same workdir reuses the generated export and resumes every stage
from its own state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from typing import Any

from rich.console import Console

from kore.config import Settings
from orchestration.flow import FLOW, Endpoints, FlowContext, FlowRun, count, finish, run_flow


def generate_sample(settings: Settings, accounts: int, seed: int) -> dict[str, Any]:
    """The sample export and the sandbox's own data; reused when the same parameters made it."""
    from sandbox.generator import generate
    from sandbox.kore_apps import generate as generate_kore_apps

    s = settings
    manifest = s.export_dir / "manifest.json"
    marker = s.sandbox_dir / "demo_params.json"
    params = {"accounts": accounts, "seed": seed}
    if manifest.exists() and marker.exists() and json.loads(marker.read_text()) == params:
        m = json.loads(manifest.read_text())
        return {"accounts": accounts, "rows_total": sum(f["rows"] for f in m["files"]), "reused": 1}
    # a few malformed rows, as real exports have: the landing quarantines them with file and line
    out = generate(accounts, s.export_dir, seed=seed, sandbox_dir=s.sandbox_dir, malformed_rows=4)
    apps = generate_kore_apps(s.sandbox_dir / "kore_apps", seed=seed, accounts=accounts)
    marker.write_text(json.dumps(params))
    return {"accounts": accounts, "rows_total": count(out, "rows_total"), "kore_app_rows": count(apps, "rows_total")}


def sample_settings(settings: Settings) -> Settings:
    """The settings a run over the sample export uses: the export holds a few deliberately broken
    rows (to show the quarantine), which it accepts; a production run (`kore run`) stops on any
    quarantined row unless allowed."""
    return dataclasses.replace(settings, allow_quarantine=True, max_bad_share_file=0.05, max_bad_share_dataset=0.05)


# The seed's sponsor, Gabriel Tremblay's current employer: the demo puts it on the protected list, as a
# partnership team would (`kore dedup protect`), so the integrity audit's protected-record count has
# something to count: KORE may map accounts to it and write its key, never its fields.
DEMO_PROTECTED_ACCOUNT = "Sporting Service Solutions Inc"


def protect_sponsor(settings: Settings, endpoints: Endpoints) -> dict[str, Any]:
    """Protect the sandbox CRM's sponsor account by its CRM id, read from the CRM's own records."""
    import requests

    from dedup import store
    from sandbox.crm_schema import resolve

    spec = resolve(settings.crm_flavor, "Account")
    r = requests.get(endpoints.crm_url.rstrip("/") + "/admin/records", params={"entity": "Account"}, timeout=30,
                     verify=(endpoints.crm_credentials or {}).get("ca_bundle") or True)  # fmt: skip
    r.raise_for_status()
    name = "Name" if settings.crm_flavor == "salesforce" else "name"
    ids = [str(a[spec.id_field]) for a in r.json()["records"] if a.get(name) == DEMO_PROTECTED_ACCOUNT]
    for crm_id in ids:
        store.protect(settings, crm_id, "account", note="demo: a sponsor the partnership team manages", by="demo")
    return {"protected": len(ids)}


def sandbox_endpoints(settings: Settings, servers: contextlib.ExitStack) -> Endpoints:
    """Start both sandbox servers and describe them as the flow's outside systems."""
    from sandbox.archtics_api import ArchticsSandbox
    from sandbox.checks import audits as sandbox_audits
    from sandbox.crm_api import CrmSandbox

    s = settings
    archtics = servers.enter_context(ArchticsSandbox(s.sandbox_dir, s.export_dir))
    crm = servers.enter_context(CrmSandbox(s.sandbox_dir, s.crm_flavor))
    archtics_credentials = {"client_id": archtics.client_id, "client_secret": archtics.client_secret}
    return Endpoints(
        export_dir=s.export_dir,
        kore_apps_dir=s.sandbox_dir / "kore_apps",
        archtics_url=archtics.url,
        archtics_credentials=archtics_credentials,
        crm_url=crm.url,
        crm_credentials=crm.credentials,
        # the sandbox's check plug-in compares the warehouse with the servers' live state; passed
        # explicitly so the demo does not depend on the entry point being installed
        check_options={
            "archtics_api_url": archtics.url,
            "archtics_client_id": archtics.client_id,
            "archtics_client_secret": archtics.client_secret,
            "plugins": [sandbox_audits],
        },
        reconciliation_options={"crm_url": crm.url, "crm_credentials": crm.credentials, "plugins": [sandbox_audits]},
    )


def run_demo(settings: Settings, accounts: int = 2000, seed: int = 42, console: Console | None = None) -> bool:
    """Run the whole flow against the sandbox; True when every stage succeeded and checks passed."""
    console = console or Console(stderr=True)
    s = sample_settings(settings)
    s.ensure_dirs()
    run = FlowRun(s, console, title="kore demo")
    console.print(f"[bold]kore demo[/] workdir={s.workdir} target={s.target} crm={s.crm_flavor} accounts={accounts}")
    ctx = FlowContext(settings=s, endpoints=Endpoints(), console=console)
    # The sandbox servers stay up to the end, so the audits can compare the warehouse with them.
    with contextlib.ExitStack() as servers:
        run.step("generate", "export/*.csv.gz", lambda: generate_sample(s, accounts, seed), ("accounts", "rows_total"))
        if not run.failed:
            ctx.endpoints = sandbox_endpoints(s, servers)
            run.step("protect a sponsor", "kore_dedup.protected_records", lambda: protect_sponsor(s, ctx.endpoints),
                     ("protected", "protected"))  # fmt: skip
            run_flow(run, ctx, FLOW)
    finish(run, ctx, record_name="last_demo.json")
    return not run.failed
