"""A run's record as one JSON document, and the HTML report rebuilt from it (``kore report``).

Why a document per run (``<workdir>/logs/runs/<run id>.json``): a scheduler needs one thing to
read after ``kore run`` (``--json`` prints the same document on stdout), and ``kore report`` must be
able to redraw any past run's report from what was recorded, not from the last run only. The
document holds counts and outcomes, never people's details (as the run records do).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kore.config import Settings
from kore.errors import UsageError
from kore.runlog import RUN_ID, read_history

if TYPE_CHECKING:
    from orchestration.flow import FlowRun


def _scalars(detail: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in detail.items() if isinstance(v, int | float | str | bool)}


def run_document(run: FlowRun, settings: Settings, report_path: str = "") -> dict[str, Any]:
    """The run as one JSON-able dict: ok/exit code, each stage's counts and outcome, the failures."""
    # one line each (a dbt failure carries dbt's multi-line output tail)
    failures = [
        " ".join(f"{r.stage}: {r.outcome.removeprefix('failed: ')}".split())[:500]
        for r in run.results
        if r.outcome.startswith("failed")
    ]
    stages = [{**r.as_dict(), "detail": _scalars(r.detail)} for r in run.results]
    return {
        "command": run.title,
        "run_id": RUN_ID,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "ok": not run.failed,
        "exit_code": 1 if run.failed else 0,
        "workdir": str(settings.workdir),
        "target": settings.target,
        "crm_flavor": settings.crm_flavor,
        "seconds": round(sum(r.seconds for r in run.results), 2),
        "stages": stages,
        "failures": failures,
        "report": report_path,
    }


def runs_dir(settings: Settings) -> Path:
    return settings.logs_dir / "runs"


def write_run_document(settings: Settings, doc: dict[str, Any], latest_name: str = "last_run.json") -> Path:
    """``logs/runs/<run id>.json`` and, as before, ``logs/<latest_name>`` (the stage list only)."""
    runs_dir(settings).mkdir(parents=True, exist_ok=True)
    path = runs_dir(settings) / f"{doc['run_id']}.json"
    path.write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
    (settings.logs_dir / latest_name).write_text(json.dumps(doc["stages"], indent=2, default=str), encoding="utf-8")
    return path


def load_run(settings: Settings, run_id: str | None = None) -> dict[str, Any]:
    """A past run's document (the latest when ``run_id`` is None); from ``runs.jsonl`` when the run
    predates run documents (its stage records)."""
    folder = runs_dir(settings)
    docs = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime) if folder.exists() else []
    if run_id is None and docs:
        return json.loads(docs[-1].read_text(encoding="utf-8"))
    if run_id is not None and (folder / f"{run_id}.json").exists():
        return json.loads((folder / f"{run_id}.json").read_text(encoding="utf-8"))
    history = read_history(settings, limit=100_000)
    if run_id is None:
        run_id = history[-1]["run_id"] if history else None
    stages = [h for h in history if h["run_id"] == run_id]
    if not stages:
        known = ", ".join(sorted({p.stem for p in docs})[-5:]) or "none"
        raise UsageError(
            f"no run {run_id!r} recorded in {settings.logs_dir}"
            if run_id
            else f"no run recorded in {settings.logs_dir}",
            f"pass a run id from `kore status` (recent run documents: {known})",
        )
    return {"run_id": run_id, "stages": stages, "ok": all(not str(s["outcome"]).startswith("failed") for s in stages)}


def check_report_of(settings: Settings, run_id: str) -> Any:
    """The run's first check run (ops.check_results rows of that run id) as a CheckReport, or None."""
    from expectations.results import CheckReport, CheckResult
    from kore.warehouse import connect

    if settings.target == "duckdb" and not settings.duckdb_path.exists():
        return None
    try:
        with connect(settings) as wh:
            if not wh.table_exists("ops", "check_results"):
                return None
            df = wh.query_df("select * from ops.check_results where run_id = ?", [run_id])
    except Exception:  # noqa: BLE001 - the report shows "checks were not run" instead
        return None
    if df.empty:
        return None
    first = df[df["checked_at"] == df["checked_at"].min()]
    results = [
        CheckResult(
            check=r.check_name,
            layer=r.layer,
            table=r.table_name,
            severity=r.severity,
            status=r.status,
            failing_rows=int(r.failing_rows or 0),
            examples=json.loads(r.examples or "[]"),
            detail=str(r.detail or ""),
            kind=r.kind,
        )
        for r in first.itertuples()
    ]
    return CheckReport(results=results, layer=str(first["layer"].iloc[0]), run_id=run_id)


def rebuild_report(settings: Settings, run_id: str | None = None) -> Path:
    """Write the HTML report of a past run (stages and checks from its records; the warehouse panels
    show the warehouse as it is now)."""
    from orchestration.report import write_report

    doc = load_run(settings, run_id)
    return write_report(settings, doc["stages"], check_report_of(settings, doc["run_id"]), name=f"run-{doc['run_id']}")
