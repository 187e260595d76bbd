"""What a push reports: counts per entity, the run records of ``ops.run_history`` and the summary.

Counts, never names or emails (see docs/architecture.md), so the summary and the run records are
safe to log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from kore.runlog import RunRecord

console = Console(stderr=True)


@dataclass
class EntityResult:
    rows: int = 0
    excluded: int = 0
    invalid: int = 0
    unchanged: int = 0
    waiting_parent: int = 0
    held_too_long: int = 0  # a value longer than its CRM field: not sent (kore check flags it)
    sent: int = 0
    created: int = 0
    updated: int = 0
    failed: int = 0
    requests: int = 0
    withheld: int = 0  # deleted or inactive in the CRM: not re-created, sent to review
    retracted: int = 0  # withdrawn (deactivated) this push
    retract_failed: int = 0
    retraction_note: str = ""  # why nothing was withdrawn (policy keep, guard, no baseline)
    source: str = ""
    seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def entity_record(rec: RunRecord, res: EntityResult, dry_run: bool) -> RunRecord:
    """The run record of one entity (rows read/sent/created/updated/failed, duration, outcome)."""
    rec.finished_at = now_iso()
    rec.seconds = res.seconds
    rec.rows_in = res.rows
    rec.rows_out = res.created + res.updated
    rec.rows_failed = res.failed + res.retract_failed
    rec.detail = {k: v for k, v in res.__dict__.items() if k != "rows"} | {"dry_run": dry_run}
    if dry_run:
        rec.outcome = "dry_run"
    elif res.source.endswith("(missing)"):
        rec.outcome = "skipped: source table missing"
    else:
        rec.outcome = "partial" if res.failed or res.retract_failed else "success"
    return rec


def summary(flavor: str, dry_run: bool, results: dict[str, EntityResult], seconds: float) -> dict[str, Any]:
    ents = {k: {kk: vv for kk, vv in v.__dict__.items()} for k, v in results.items()}
    return {
        "flavor": flavor,
        "dry_run": dry_run,
        "entities": ents,
        "rows": sum(r.rows for r in results.values()),
        "sent": sum(r.sent for r in results.values()),
        "created": sum(r.created for r in results.values()),
        "updated": sum(r.updated for r in results.values()),
        "synced": sum(r.created + r.updated for r in results.values()),
        "unchanged": sum(r.unchanged for r in results.values()),
        "failed": sum(r.failed for r in results.values()),
        "waiting_parent": sum(r.waiting_parent for r in results.values()),
        "held_too_long": sum(r.held_too_long for r in results.values()),
        "excluded": sum(r.excluded for r in results.values()),
        "withheld": sum(r.withheld for r in results.values()),
        "retracted": sum(r.retracted for r in results.values()),
        "retract_failed": sum(r.retract_failed for r in results.values()),
        "requests": sum(r.requests for r in results.values()),
        "seconds": round(seconds, 3),
    }


def total_record(rec: RunRecord, result: dict[str, Any]) -> None:
    """Fill the run record of the whole push from its summary (per entity: only the main counts)."""
    rec.rows_in = result["rows"]
    rec.rows_out = result["synced"]
    rec.rows_failed = result["failed"]
    rec.detail = {k: v for k, v in result.items() if k != "entities"} | {
        "entities": {
            k: {kk: v[kk] for kk in ("rows", "sent", "unchanged", "failed", "retracted", "withheld")}
            for k, v in result["entities"].items()
        }
    }
    if result["dry_run"]:
        rec.outcome = "dry_run"
    elif result["failed"]:
        rec.outcome = "partial"


def print_dry_run(result: dict[str, Any]) -> None:
    t = Table(title=f"CRM push dry run ({result['flavor']}): nothing was sent")
    for col in ("entity", "source", "create", "update", "unchanged", "waiting parent", "excluded", "withdraw"):
        t.add_column(col)
    for name, r in result["entities"].items():
        t.add_row(
            name,
            r["source"],
            str(r["created"]),
            str(r["updated"]),
            str(r["unchanged"]),
            str(r["waiting_parent"]),
            str(r["excluded"]),
            str(r["retracted"]),
        )
    console.print(t)
