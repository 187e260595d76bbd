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


def _count(d: dict[str, Any], key: str) -> int:
    v = d.get(key)
    return int(v) if isinstance(v, int | float) else 0


class DemoRun:
    """Runs stages in order, records each, and stops at the first failure."""

    def __init__(self, settings: Settings, console: Console):
        self.settings = settings
        self.console = console
        self.results: list[StageResult] = []
        self.failed = False

    def stage(
        self,
        name: str,
        output: str,
        fn: Callable[[], dict[str, Any]],
        counts: tuple[str, str] = ("rows_in", "rows_out"),
    ) -> dict[str, Any]:
        """Run one stage; ``counts`` names the keys of its summary that hold rows in and rows out."""
        res = StageResult(stage=name, output=output)
        self.results.append(res)
        if self.failed:
            return {}
        t0 = time.perf_counter()
        with self.console.status(f"[bold]{name}[/]…"):
            try:
                with run_record(self.settings, stage=name) as rec:
                    out = fn() or {}
                    res.rows_in, res.rows_out = _count(out, counts[0]), _count(out, counts[1])
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


def run_demo(settings: Settings, accounts: int = 2000, seed: int = 42, console: Console | None = None) -> bool:
    """Run the whole pipeline; return True when every stage succeeded and checks passed."""
    console = console or Console(stderr=True)
    settings.ensure_dirs()
    settings.apply_env()
    s = settings
    run = DemoRun(s, console)
    console.print(f"[bold]kore demo[/] workdir={s.workdir} target={s.target} crm={s.crm_flavor} accounts={accounts}")
    check_reports: list[Any] = []
    # The sandbox APIs stay up from their first use to the end, so the audits can compare with them.
    with contextlib.ExitStack() as servers:
        live: dict[str, Any] = {}

        def generate() -> dict[str, Any]:
            from sandbox.generator import generate as gen
            from sandbox.kore_apps import generate as gen_apps

            manifest = s.export_dir / "manifest.json"
            marker = s.sandbox_dir / "demo_params.json"
            params = {"accounts": accounts, "seed": seed}
            if manifest.exists() and marker.exists() and json.loads(marker.read_text()) == params:
                m = json.loads(manifest.read_text())
                return {"accounts": accounts, "rows_total": sum(f["rows"] for f in m["files"]), "reused": 1}
            # a few malformed rows, as real exports have: the landing quarantines them with file and line
            out = gen(accounts, s.export_dir, seed=seed, sandbox_dir=s.sandbox_dir, malformed_rows=4)
            apps = gen_apps(s.sandbox_dir / "kore_apps", seed=seed, accounts=accounts)
            marker.write_text(json.dumps(params))
            return {
                "accounts": accounts,
                "rows_total": _count(out, "rows_total"),
                "kore_app_rows": _count(apps, "rows_total"),
            }

        def land_export() -> dict[str, Any]:
            from dlt_pipelines.archtics_export import land_export as land

            out = land(s, s.export_dir)
            # the landing's "rows" are rows landed; quarantined rows were read too
            out["rows_read"] = _count(out, "rows") + _count(out, "quarantined")
            return out

        def catch_up() -> dict[str, Any]:
            from dlt_pipelines.archtics_deltas import land_deltas
            from sandbox.archtics_api import ArchticsSandbox

            api = servers.enter_context(ArchticsSandbox(s.sandbox_dir, s.export_dir))
            live["archtics"] = api
            return land_deltas(s, api.url, api.client_id, api.client_secret)

        def land_apps() -> dict[str, Any]:
            from dlt_pipelines.kore_apps import land_kore_apps

            return land_kore_apps(s, s.sandbox_dir / "kore_apps")

        def pull() -> dict[str, Any]:
            from dlt_pipelines.crm import pull as crm_pull
            from sandbox.crm_api import CrmSandbox

            crm = servers.enter_context(CrmSandbox(s.sandbox_dir, s.crm_flavor))
            live["crm"] = crm
            return crm_pull(s, crm.url, s.crm_flavor, crm.credentials)

        def dbt_phase(phase: str) -> Callable[[], dict[str, Any]]:
            def _run() -> dict[str, Any]:
                from dbt_build.scope import build_phase

                return build_phase(s, phase).summary()

            return _run

        def dedup() -> dict[str, Any]:
            from dedup.pipeline import run_dedup

            return run_dedup(s)

        def checks(layer: str, **audit_urls: Any) -> Callable[[], dict[str, Any]]:
            def _run() -> dict[str, Any]:
                from expectations.runner import run_checks

                report = run_checks(s, layer=layer, **audit_urls)
                check_reports.append(report)
                counts = report.counts()
                if report.failures():
                    console.print(report.summary_table(only_problems=True))
                console.print("checks: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
                if not report.ok:
                    raise RuntimeError(f"{counts['failed']} hard data-quality checks failed")
                return {"checks": len(report.results), "passed": counts["passed"]}

            return _run

        def push() -> dict[str, Any]:
            from reverse_etl import push as crm_push

            return crm_push(s, live["crm"].url, s.crm_flavor, live["crm"].credentials)

        run.stage("generate", "export/*.csv.gz", generate, ("accounts", "rows_total"))
        run.stage("land export", "raw_archtics.*", land_export, ("rows_read", "rows"))
        run.stage("catch-up deltas", "raw_archtics.* (merged)", catch_up, ("rows_fetched", "rows_written"))
        run.stage("land KORE apps", "raw_kore_app.*", land_apps, ("rows_read", "rows_loaded"))
        run.stage("CRM pull", "raw_crm.*", pull, ("rows", "rows"))
        run.stage("dbt build", "stg.*, kore.*, dedup.*", dbt_phase("pre-dedup"), ("nodes", "nodes_ok"))
        run.stage("dedup", "kore_dedup.*", dedup, ("records", "accounts_mapped"))
        run.stage(
            "dbt build (post-dedup)",
            "marts.*, kore.SyncedTicketPurchases",
            dbt_phase("post-dedup"),
            ("nodes", "nodes_ok"),
        )
        archtics_audit = (
            {
                "archtics_api_url": live["archtics"].url,
                "archtics_client_id": live["archtics"].client_id,
                "archtics_client_secret": live["archtics"].client_secret,
            }
            if "archtics" in live
            else {}
        )
        # a hard failure here stops the run before anything reaches the CRM
        run.stage("data-quality checks", "ops.check_results", checks("all", **archtics_audit), ("checks", "passed"))
        run.stage("CRM push", "CRM + ops.crm_sync_state", push, ("rows", "synced"))
        crm_audit = {"crm_url": live["crm"].url, "crm_credentials": live["crm"].credentials} if "crm" in live else {}
        run.stage("CRM reconciliation", "ops.check_results", checks("kore", **crm_audit), ("checks", "passed"))

    try:
        from orchestration.report import write_report

        path = write_report(s, [r.as_dict() for r in run.results], check_reports[0] if check_reports else None)
        console.print(f"Run report: {path}")
    except Exception as exc:  # noqa: BLE001 - the report must not hide the run's own outcome
        console.print(f"[yellow]Run report not written: {type(exc).__name__}: {exc}[/]")
    console.print(run.summary_table())
    (s.logs_dir / "last_demo.json").write_text(json.dumps([r.as_dict() for r in run.results], indent=2))
    return not run.failed
