"""`kore demo`: every stage end to end, on the embedded warehouse, against the local sandbox.

generate export -> land export -> catch-up through the sandbox Archtics API -> land KORE-app data ->
pull CRM-owned entities from the sandbox CRM -> dbt build -> dedup -> dbt build (post-dedup models)
-> data-quality checks -> push to the sandbox CRM -> HTML run report.

The sandbox servers run in this process on 127.0.0.1 (ephemeral ports) and stop with it. Every stage
is re-runnable: a second demo in the same workdir resumes from its own state (files already landed are
skipped, cursors continue, unchanged rows are not pushed again).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from kore.config import Settings
from kore.runlog import run_record


@dataclass
class StageResult:
    stage: str
    seconds: float = 0.0
    rows_in: int = 0
    rows_out: int = 0
    outcome: str = "skipped"
    output: str = ""  # the table(s) the stage fills
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "seconds": round(self.seconds, 2),
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "outcome": self.outcome,
            "output": self.output,
        }


def dbt_build_args(phase: str) -> list[str]:
    """dbt arguments for a build phase: models tagged needs_dedup read the dedup step's tables."""
    if phase == "pre-dedup":
        return ["build", "--exclude", "tag:needs_dedup"]
    if phase == "post-dedup":
        return ["build", "--select", "tag:needs_dedup"]
    return ["build"]


def _count(d: dict[str, Any], *keys: str) -> int:
    for k in keys:
        v = d.get(k)
        if isinstance(v, int | float):
            return int(v)
    return 0


class DemoRun:
    """Runs stages in order, records each, and stops at the first failure."""

    def __init__(self, settings: Settings, console: Console):
        self.settings = settings
        self.console = console
        self.results: list[StageResult] = []
        self.failed = False

    def stage(self, name: str, output: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        res = StageResult(stage=name, output=output)
        self.results.append(res)
        if self.failed:
            return {}
        t0 = time.perf_counter()
        with self.console.status(f"[bold]{name}[/]…"):
            try:
                with run_record(self.settings, stage=name) as rec:
                    out = fn() or {}
                    res.rows_in = _count(out, "rows_in", "rows_read", "records", "rows")
                    res.rows_out = _count(out, "rows_out", "rows_written", "rows_landed", "rows_sent", "clusters")
                    rec.rows_in, rec.rows_out = res.rows_in, res.rows_out
                    rec.detail = {k: v for k, v in out.items() if isinstance(v, int | float | str)}
                    res.detail = out
                res.outcome = "ok"
            except Exception as exc:  # noqa: BLE001 - reported in the summary, then the run stops
                res.outcome = f"failed: {type(exc).__name__}: {exc}"[:300]
                self.failed = True
                out = {}
        res.seconds = time.perf_counter() - t0
        mark = "[green]✓[/]" if res.outcome == "ok" else "[red]✗[/]"
        self.console.print(f"{mark} {name}: in {res.rows_in:,} out {res.rows_out:,} ({res.seconds:.1f}s)")
        return out

    def summary_table(self) -> Table:
        t = Table(title="kore demo", show_lines=False)
        for col in ("stage", "rows in", "rows out", "seconds", "outcome", "output"):
            t.add_column(col, justify="right" if col in ("rows in", "rows out", "seconds") else "left")
        for r in self.results:
            t.add_row(r.stage, f"{r.rows_in:,}", f"{r.rows_out:,}", f"{r.seconds:.1f}", r.outcome, r.output)
        t.add_row("total", "", "", f"{sum(r.seconds for r in self.results):.1f}", "", "")
        return t


def _table_counts(settings: Settings, tables: list[str]) -> dict[str, int]:
    from kore.warehouse import connect

    with connect(settings) as wh:
        return {t: wh.row_count(*t.split(".", 1)) for t in tables}


def run_demo(settings: Settings, accounts: int = 2000, seed: int = 42, console: Console | None = None) -> bool:
    """Run the whole pipeline; return True when every stage succeeded and checks passed."""
    console = console or Console(stderr=True)
    settings.ensure_dirs()
    settings.apply_env()
    run = DemoRun(settings, console)
    s = settings
    console.print(f"[bold]kore demo[/] workdir={s.workdir} target={s.target} crm={s.crm_flavor} accounts={accounts}")

    def generate() -> dict[str, Any]:
        from sandbox.generator import generate as gen
        from sandbox.kore_apps import generate as gen_apps

        manifest = s.export_dir / "manifest.json"
        marker = s.sandbox_dir / "demo_params.json"
        params = {"accounts": accounts, "seed": seed}
        if manifest.exists() and marker.exists() and json.loads(marker.read_text()) == params:
            m = json.loads(manifest.read_text())
            return {"rows_out": sum(f["rows"] for f in m["files"]), "reused": 1}
        out = gen(accounts, s.export_dir, seed=seed, sandbox_dir=s.sandbox_dir)
        apps = gen_apps(s.sandbox_dir / "kore_apps", seed=seed, accounts=accounts)
        marker.write_text(json.dumps(params))
        rows = _count(out, "rows", "rows_out") or sum(v for v in out.get("datasets", {}).values() if isinstance(v, int))
        return {"rows_out": rows, "kore_app_rows": _count(apps, "rows", "rows_out")}

    run.stage("generate", "export/*.csv.gz", generate)

    def land_export() -> dict[str, Any]:
        from dlt_pipelines.archtics_export import land_export as land

        out = land(s, s.export_dir)
        out["rows_out"] = sum(_table_counts(s, ["raw_archtics.cust", "raw_archtics.ticket"]).values())
        return out

    run.stage("land export", "raw_archtics.*", land_export)

    def catch_up() -> dict[str, Any]:
        from dlt_pipelines.archtics_deltas import land_deltas
        from sandbox.archtics_api import ArchticsSandbox

        with ArchticsSandbox(s.sandbox_dir, s.export_dir) as api:
            return land_deltas(s, api.url, api.client_id, api.client_secret)

    run.stage("catch-up deltas", "raw_archtics.* (merged)", catch_up)

    def land_apps() -> dict[str, Any]:
        from dlt_pipelines.kore_apps import land_kore_apps

        return land_kore_apps(s, s.sandbox_dir / "kore_apps")

    run.stage("land KORE apps", "raw_kore_app.*", land_apps)

    crm_stack = contextlib.ExitStack()
    crm: dict[str, Any] = {}
    check_report: dict[str, Any] = {}

    def pull() -> dict[str, Any]:
        from dlt_pipelines.crm import pull as crm_pull
        from sandbox.crm_api import CrmSandbox

        server = crm_stack.enter_context(CrmSandbox(s.sandbox_dir, s.crm_flavor))
        crm["url"], crm["creds"] = server.url, server.credentials()
        return crm_pull(s, crm["url"], s.crm_flavor, crm["creds"])

    try:
        run.stage("CRM pull", "raw_crm.*", pull)

        def dbt_phase(phase: str) -> Callable[[], dict[str, Any]]:
            def _run() -> dict[str, Any]:
                from kore.dbt_runner import run_dbt

                res = run_dbt(s, dbt_build_args(phase))
                return {"rows_in": len(res.results), "rows_out": res.count("success") + res.count("pass")}

            return _run

        run.stage("dbt build", "stg.*, kore.*, dedup.*", dbt_phase("pre-dedup"))

        def dedup() -> dict[str, Any]:
            from dedup.pipeline import run_dedup

            return run_dedup(s)

        run.stage("dedup", "kore_dedup.*", dedup)
        run.stage("dbt build (post-dedup)", "marts.*, kore.SyncedTicketPurchases", dbt_phase("post-dedup"))

        def checks() -> dict[str, Any]:
            from expectations.runner import run_checks

            report = run_checks(s, layer="all")
            check_report["report"] = report
            console.print(report.summary_table())
            failed = sum(1 for r in report.results if not r.success)
            if not report.ok:
                raise RuntimeError(f"{failed} data-quality checks failed; not pushing to the CRM")
            return {"rows_in": len(report.results), "rows_out": len(report.results) - failed}

        run.stage("data-quality checks", "ops.check_results", checks)

        def push() -> dict[str, Any]:
            from dlt_pipelines.crm import push as crm_push

            return crm_push(s, crm["url"], s.crm_flavor, crm["creds"])

        run.stage("CRM push", "CRM + ops.crm_sync_state", push)
    finally:
        crm_stack.close()

    try:
        from kore.report import write_report

        path = write_report(s, [r.as_dict() for r in run.results], check_report.get("report"))
        console.print(f"Run report: {path}")
    except Exception as exc:  # noqa: BLE001 - the report must not hide the run's own outcome
        console.print(f"[yellow]Run report not written: {type(exc).__name__}: {exc}[/]")
    console.print(run.summary_table())
    (s.logs_dir / "last_demo.json").write_text(json.dumps([r.as_dict() for r in run.results], indent=2))
    return not run.failed
