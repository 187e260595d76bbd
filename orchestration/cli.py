"""The `kore` command: one entry point for every stage, the demo and the benchmarks.

Stage code lives in its own package (sandbox/, dlt_pipelines/, dbt_project/, dedup/, expectations/);
this module only parses options, resolves settings and calls the stage. Imports are lazy so that
`kore --help` is instant and a stage's heavy dependencies load only when it runs.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kore.config import Settings, get_settings

app = typer.Typer(
    help="KORE warehouse: land Archtics, model with dbt, dedup, sync with the CRM, check quality.",
    no_args_is_help=True,
    add_completion=False,
)
sandbox_app = typer.Typer(help="Local sandbox: sample export generator and HTTP stand-ins.", no_args_is_help=True)
serve_app = typer.Typer(help="Serve a sandbox API on 127.0.0.1 until interrupted.", no_args_is_help=True)
land_app = typer.Typer(help="Land Archtics and KORE-app data into raw tables (dlt).", no_args_is_help=True)
crm_app = typer.Typer(help="Sync with the CRM: pull CRM-owned entities, push KORE-owned ones.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
sandbox_app.add_typer(serve_app, name="serve")
app.add_typer(land_app, name="land")
app.add_typer(crm_app, name="crm")

# piped output (logs, CI) gets wide tables instead of rich's 80-column default
console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

WorkdirOpt = Annotated[
    Path | None,
    typer.Option("--workdir", "-w", help="Holds warehouse, state, sandbox data, logs (default $KORE_WORKDIR or .)"),
]


def _settings(workdir: Path | None, flavor: str | None = None) -> Settings:
    if flavor:
        os.environ["KORE_CRM_FLAVOR"] = flavor
    s = get_settings(workdir)
    s.ensure_dirs()
    s.apply_env()
    return s


def _print_summary(summary: dict) -> None:
    console.print_json(json.dumps(summary, default=str))


def _mount_dedup() -> None:
    try:
        from dedup.cli import app as dedup_app
    except ImportError:  # pragma: no cover - only while the dedup package is incomplete
        return
    app.add_typer(dedup_app, name="dedup", help="Deduplicate Archtics accounts and CRM contacts.")


# --------------------------------------------------------------------------------------- demo


@app.command()
def demo(
    accounts: Annotated[int, typer.Option(help="Archtics accounts in the sample export")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed of the sample export")] = 42,
    flavor: Annotated[str, typer.Option(help="Sandbox CRM flavour: dynamics or salesforce")] = "dynamics",
    workdir: WorkdirOpt = None,
) -> None:
    """Run every stage end to end on the embedded warehouse against the local sandbox."""
    from orchestration.demo import run_demo

    settings = _settings(workdir, flavor)
    ok = run_demo(settings, accounts=accounts, seed=seed, console=console)
    raise typer.Exit(0 if ok else 1)


# ------------------------------------------------------------------------------------ sandbox


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

    s = _settings(workdir)
    out_dir = out or s.export_dir
    with run_record(s, stage="generate") as rec:
        summary = generate(accounts, out_dir, seed=seed, sandbox_dir=s.sandbox_dir)
        summary["kore_apps"] = generate_kore_apps(s.sandbox_dir / "kore_apps", seed=seed, accounts=accounts)
        rec.rows_in, rec.rows_out = accounts, int(summary.get("rows_total", 0))
    _print_summary(summary)


@serve_app.command("archtics")
def serve_archtics(port: Annotated[int, typer.Option()] = 8701, workdir: WorkdirOpt = None) -> None:
    """Serve the sandbox Archtics delta API (credentials are written under <workdir>/sandbox)."""
    from sandbox.archtics_api import serve

    s = _settings(workdir)
    serve(s.sandbox_dir, s.export_dir, port=port)


@serve_app.command("crm")
def serve_crm(
    flavor: Annotated[str, typer.Option(help="dynamics or salesforce")] = "dynamics",
    port: Annotated[int, typer.Option()] = 8702,
    workdir: WorkdirOpt = None,
) -> None:
    """Serve the sandbox CRM API (Dynamics Web API or Salesforce REST subset)."""
    from sandbox.crm_api import serve

    s = _settings(workdir, flavor)
    serve(s.sandbox_dir, flavor, port=port)


# ------------------------------------------------------------------------------------ landing


@land_app.command("export")
def land_export(
    export_dir: Annotated[
        Path | None, typer.Argument(help="Folder with manifest.json (default <workdir>/export)")
    ] = None,
    max_bad_share: Annotated[float, typer.Option(help="Fail when more than this share of rows is malformed")] = 0.01,
    workdir: WorkdirOpt = None,
) -> None:
    """Land the static export into raw_archtics.* (skips files already loaded)."""
    from dlt_pipelines.archtics_export import land_export as run

    s = _settings(workdir)
    _print_summary(run(s, export_dir or s.export_dir, max_bad_share=max_bad_share))


@land_app.command("deltas")
def land_deltas(
    api_url: Annotated[str, typer.Option(envvar="KORE_ARCHTICS_API_URL", help="Archtics delta API base URL")],
    client_id: Annotated[str, typer.Option(envvar="KORE_ARCHTICS_CLIENT_ID")] = "",
    client_secret: Annotated[str, typer.Option(envvar="KORE_ARCHTICS_CLIENT_SECRET", show_default=False)] = "",
    workdir: WorkdirOpt = None,
) -> None:
    """Merge every Archtics change since the last run (the first run is the catch-up from the cutoff)."""
    from dlt_pipelines.archtics_deltas import land_deltas as run

    s = _settings(workdir)
    _print_summary(run(s, api_url, client_id, client_secret))


@land_app.command("kore-apps")
def land_kore_apps(
    source_dir: Annotated[
        Path | None, typer.Argument(help="KORE apps export (default <workdir>/sandbox/kore_apps)")
    ] = None,
    workdir: WorkdirOpt = None,
) -> None:
    """Land the KORE apps' own data (sponsorship, suites & premium, touchpoints) into raw_kore_app.*."""
    from dlt_pipelines.kore_apps import land_kore_apps as run

    s = _settings(workdir)
    _print_summary(run(s, source_dir or s.sandbox_dir / "kore_apps"))


# ---------------------------------------------------------------------------------------- crm


def _crm_credentials() -> dict:
    return {
        "client_id": os.environ.get("KORE_CRM_CLIENT_ID", ""),
        "client_secret": os.environ.get("KORE_CRM_CLIENT_SECRET", ""),
        "tenant": os.environ.get("KORE_CRM_TENANT", "sandbox"),
    }


@crm_app.command("pull")
def crm_pull(
    url: Annotated[str, typer.Option(envvar="KORE_CRM_URL", help="CRM base URL")],
    flavor: Annotated[str, typer.Option(envvar="KORE_CRM_FLAVOR")] = "dynamics",
    workdir: WorkdirOpt = None,
) -> None:
    """Pull every CRM-owned entity changed since the last pull, in sync order, into raw_crm.*."""
    from dlt_pipelines.crm import pull

    s = _settings(workdir, flavor)
    _print_summary(pull(s, url, flavor, _crm_credentials()))


@crm_app.command("push")
def crm_push(
    url: Annotated[str, typer.Option(envvar="KORE_CRM_URL", help="CRM base URL")],
    flavor: Annotated[str, typer.Option(envvar="KORE_CRM_FLAVOR")] = "dynamics",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be sent; send nothing")] = False,
    entity: Annotated[list[str] | None, typer.Option("--entity", help="Only these registry entities")] = None,
    workdir: WorkdirOpt = None,
) -> None:
    """Push new/changed contacts, accounts and KORE-owned entities to the CRM in registry order."""
    from reverse_etl import push

    s = _settings(workdir, flavor)
    _print_summary(push(s, url, flavor, _crm_credentials(), dry_run=dry_run, entities=entity or None))


# ---------------------------------------------------------------------------------------- dbt


@app.command()
def build(
    phase: Annotated[str, typer.Option(help="all | pre-dedup | post-dedup")] = "all",
    full: Annotated[bool, typer.Option("--full", help="Build every node of the phase, changed or not")] = False,
    workdir: WorkdirOpt = None,
) -> None:
    """Run `dbt build` on the configured warehouse: every node the first time and after a project
    change, otherwise only what the sources that changed since the last build feed
    (dbt_build/scope.py). pre-dedup excludes the models tagged needs_dedup; post-dedup builds them."""
    from dbt_build.scope import PHASES, build_phase

    if phase not in PHASES:
        raise typer.BadParameter(f"phase must be one of {', '.join(PHASES)}")
    out = build_phase(_settings(workdir), phase, full=full, check=False)
    if out.result is not None:
        console.print(out.result.stdout[-4000:])
    what = {"full": "full build", "changed": "change-scoped build", "nothing": "nothing to build"}[out.plan.mode]
    console.print(f"{phase}: {what} ({out.plan.reason}), {out.summary()['nodes']} nodes")
    raise typer.Exit(0 if out.ok else 1)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def dbt(ctx: typer.Context, workdir: WorkdirOpt = None) -> None:
    """Run any dbt command with the project's profile and workdir, e.g. `kore dbt docs generate`."""
    from dbt_build.runner import run_dbt

    s = _settings(workdir)
    res = run_dbt(s, list(ctx.args), check=False)
    print(res.stdout)
    raise typer.Exit(0 if res.ok else 1)


# ------------------------------------------------------------------------------ checks/status


@app.command()
def check(
    layer: Annotated[str, typer.Option(help="raw | staging | kore | dedup | marts | all")] = "all",
    workdir: WorkdirOpt = None,
) -> None:
    """Run the Great Expectations suites and reconciliation audits; exit 1 on a hard failure."""
    from expectations.runner import run_checks

    s = _settings(workdir)
    report = run_checks(s, layer=layer)
    console.print(report.summary_table())
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def status(
    limit: Annotated[int, typer.Option(help="How many recent run records")] = 30, workdir: WorkdirOpt = None
) -> None:
    """Show the recent run history: stage, entity, rows in/out/failed, duration, outcome."""
    from rich.table import Table

    from kore.runlog import read_history

    s = _settings(workdir)
    rows = read_history(s, limit)
    if not rows:
        console.print(f"No runs recorded in {s.workdir}")
        return
    t = Table("run", "started", "stage", "entity", "in", "out", "failed", "s", "outcome")
    for r in rows:
        t.add_row(
            r["run_id"],
            r["started_at"],
            r["stage"],
            r["entity"],
            str(r["rows_in"]),
            str(r["rows_out"]),
            str(r["rows_failed"]),
            f"{r['seconds']:.1f}",
            r["outcome"],
        )
    # piped output (logs, CI) gets a wide table instead of rich's 80-column default
    Console(width=None if sys.stdout.isatty() else 200).print(t)


# -------------------------------------------------------------------------------------- bench


def _parse_opt(value: str) -> tuple[str, object]:
    """`key=value` with value parsed as JSON when it is JSON (numbers, true/false), else text."""
    if "=" not in value:
        raise typer.BadParameter(f"--opt takes key=value, not {value!r}")
    key, raw = value.split("=", 1)
    try:
        return key.strip(), json.loads(raw)
    except json.JSONDecodeError:
        return key.strip(), raw


@app.command()
def bench(
    name: Annotated[str, typer.Argument(help="demo | generate | landing | dbt | dedup | dedup-anchors | crm-push")],
    accounts: Annotated[int | None, typer.Option(help="Archtics accounts")] = None,
    rows: Annotated[int | None, typer.Option(help="Rows (for row-based benchmarks)")] = None,
    flavor: Annotated[str | None, typer.Option(help="CRM flavour (crm-push)")] = None,
    opt: Annotated[list[str] | None, typer.Option("--opt", help="Benchmark-specific key=value")] = None,
    workdir: WorkdirOpt = None,
) -> None:
    """Run a benchmark from benchmarks/ and print its figures as one JSON object (last line)."""
    import importlib

    try:
        module = importlib.import_module("benchmarks." + name.replace("-", "_"))
    except ModuleNotFoundError:
        raise typer.BadParameter(f"no benchmark named {name!r} in benchmarks/") from None
    # benchmarks wipe their folder: keep them apart from a demo's or a real run's workdir contents
    wd = get_settings(workdir).workdir / "bench" / name
    wd.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, object] = dict(_parse_opt(o) for o in opt or [])
    for key, value in (("accounts", accounts), ("rows", rows), ("flavor", flavor)):
        if value is not None:
            kwargs[key] = value
    result = module.run(wd, **kwargs)
    sys.stdout.write(json.dumps(result, default=str) + "\n")


_mount_dedup()

if __name__ == "__main__":  # pragma: no cover
    app()
