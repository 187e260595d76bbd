"""`kore bench e2e --accounts N`: the whole production flow on one workdir, each stage timed.

Generation is excluded (it stands in for the client's export and systems, and is reused when the
same parameters made it: ``--opt reuse=true``). Then the flow of :mod:`orchestration.flow` runs
stage by stage exactly as ``kore run`` / ``kore demo`` run it - export landing, catch-up, KORE apps,
CRM pull, dbt (pre-dedup), dedup, dbt (post-dedup), checks, CRM push (accounts, contacts, then the
KORE-owned entities), reconciliation - against the sandbox Archtics API and CRM on loopback, started the way
:mod:`orchestration.demo` starts them.

Figures: seconds and peak memory (this process plus its children, e.g. dbt) per stage, with the
landing stages' own breakdown and the checks' ten slowest suites/audits (``times``);
``crm_ready_seconds`` = every stage before the push (the warehouse is ready to feed the CRM);
push throughput in rows/s; ``peak_rss_mb`` over the whole flow. When the checks fail, production
stops before the push; the benchmark still times the push (``push_after_failed_checks`` true, ``ok``
false) unless ``--opt push_after_failed_checks=false``; ``--opt push=false`` stops before the push
(``crm_ready_seconds`` only); ``--opt push_entities=Account,Contact`` pushes only those registry
entities and stops after the push (the reconciliation would find the others unsent): at 1M accounts
the ticket purchases (~10M rows) keep the whole push going for hours through the in-process sandbox.
The sandbox servers run in this process, so their memory is counted too (an upper bound for the
pipeline's own memory).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from benchmarks.landing import PeakRss
from kore.config import get_settings
from orchestration.demo import generate_sample, sample_settings, sandbox_endpoints
from orchestration.flow import FLOW, Endpoints, FlowContext, FlowRun, with_head_starts

PUSH_STAGE = "CRM push"
CHECKS_STAGE = "data-quality checks"


def _prepare(workdir: Path, accounts: int, seed: int, reuse: bool) -> float | None:
    """Generate the export and sandbox data (or reuse them) and clear everything a run wrote."""
    settings = get_settings(workdir)
    marker = workdir / "e2e_params.json"
    params = {"accounts": accounts, "seed": seed}
    if not (reuse and marker.exists() and json.loads(marker.read_text()) == params):
        shutil.rmtree(workdir, ignore_errors=True)
        settings.ensure_dirs()
        t0 = time.perf_counter()
        generate_sample(settings, accounts, seed)
        marker.write_text(json.dumps(params))
        return round(time.perf_counter() - t0, 1)
    # a reused generation: the sandbox servers' live state and the warehouse start over
    for name in ("warehouse.duckdb", "warehouse.duckdb.wal", ".dlt_data", "dbt_artifacts", "logs", "reports"):
        p = workdir / name
        shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    for live in settings.sandbox_dir.glob("crm_*.sqlite*"):
        live.unlink()
    return None


def run(workdir: Path, accounts: int | None = None, rows: int | None = None, **kw: Any) -> dict:
    """Run the flow once on a fresh warehouse; keywords ``seed`` (42) and ``reuse`` (False)."""
    accounts = accounts or 100_000
    workdir = Path(workdir).resolve()
    gen_seconds = _prepare(workdir, accounts, int(kw.get("seed", 42)), bool(kw.get("reuse", False)))
    settings = sample_settings(get_settings(workdir))
    settings.ensure_dirs()
    console = Console(stderr=True, quiet=not kw.get("verbose", False))
    flow = FlowRun(settings, console, title="kore bench e2e")
    entities = [e.strip() for e in str(kw.get("push_entities") or "").split(",") if e.strip()] or None
    ctx = FlowContext(settings=settings, endpoints=Endpoints(), console=console, push_entities=entities)
    stages: list[dict[str, Any]] = []
    failed_checks = False
    with contextlib.ExitStack() as servers, PeakRss() as whole:
        ctx.endpoints = sandbox_endpoints(settings, servers)
        for stage, starts in with_head_starts(FLOW):
            if stage.name == PUSH_STAGE and not kw.get("push", True):
                break  # --opt push=false: CRM-ready only (the push dominates at 100k+ under load)
            with PeakRss() as mem:
                out = flow.stage(stage, ctx, starts)
            res = flow.results[-1]
            stages.append(_stage_row(res, mem.mb, out))
            if stage.name == CHECKS_STAGE and ctx.check_reports:  # the slowest suites/audits of the run
                stages[-1]["times"] = ctx.check_reports[-1].slowest(10)
            if flow.failed and stage.name == CHECKS_STAGE and kw.get("push_after_failed_checks", True):
                # production stops here; the benchmark still times the push (reported, ok stays False)
                failed_checks, flow.failed = True, False
            if flow.failed or (stage.name == PUSH_STAGE and entities):
                break
    result = _figures(accounts, gen_seconds, stages, whole.mb, not flow.failed and not failed_checks)
    result["push_after_failed_checks"] = failed_checks
    result["push_entities"] = entities or "all"
    return result


def _stage_row(res: Any, peak_mb: float, out: dict[str, Any]) -> dict[str, Any]:
    row = {
        "stage": res.stage,
        "seconds": round(res.seconds, 2),
        "peak_rss_mb": peak_mb,
        "rows_in": res.rows_in,
        "rows_out": res.rows_out,
        "outcome": res.outcome,
    }
    if isinstance(out.get("times"), dict):  # the landing stages' own breakdown
        row["times"] = out["times"]
    return row


def _figures(accounts: int, gen_seconds: float | None, stages: list[dict], peak_mb: float, ok: bool) -> dict:
    names = [s["stage"] for s in stages]
    before_push = stages[: names.index(PUSH_STAGE)] if PUSH_STAGE in names else stages
    push = next((s for s in stages if s["stage"] == PUSH_STAGE), None)
    crm_ready = round(sum(s["seconds"] for s in before_push), 2)
    result: dict[str, Any] = {
        "benchmark": "e2e",
        "accounts": accounts,
        "ok": ok,
        "crm_ready_seconds": crm_ready,
        "seconds": round(sum(s["seconds"] for s in stages), 2),
        "push_rows": push["rows_in"] if push else None,
        "push_seconds": push["seconds"] if push else None,
        "push_rows_per_s": round(push["rows_in"] / push["seconds"], 1) if push and push["seconds"] else None,
        "peak_rss_mb": peak_mb,
        "slowest_stage": max(stages, key=lambda s: s["seconds"])["stage"] if stages else None,
        "generate_seconds": gen_seconds,
        "stages": stages,
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    goal = 90 if accounts <= 100_000 else 600
    result["goals"] = {f"crm_ready_le_{goal}s": crm_ready <= goal and ok, "peak_le_8GB": peak_mb <= 8192}
    return result
