"""`kore sandbox ...`: the local stand-ins (sample export generator, Archtics API, CRM APIs).

The sandbox is a plug-in: with it, a first run, local work and CI need no real Archtics or CRM.
This module and :mod:`orchestration.demo` are the application layer's only imports of
:mod:`sandbox`; production commands never need it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orchestration.cli_common import WorkdirOpt, print_summary, require_sandbox, settings_for

sandbox_app = typer.Typer(
    help="Local sandbox: sample export generator and HTTP stand-ins.",
    no_args_is_help=True,
    callback=require_sandbox,
)
serve_app = typer.Typer(help="Serve a sandbox API on 127.0.0.1 until interrupted.", no_args_is_help=True)
sandbox_app.add_typer(serve_app, name="serve")


@sandbox_app.command("generate")
def sandbox_generate(
    accounts: Annotated[int, typer.Option(help="Archtics accounts")] = 2000,
    out: Annotated[Path | None, typer.Option(help="Export folder (default <workdir>/export)")] = None,
    seed: Annotated[int, typer.Option()] = 42,
    workdir: WorkdirOpt = None,
) -> None:
    """Write a sample Archtics static export (gzip CSV parts + manifest) with known duplicates.

    Also writes the sandbox-only data next to it: ground truth, post-cutoff changes for the sandbox
    Archtics API, preexisting CRM data, and the KORE apps' own data (after the export, since it
    refers to its accounts)."""
    from kore.runlog import run_record
    from sandbox.generator import generate
    from sandbox.kore_apps import generate as generate_kore_apps

    s = settings_for(workdir, create=True)
    out_dir = out or s.export_dir
    with run_record(s, stage="generate") as rec:
        summary = generate(accounts, out_dir, seed=seed, sandbox_dir=s.sandbox_dir)
        summary["kore_apps"] = generate_kore_apps(s.sandbox_dir / "kore_apps", seed=seed, accounts=accounts)
        rec.rows_in, rec.rows_out = accounts, int(summary.get("rows_total", 0))
    print_summary(summary)


@serve_app.command("archtics")
def serve_archtics(port: Annotated[int, typer.Option()] = 8701, workdir: WorkdirOpt = None) -> None:
    """Serve the sandbox Archtics delta API (credentials are written under <workdir>/sandbox)."""
    from sandbox.archtics_api import serve

    s = settings_for(workdir)
    serve(s.sandbox_dir, s.export_dir, port=port)


@serve_app.command("crm")
def serve_crm(
    flavor: Annotated[str, typer.Option(help="dynamics or salesforce")] = "dynamics",
    port: Annotated[int, typer.Option()] = 8702,
    workdir: WorkdirOpt = None,
) -> None:
    """Serve the sandbox CRM API (Dynamics Web API or Salesforce REST subset)."""
    from sandbox.crm_api import serve

    s = settings_for(workdir, flavor)
    serve(s.sandbox_dir, flavor, port=port)
