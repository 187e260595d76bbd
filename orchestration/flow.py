"""The production flow: which stage runs after which, written down once.

land export -> catch-up / routine deltas -> land KORE-app data -> CRM pull -> dbt build (pre-dedup)
-> dedup -> dbt build (post-dedup) -> data-quality checks -> CRM push -> CRM reconciliation

Why an explicit list: each stage talks to the next only through warehouse tables, so the order is
the whole contract between them, and it must be the same for a scheduler (``kore run``), the demo
and the benchmarks. The checks run before the push on purpose: a hard data-quality failure stops the
run before anything reaches the CRM. A stage whose input is not configured (no export folder, no
Archtics API, no CRM URL) is skipped and says so; the run stops at the first failure.

Every stage is re-runnable: files already landed are skipped, cursors continue, unchanged rows are
not pushed again, so a rerun after a failure resumes instead of starting over.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from kore.config import Settings
from kore.errors import KoreError
from kore.runlog import run_record
from orchestration.outcomes import checks_problem, push_problem

GX_MODULE = "great_expectations"  # imported ahead of the checks (``_import_checks``)


@dataclass
class Endpoints:
    """Where the flow's outside systems are; a stage whose system is not set is skipped."""

    export_dir: Path | None = None
    kore_apps_dir: Path | None = None
    archtics_url: str | None = None
    archtics_credentials: dict[str, str] = field(default_factory=dict)
    crm_url: str | None = None
    crm_credentials: dict[str, str] = field(default_factory=dict)
    # extra keyword arguments for the checks (e.g. a sandbox plug-in's live-state endpoints)
    check_options: dict[str, Any] = field(default_factory=dict)
    reconciliation_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class FlowContext:
    settings: Settings
    endpoints: Endpoints
    console: Console
    check_reports: list[Any] = field(default_factory=list)
    # what is still a success: a push with rows the CRM refused, a check run in which nothing ran
    allow_failed_rows: bool = False
    allow_empty: bool = False
    # each line of dbt's output as it comes (None: quiet)
    echo: Callable[[str], None] | None = None
    # the registry entities the push sends (None: every pushable one)
    push_entities: list[str] | None = None
    # the checks run ahead of their stage (``_checks_ahead``), on a thread of their own
    checks_ahead: Future | None = None

    def settle(self) -> None:
        """Wait for work running ahead on this process's warehouse connection: dbt builds in a
        process of its own, which must find the DuckDB file free."""
        if self.checks_ahead is not None:
            self.checks_ahead.exception()  # waits; its error, if any, is the checks stage's to report


class StageSkipped(Exception):
    """The stage's input is not configured; the flow goes on without it."""


def fail_with(error: Exception, summary: dict[str, Any]) -> Exception:
    """``error`` carrying the stage's summary, so a failed stage still reports its counts."""
    error.summary = summary  # type: ignore[attr-defined]
    return error


@dataclass(frozen=True)
class Stage:
    name: str
    output: str  # the table(s) the stage fills
    run: Callable[[FlowContext], dict[str, Any]]
    counts: tuple[str, str] = ("rows_in", "rows_out")  # summary keys holding rows in and rows out
    # work that may start while the ``lead`` stages before this one run (it must need none of their output)
    ahead: Callable[[FlowContext], None] | None = None
    lead: int = 1
    # the earliest stage of the flow the ``ahead`` work may start with (what it reads is final by then)
    ahead_from: str | None = None


@dataclass
class StageResult:
    stage: str
    seconds: float = 0.0
    rows_in: int = 0
    rows_out: int = 0
    outcome: str = "skipped"
    output: str = ""
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


def count(d: dict[str, Any], key: str) -> int:
    v = d.get(key)
    return int(v) if isinstance(v, int | float) else 0


# ------------------------------------------------------------------------------------- stages


def _land_export(ctx: FlowContext) -> dict[str, Any]:
    from dlt_pipelines.archtics_export import land_export

    export_dir = ctx.endpoints.export_dir
    if export_dir is None or not (export_dir / "manifest.json").exists():
        raise StageSkipped("no export manifest")
    out = land_export(ctx.settings, export_dir)
    # the landing's "rows" are rows landed; quarantined rows were read too
    out["rows_read"] = count(out, "rows") + count(out, "quarantined")
    return out


def _land_deltas(ctx: FlowContext) -> dict[str, Any]:
    from dlt_pipelines.archtics_deltas import land_deltas

    e = ctx.endpoints
    if not e.archtics_url:
        raise StageSkipped("no Archtics API URL")
    creds = e.archtics_credentials
    return land_deltas(ctx.settings, e.archtics_url, creds.get("client_id", ""), creds.get("client_secret", ""))


def _land_kore_apps(ctx: FlowContext) -> dict[str, Any]:
    from dlt_pipelines.kore_apps import land_kore_apps

    if ctx.endpoints.kore_apps_dir is None or not ctx.endpoints.kore_apps_dir.exists():
        raise StageSkipped("no KORE apps export")
    return land_kore_apps(ctx.settings, ctx.endpoints.kore_apps_dir)


def _crm_pull(ctx: FlowContext) -> dict[str, Any]:
    from dlt_pipelines.crm import pull

    if not ctx.endpoints.crm_url:
        raise StageSkipped("no CRM URL")
    s = ctx.settings
    return pull(s, ctx.endpoints.crm_url, s.crm_flavor, ctx.endpoints.crm_credentials)


def _dbt_phase(
    phase: str, meanwhile: Callable[[FlowContext], None] | None = None
) -> Callable[[FlowContext], dict[str, Any]]:
    """The build of ``phase``; ``meanwhile``: work this process starts while dbt builds in its own."""

    def run(ctx: FlowContext) -> dict[str, Any]:
        from dbt_build.scope import build_phase

        t0 = time.perf_counter()
        ctx.settle()
        waited = time.perf_counter() - t0
        if meanwhile is not None:
            meanwhile(ctx)
        out = build_phase(ctx.settings, phase, echo=ctx.echo).summary()
        if waited >= 0.05:  # the stage's seconds include the wait: said apart
            out["waited_for_checks_ahead_seconds"] = round(waited, 2)
        return out

    return run


def _parse_dbt_project(ctx: FlowContext) -> None:
    """dbt's parse needs the project, not the warehouse: it runs in the warm dbt process from the
    catch-up on (the catch-up, the KORE-app landing and the CRM pull mostly wait on HTTP or on one
    core), so the build starts with a parsed project."""
    from dbt_build.scope import start_parse

    start_parse(ctx.settings)


def _dedup(ctx: FlowContext) -> dict[str, Any]:
    from dedup.pipeline import run_dedup

    return run_dedup(ctx.settings)


def _import_checks(ctx: FlowContext) -> None:
    """Great Expectations takes ~2-3 s to import (``setup gx`` in the checks' times). The post-dedup
    build runs in dbt's own process while this one waits for it, so the import happens then, in a
    daemon thread (started by that build's stage: during the dedup step it would take turns with
    the dedup step's Python); the checks' own import finds the module loaded, or waits on Python's
    import lock for this one to finish (never imports twice)."""
    threading.Thread(target=importlib.import_module, args=(GX_MODULE,), name="import-gx", daemon=True).start()


def _final_after_pre_dedup_build(settings: Settings) -> Callable[[str], bool] | None:
    """Whether a relation (``schema.table``) holds its final content for this run's checks once the
    pre-dedup build is done: anything but the dedup step's tables (``kore_dedup``), the post-dedup
    build's models (from dbt's manifest) and the run's own records (``ops``). None when the
    post-dedup build's models are not known."""
    from dbt_build.scope import phase_relations

    later = phase_relations(settings, "post-dedup")
    if later is None:
        return None

    def final(relation: str) -> bool:
        schema, dot, _ = relation.lower().partition(".")
        return bool(dot) and schema not in ("kore_dedup", "ops") and relation.lower() not in later

    return final


def _checks_ahead(ctx: FlowContext) -> None:
    """Start, on a thread, the checks of large tables that the dedup step and the post-dedup build
    do not write (``expectations.runner.run_checks_ahead``): at a million accounts the ticket
    tables' checks, over half the checks' time, on the core the dedup step leaves idle. The checks
    stage takes their results. Without dbt's manifest nothing goes ahead."""
    final = _final_after_pre_dedup_build(ctx.settings)
    if final is None:
        return
    from expectations.runner import run_checks_ahead

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checks-ahead")
    ctx.checks_ahead = pool.submit(run_checks_ahead, ctx.settings, final, layer="all", **ctx.endpoints.check_options)
    pool.shutdown(wait=False)  # the thread ends with its one task


def _take_checks_ahead(ctx: FlowContext) -> Any:
    """The checks run ahead (``HeadStart``), or None: none started, or they failed (then every check
    runs in its stage; the failure is shown)."""
    future, ctx.checks_ahead = ctx.checks_ahead, None
    if future is None:
        return None
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - the stage runs them itself
        ctx.console.print(f"[yellow]checks run ahead failed, running them now ({type(exc).__name__}: {exc})[/]")
        return None


def _checks(
    layer: str, options: Callable[[Endpoints], dict[str, Any]], suites: bool = True
) -> Callable[[FlowContext], dict[str, Any]]:
    def run(ctx: FlowContext) -> dict[str, Any]:
        from expectations.runner import run_checks

        head = _take_checks_ahead(ctx)
        report = run_checks(ctx.settings, layer=layer, suites=suites, head_start=head, **options(ctx.endpoints))
        ctx.check_reports.append(report)
        counts = report.counts()
        if report.failures():
            ctx.console.print(report.summary_table(only_problems=True))
        ctx.console.print("checks: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        out = {"checks": len(report.results), "passed": counts["passed"]}
        if not report.ok:
            failed = RuntimeError(
                f"{counts['failed']} hard data-quality checks failed, {counts.get('error', 0)} could not run"
            )
            raise fail_with(failed, out)
        problem = checks_problem(report, ctx.allow_empty)
        if problem:
            raise fail_with(problem, out)
        return out

    return run


def _crm_push(ctx: FlowContext) -> dict[str, Any]:
    from reverse_etl import push

    if not ctx.endpoints.crm_url:
        raise StageSkipped("no CRM URL")
    s = ctx.settings
    out = push(s, ctx.endpoints.crm_url, s.crm_flavor, ctx.endpoints.crm_credentials, entities=ctx.push_entities)
    problem = push_problem(out, ctx.allow_failed_rows)
    if problem:
        raise fail_with(problem, out)
    return out


FLOW: tuple[Stage, ...] = (
    Stage("land export", "raw_archtics.*", _land_export, ("rows_read", "rows")),
    Stage("catch-up deltas", "raw_archtics.* (merged)", _land_deltas, ("rows_fetched", "rows_written")),
    Stage("land KORE apps", "raw_kore_app.*", _land_kore_apps, ("rows_read", "rows_loaded")),
    Stage("CRM pull", "raw_crm.*", _crm_pull, ("rows", "rows")),
    Stage("dbt build", "stg.*, kore.*, dedup.*", _dbt_phase("pre-dedup"), ("nodes", "nodes_ok"), _parse_dbt_project, 3),
    Stage("dedup", "kore_dedup.*", _dedup, ("records", "accounts_mapped")),
    Stage(
        "dbt build (post-dedup)",
        "marts.*, kore.SyncedTicketPurchases",
        _dbt_phase("post-dedup", meanwhile=_import_checks),
        ("nodes", "nodes_ok"),
    ),
    # a hard failure here stops the run before anything reaches the CRM
    Stage(
        "data-quality checks",
        "ops.check_results",
        _checks("all", lambda e: e.check_options),
        ("checks", "passed"),
        _checks_ahead,
        lead=2,
        ahead_from="dedup",
    ),
    Stage("CRM push", "CRM + ops.crm_sync_state", _crm_push, ("rows", "synced")),
    Stage(
        "CRM reconciliation",
        "ops.check_results",
        # the audits only: the push changed the CRM and the sync state, not what the suites checked
        _checks("kore", lambda e: e.reconciliation_options, suites=False),
        ("checks", "passed"),
    ),
)
STAGE_NAMES: tuple[str, ...] = tuple(s.name for s in FLOW)


# ------------------------------------------------------------------------------------- runner


class FlowRun:
    """Runs stages in order, records each (run history + summary table), stops at the first failure."""

    def __init__(self, settings: Settings, console: Console, title: str = "kore run"):
        self.settings = settings
        self.console = console
        self.title = title
        self.results: list[StageResult] = []
        self.failed = False

    def stage(self, stage: Stage, ctx: FlowContext, starts: Iterable[Stage] = ()) -> dict[str, Any]:
        """Run ``stage``; the ``ahead`` work of the later stages in ``starts`` begins first
        (:func:`with_head_starts`)."""
        for later in starts:
            if later.ahead is None or self.failed:
                continue
            try:
                later.ahead(ctx)
            except Exception as exc:  # noqa: BLE001 - only a head start: the stage itself does the work
                self.console.print(f"[yellow]{later.name}: could not start ahead ({type(exc).__name__}: {exc})[/]")
        return self.step(stage.name, stage.output, lambda: stage.run(ctx), stage.counts)

    def step(self, name: str, output: str, fn: Callable[[], dict[str, Any]], counts: tuple[str, str]) -> dict[str, Any]:
        """Run one step and record it; after a failure the remaining steps are listed as skipped."""
        res = StageResult(stage=name, output=output)
        self.results.append(res)
        if self.failed:
            return {}
        t0 = time.perf_counter()
        out: dict[str, Any] = {}
        with self.console.status(f"[bold]{name}[/]…"):
            try:
                with run_record(self.settings, stage=name) as rec:
                    try:
                        out = fn() or {}
                    except StageSkipped as why:
                        rec.outcome = res.outcome = f"skipped: {why}"
                    except Exception as exc:
                        # a failed stage keeps the counts it had (rows the CRM refused ...)
                        self._count(res, rec, getattr(exc, "summary", None) or {}, counts)
                        raise
                    else:
                        self._count(res, rec, out, counts)
                        res.outcome = "ok"
            except Exception as exc:  # noqa: BLE001 - reported in the summary, then the run stops
                why = exc.one_line() if isinstance(exc, KoreError) else f"{type(exc).__name__}: {exc}"
                res.outcome = f"failed: {why}"[:600]
                self.failed = True
                out = {}
        res.seconds = time.perf_counter() - t0
        mark = {"ok": "[green]✓[/]"}.get(
            res.outcome, "[yellow]-[/]" if res.outcome.startswith("skipped") else "[red]✗[/]"
        )
        self.console.print(f"{mark} {name}: in {res.rows_in:,} out {res.rows_out:,} ({res.seconds:.1f}s)")
        return out

    @staticmethod
    def _count(res: StageResult, rec: Any, out: dict[str, Any], counts: tuple[str, str]) -> None:
        res.rows_in, res.rows_out = count(out, counts[0]), count(out, counts[1])
        rec.rows_in, rec.rows_out = res.rows_in, res.rows_out
        rec.rows_failed = count(out, "failed")
        rec.detail = {k: v for k, v in out.items() if isinstance(v, int | float | str)}
        res.detail = out

    def summary_table(self) -> Table:
        t = Table(title=self.title, show_lines=False)
        for col in ("stage", "rows in", "rows out", "seconds", "outcome", "output"):
            t.add_column(col, justify="right" if col in ("rows in", "rows out", "seconds") else "left")
        for r in self.results:
            t.add_row(r.stage, f"{r.rows_in:,}", f"{r.rows_out:,}", f"{r.seconds:.1f}", r.outcome, r.output)
        t.add_row("total", "", "", f"{sum(r.seconds for r in self.results):.1f}", "", "")
        return t


def select_stages(only: Iterable[str] | None = None, skip: Iterable[str] | None = None) -> tuple[Stage, ...]:
    """The flow's stages, in flow order, restricted to ``only`` and without ``skip`` (names)."""
    only_set, skip_set = set(only or ()), set(skip or ())
    unknown = (only_set | skip_set) - set(STAGE_NAMES)
    if unknown:
        raise ValueError(f"unknown stage(s) {sorted(unknown)}; stages are: {', '.join(STAGE_NAMES)}")
    return tuple(s for s in FLOW if (not only_set or s.name in only_set) and s.name not in skip_set)


def with_head_starts(stages: Iterable[Stage]) -> list[tuple[Stage, list[Stage]]]:
    """Each chosen stage with the later stages whose ``ahead`` work starts with it: ``lead`` chosen
    stages before their own (or with the first stage of the run), never before a chosen stage that
    comes before its ``ahead_from`` stage in the flow (such a stage writes what the work reads)."""
    chosen = list(stages)
    order = {s.name: i for i, s in enumerate(FLOW)}
    starts: list[list[Stage]] = [[] for _ in chosen]
    for i, stage in enumerate(chosen):
        if stage.ahead is None or i == 0:
            continue
        at = max(0, i - stage.lead)
        if stage.ahead_from is not None:
            first = order[stage.ahead_from]
            at = next(j for j in range(at, i + 1) if j == i or order.get(chosen[j].name, first) >= first)
        if at < i:
            starts[at].append(stage)
    return list(zip(chosen, starts, strict=True))


def run_flow(run: FlowRun, ctx: FlowContext, stages: Iterable[Stage] = FLOW) -> FlowRun:
    for stage, starts in with_head_starts(stages):
        run.stage(stage, ctx, starts)
    return run


def finish(run: FlowRun, ctx: FlowContext, record_name: str = "last_run.json") -> dict[str, Any]:
    """The run's HTML report, summary table and run document (``logs/runs/<run id>.json``, what
    ``kore run --json`` prints and ``kore report`` rebuilds from): written whatever the outcome."""
    from orchestration.runs import run_document, write_run_document

    s = ctx.settings
    report_path = ""
    try:
        from orchestration.report import write_report

        report = ctx.check_reports[0] if ctx.check_reports else None
        report_path = str(write_report(s, [r.as_dict() for r in run.results], report))
        ctx.console.print(f"Run report: {report_path}")
    except Exception as exc:  # noqa: BLE001 - the report must not hide the run's own outcome
        ctx.console.print(f"[yellow]Run report not written: {type(exc).__name__}: {exc}[/]")
    ctx.console.print(run.summary_table())
    doc = run_document(run, s, report_path)
    write_run_document(s, doc, record_name)
    return doc
