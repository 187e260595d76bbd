"""The `kore` command: one entry point for every stage, the demo and the benchmarks.

Stage code lives in its own package (dlt_pipelines/, dbt_build/, dedup/, expectations/, reverse_etl/);
this module only parses options, resolves settings and calls the stage; the order of the stages
lives in :mod:`orchestration.flow` (``kore run``), the sandbox's commands in
:mod:`orchestration.sandbox_commands`. Imports are lazy so that
`kore --help` is instant and a stage's heavy dependencies load only when it runs.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kore.config import archtics_credentials, crm_credentials, get_settings
from orchestration.cli_common import (
    KoreGroup,
    WorkdirOpt,
    console,
    print_summary,
    require_crm_credentials,
    require_sandbox,
    set_debug,
    settings_for,
    stdout_to_stderr,
)

app = typer.Typer(
    cls=KoreGroup,  # the one top-level error handler: user mistakes end as one line, no traceback
    help="KORE warehouse: land Archtics, model with dbt, dedup, sync with the CRM, check quality.",
    no_args_is_help=True,
    add_completion=False,
)
land_app = typer.Typer(help="Land Archtics and KORE-app data into raw tables (dlt).", no_args_is_help=True)
crm_app = typer.Typer(help="Sync with the CRM: pull CRM-owned entities, push KORE-owned ones.", no_args_is_help=True)
app.add_typer(land_app, name="land")
app.add_typer(crm_app, name="crm")


@app.callback()
def _main(
    debug: Annotated[
        bool, typer.Option("--debug", envvar="KORE_DEBUG", help="Show the traceback of errors (kore --debug CMD)")
    ] = False,
) -> None:
    """Exit codes: 0 ok, 1 the run failed, 2 the command or its configuration is wrong."""
    set_debug(debug)


def _mount_command_groups() -> None:
    """The stages' own command groups, and the sandbox's (a plug-in: absent without its extra)."""
    from dedup.cli import app as dedup_app

    app.add_typer(dedup_app, name="dedup", help="Deduplicate Archtics accounts and CRM contacts.")
    from orchestration.sandbox_commands import sandbox_app

    app.add_typer(sandbox_app, name="sandbox")


# --------------------------------------------------------------------------------------- demo


@app.command()
def demo(
    accounts: Annotated[int, typer.Option(help="Archtics accounts in the sample export")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed of the sample export")] = 42,
    flavor: Annotated[
        str, typer.Option(envvar="KORE_CRM_FLAVOR", help="Sandbox CRM flavour: dynamics or salesforce")
    ] = "dynamics",
    workdir: WorkdirOpt = None,
) -> None:
    """Run every stage end to end on the embedded warehouse against the local sandbox."""
    from orchestration.demo import run_demo

    require_sandbox()
    settings = settings_for(workdir, flavor, create=True)
    ok = run_demo(settings, accounts=accounts, seed=seed, console=console)
    raise typer.Exit(0 if ok else 1)


@app.command("run")
def run_command(
    stages: Annotated[
        str | None, typer.Option("--stages", help="Only these stages (comma list, flow order kept)")
    ] = None,
    skip: Annotated[str | None, typer.Option("--skip", help="Leave out these stages (comma list)")] = None,
    export_dir: Annotated[Path | None, typer.Option(help="Archtics static export (default <workdir>/export)")] = None,
    kore_apps_dir: Annotated[
        Path | None, typer.Option(envvar="KORE_APPS_DIR", help="KORE apps export folder (skipped when unset)")
    ] = None,
    archtics_url: Annotated[str | None, typer.Option(envvar="KORE_ARCHTICS_API_URL", help="Archtics delta API")] = None,
    crm_url: Annotated[str | None, typer.Option(envvar="KORE_CRM_URL", help="CRM base URL")] = None,
    flavor: Annotated[str | None, typer.Option(envvar="KORE_CRM_FLAVOR")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run document (one JSON) on stdout")] = False,
    allow_failed_rows: Annotated[
        bool, typer.Option("--allow-failed-rows", help="Rows the CRM refused do not fail the run")
    ] = False,
    allow_empty: Annotated[
        bool, typer.Option("--allow-empty", help="A check run in which every check skipped does not fail the run")
    ] = False,
    workdir: WorkdirOpt = None,
) -> None:
    """Run the production flow, each stage in order (see orchestration/flow.py): land export,
    deltas, KORE apps, CRM pull, dbt build, dedup, dbt build (post-dedup), checks, CRM push, CRM
    reconciliation; then write the HTML run report. A stage whose system is not configured is
    skipped; the run stops at the first failure. Exit 0 ok, 1 failed (rows the CRM refused, checks
    failed or all skipped, a stage error), 2 usage. Progress on stderr; --json: the run document on
    stdout (docs/scheduling.md)."""
    from orchestration.flow import Endpoints, FlowContext, FlowRun, finish, run_flow, select_stages

    def names(value: str | None) -> list[str]:
        return [n.strip() for n in (value or "").split(",") if n.strip()]

    try:
        chosen = select_stages(names(stages), names(skip))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    s = settings_for(workdir, flavor)
    creds = require_crm_credentials(crm_credentials()) if crm_url else {}
    endpoints = Endpoints(
        export_dir=export_dir or s.export_dir,
        kore_apps_dir=kore_apps_dir,
        archtics_url=archtics_url,
        archtics_credentials=archtics_credentials(),
        crm_url=crm_url,
        crm_credentials=creds,
        # no source URLs for the check plug-ins: an installed plug-in (the sandbox's) would read its
        # own admin endpoints on the real systems; `kore demo` passes them to the sandbox's plug-in
    )
    ctx = FlowContext(
        settings=s,
        endpoints=endpoints,
        console=console,
        allow_failed_rows=allow_failed_rows,
        allow_empty=allow_empty,
        echo=lambda line: console.out(line, highlight=False),
    )
    with stdout_to_stderr():
        flow = run_flow(FlowRun(s, console), ctx, chosen)
        doc = finish(flow, ctx)
    for failure in doc["failures"]:
        console.out(f"FAILED {failure}", highlight=False)
    if as_json:
        print_summary(doc)
    raise typer.Exit(doc["exit_code"])


@app.command("report")
def report_command(
    run_id: Annotated[str | None, typer.Argument(help="Run id (kore status); default: the latest run")] = None,
    workdir: WorkdirOpt = None,
) -> None:
    """Rebuild the HTML run report of a past run from its records (run document, run history and
    ops.check_results); prints the report's path on stdout."""
    from orchestration.runs import rebuild_report

    path = rebuild_report(settings_for(workdir), run_id)
    sys.stdout.write(f"{path}\n")


# ------------------------------------------------------------------------------------ landing


@land_app.command("export")
def land_export(
    export_dir: Annotated[
        Path | None, typer.Argument(help="Folder with manifest.json (default <workdir>/export)")
    ] = None,
    max_bad_share: Annotated[
        float | None,
        typer.Option(
            help="Fail when more than this share of a file's or a dataset's rows is malformed (default 0.001)"
        ),
    ] = None,
    allow_quarantine: Annotated[
        bool, typer.Option("--allow-quarantine", help="Exit 0 when rows were quarantined within the limits")
    ] = False,
    replace: Annotated[
        list[str] | None, typer.Option("--replace", help="Re-land this corrected file (manifest path); repeatable")
    ] = None,
    workdir: WorkdirOpt = None,
) -> None:
    """Land the static export into raw_archtics.* (skips files already loaded)."""
    from dlt_pipelines.archtics_export import land_export as run

    s = settings_for(workdir)
    out = run(
        s,
        export_dir or s.export_dir,
        max_bad_share=max_bad_share,
        allow_quarantine=allow_quarantine or None,
        replace=replace or (),
    )
    print_summary(out)


@land_app.command("deltas")
def land_deltas(
    api_url: Annotated[str, typer.Option(envvar="KORE_ARCHTICS_API_URL", help="Archtics delta API base URL")],
    client_id: Annotated[str, typer.Option(envvar="KORE_ARCHTICS_CLIENT_ID")] = "",
    client_secret: Annotated[str, typer.Option(envvar="KORE_ARCHTICS_CLIENT_SECRET", show_default=False)] = "",
    workdir: WorkdirOpt = None,
) -> None:
    """Merge every Archtics change since the last run (the first run is the catch-up from the cutoff)."""
    from dlt_pipelines.archtics_deltas import land_deltas as run

    s = settings_for(workdir)
    print_summary(run(s, api_url, client_id, client_secret))


@land_app.command("kore-apps")
def land_kore_apps(
    source_dir: Annotated[
        Path | None, typer.Argument(help="KORE apps export (default <workdir>/sandbox/kore_apps)")
    ] = None,
    workdir: WorkdirOpt = None,
) -> None:
    """Land the KORE apps' own data (sponsorship, suites & premium, touchpoints) into raw_kore_app.*."""
    from dlt_pipelines.kore_apps import land_kore_apps as run

    s = settings_for(workdir)
    print_summary(run(s, source_dir or s.sandbox_dir / "kore_apps"))


# ---------------------------------------------------------------------------------------- crm


@crm_app.command("pull")
def crm_pull(
    url: Annotated[str, typer.Option(envvar="KORE_CRM_URL", help="CRM base URL")],
    flavor: Annotated[str, typer.Option(envvar="KORE_CRM_FLAVOR")] = "dynamics",
    workdir: WorkdirOpt = None,
) -> None:
    """Pull every CRM-owned entity changed since the last pull, in sync order, into raw_crm.*."""
    from dlt_pipelines.crm import pull

    s = settings_for(workdir, flavor)
    print_summary(pull(s, url, flavor, require_crm_credentials(crm_credentials())))


@crm_app.command("verify")
def crm_verify(
    url: Annotated[str, typer.Option(envvar="KORE_CRM_URL", help="CRM base URL")],
    flavor: Annotated[str, typer.Option(envvar="KORE_CRM_FLAVOR")] = "dynamics",
    entity: Annotated[list[str] | None, typer.Option("--entity", help="Only these registry entities")] = None,
    workdir: WorkdirOpt = None,
) -> None:
    """Read the org's metadata and list every table and field the push needs that the org lacks
    (writes nothing). Exit 1 when something is missing."""
    from reverse_etl.verify import verify

    s = settings_for(workdir, flavor)
    summary = verify(s, url, flavor, require_crm_credentials(crm_credentials()), entities=entity or None)
    print(json.dumps(summary, indent=2))
    if not summary["ok"]:
        raise typer.Exit(1)


@crm_app.command("push")
def crm_push(
    url: Annotated[str, typer.Option(envvar="KORE_CRM_URL", help="CRM base URL")],
    flavor: Annotated[str, typer.Option(envvar="KORE_CRM_FLAVOR")] = "dynamics",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be sent; send nothing")] = False,
    entity: Annotated[list[str] | None, typer.Option("--entity", help="Only these registry entities")] = None,
    allow_failed_rows: Annotated[
        bool, typer.Option("--allow-failed-rows", help="Exit 0 even when the CRM refused rows")
    ] = False,
    workdir: WorkdirOpt = None,
) -> None:
    """Push new/changed contacts, accounts and KORE-owned entities to the CRM in registry order.
    Exits 1 when rows failed (unless --allow-failed-rows) or every source table is missing."""
    from orchestration.outcomes import push_problem
    from reverse_etl import push

    s = settings_for(workdir, flavor)
    creds = crm_credentials() if dry_run else require_crm_credentials(crm_credentials())
    try:
        summary = push(s, url, flavor, creds, dry_run=dry_run, entities=entity or None)
    except ValueError as exc:  # entities that are not pushable
        raise typer.BadParameter(str(exc)) from None
    print_summary(summary)
    problem = push_problem(summary, allow_failed_rows)
    if problem:
        raise problem


# ---------------------------------------------------------------------------------------- dbt


@app.command()
def build(
    phase: Annotated[str, typer.Option(help="all | pre-dedup | post-dedup")] = "all",
    full: Annotated[bool, typer.Option("--full", help="Build every node of the phase, changed or not")] = False,
    code_tests: Annotated[
        bool, typer.Option("--code-tests", help="Also run the unit tests and code_invariant checks (CI runs them)")
    ] = False,
    workdir: WorkdirOpt = None,
) -> None:
    """Run `dbt build` on the configured warehouse: every node the first time and after a project
    change, otherwise only what the sources that changed since the last build feed
    (dbt_build/scope.py). pre-dedup excludes the models tagged needs_dedup; post-dedup builds them."""
    from dbt_build.scope import PHASES, build_phase

    if phase not in PHASES:
        raise typer.BadParameter(f"phase must be one of {', '.join(PHASES)}")
    # dbt's progress lines as they come (stderr), not the whole output at the end
    settings = settings_for(workdir)
    if code_tests:
        settings = dataclasses.replace(settings, dbt_code_tests=True)
    out = build_phase(settings, phase, full=full, check=False, echo=lambda x: console.out(x, highlight=False))
    what = {"full": "full build", "changed": "change-scoped build", "nothing": "nothing to build"}[out.plan.mode]
    console.print(f"{phase}: {what} ({out.plan.reason}), {out.summary()['nodes']} nodes")
    raise typer.Exit(0 if out.ok else 1)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def dbt(ctx: typer.Context, workdir: WorkdirOpt = None) -> None:
    """Run any dbt command with the project's profile and workdir, e.g. `kore dbt docs generate`."""
    from dbt_build.runner import run_dbt

    s = settings_for(workdir)
    res = run_dbt(s, list(ctx.args), check=False)
    print(res.stdout)
    raise typer.Exit(0 if res.ok else 1)


# ------------------------------------------------------------------------------ checks/status


@app.command()
def check(
    layer: Annotated[str, typer.Option(help="raw | staging | kore | dedup | marts | all")] = "all",
    allow_empty: Annotated[
        bool, typer.Option("--allow-empty", help="Exit 0 when every check skipped (empty warehouse)")
    ] = False,
    workdir: WorkdirOpt = None,
) -> None:
    """Run the Great Expectations suites and reconciliation audits; exit 1 on a hard failure or
    when no check could run (every one skipped: the warehouse is empty), unless --allow-empty."""
    from expectations.runner import run_checks
    from orchestration.outcomes import checks_problem

    s = settings_for(workdir)
    report = run_checks(s, layer=layer)
    problem = checks_problem(report, allow_empty)
    if problem:
        raise problem  # one line; the table of skipped checks says nothing more
    console.print(report.summary_table().rstrip("\n"))  # the rendered table ends with its own newline
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def status(
    limit: Annotated[int, typer.Option(help="How many recent run records")] = 30, workdir: WorkdirOpt = None
) -> None:
    """Show the recent run history: stage, entity, rows in/out/failed, duration, outcome."""
    from rich.table import Table

    from kore.runlog import read_history

    s = settings_for(workdir)
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


def _benchmark_names() -> list[str]:
    """The benchmarks in benchmarks/ (each module with a ``run``), as ``kore bench`` names them."""
    import importlib.util
    import pkgutil

    spec = importlib.util.find_spec("benchmarks")  # located, not imported: the CLI loads one on demand
    paths = list(spec.submodule_search_locations or []) if spec else []
    return sorted(m.name.replace("_", "-") for m in pkgutil.iter_modules(paths) if not m.ispkg)


def _extra_opts(args: list[str]) -> dict[str, object]:
    """``--kills 20`` / ``--kills=20`` after the benchmark's name: the same as ``--opt kills=20``."""
    out: list[str] = []
    it = iter(args)
    for arg in it:
        if not arg.startswith("--") or arg == "--":
            raise typer.BadParameter(f"unexpected argument {arg!r} (benchmark options are --name value)")
        key, eq, value = arg[2:].partition("=")
        if not eq:
            value = next(it, None)
            if value is None or value.startswith("--"):
                raise typer.BadParameter(f"--{key} needs a value")
        out.append(f"{key.replace('-', '_')}={value}")
    return dict(_parse_opt(o) for o in out)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help=" | ".join(_benchmark_names()))],
    accounts: Annotated[int | None, typer.Option(help="Archtics accounts")] = None,
    rows: Annotated[int | None, typer.Option(help="Rows (for row-based benchmarks)")] = None,
    flavor: Annotated[str | None, typer.Option(help="CRM flavour (crm-push)")] = None,
    opt: Annotated[list[str] | None, typer.Option("--opt", help="Benchmark-specific key=value")] = None,
    workdir: WorkdirOpt = None,
) -> None:
    """Run a benchmark from benchmarks/ and print its figures as one JSON object (last line).
    A benchmark's own options go after its name, as ``--opt key=value`` or ``--key value``
    (``kore bench chaos --kills 20``)."""
    import importlib

    try:
        module = importlib.import_module("benchmarks." + name.replace("-", "_"))
    except ModuleNotFoundError:
        known = ", ".join(_benchmark_names())
        raise typer.BadParameter(f"no benchmark named {name!r} in benchmarks/ (known: {known})") from None
    # benchmarks wipe their folder: keep them apart from a demo's or a real run's workdir contents
    wd = get_settings(workdir).workdir / "bench" / name
    wd.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, object] = {**dict(_parse_opt(o) for o in opt or []), **_extra_opts(list(ctx.args))}
    for key, value in (("accounts", accounts), ("rows", rows), ("flavor", flavor)):
        if value is not None:
            kwargs[key] = value
    result = module.run(wd, **kwargs)
    sys.stdout.write(json.dumps(result, default=str) + "\n")


_mount_command_groups()

if __name__ == "__main__":  # pragma: no cover
    app()
