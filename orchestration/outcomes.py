"""When a stage that "ran" is still a failure: the exit semantics of the push and the checks.

Why here and not in the stages: the push and the checks report counts (how many rows failed,
how many checks skipped); whether that is a failure is the application's decision, and it must be
the same for ``kore crm push``, ``kore check`` and ``kore run`` (a scheduler reads only the exit
code). Pure functions of the stages' summaries, so they are tested without a CRM.
"""

from __future__ import annotations

from typing import Any

from kore.errors import RunFailed


def push_problem(summary: dict[str, Any], allow_failed_rows: bool = False) -> RunFailed | None:
    """What makes a push summary a failure: every source table missing, or rows the CRM refused.

    Names the failures: per entity the number of rows and the CRM's error codes (counts only).
    """
    if summary.get("dry_run"):
        return None
    entities: dict[str, dict[str, Any]] = summary.get("entities") or {}
    if entities and all(str(e.get("source", "")).endswith("(missing)") for e in entities.values()):
        return RunFailed(
            f"CRM push: every source table is missing ({len(entities)} entities, nothing to push)",
            "build the warehouse first (kore build, or kore run)",
        )
    failed = int(summary.get("failed") or 0) + int(summary.get("retract_failed") or 0)
    if not failed or allow_failed_rows:
        return None
    parts = []
    for name, e in entities.items():
        n = int(e.get("failed") or 0) + int(e.get("retract_failed") or 0)
        if n:
            codes = ", ".join(f"{code or 'error'} x{k}" for code, k in sorted((e.get("errors") or {}).items()))
            parts.append(f"{name} {n}" + (f" ({codes})" if codes else ""))
    return RunFailed(
        f"CRM push: {failed} rows failed: " + "; ".join(parts),
        "see ops.crm_sync_state (status 'failed') for the rows and errors; they are re-sent on the next push "
        "(--allow-failed-rows makes this a success)",
    )


def checks_problem(report: Any, allow_empty: bool = False) -> RunFailed | None:
    """A check run in which no check ran (every one skipped: an empty or unbuilt warehouse)."""
    results = list(getattr(report, "results", []) or [])
    if allow_empty or any(r.status != "skipped" for r in results):
        return None
    return RunFailed(
        f"no data check ran: all {len(results)} checks skipped (layer {getattr(report, 'layer', 'all')}; "
        "the warehouse is empty or not built)",
        "land and build first (kore run), or pass --allow-empty",
    )
