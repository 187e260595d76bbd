"""Every run leaves a record: what ran, rows in/out, duration, outcome.

Records go to ``<workdir>/logs/runs.jsonl`` (always, even when the warehouse is unreachable) and to
the warehouse table ``ops.run_history`` (best effort), which ``kore status`` reads. Records hold
counts and names of stages/entities only, never people's details.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from kore.config import Settings

if TYPE_CHECKING:
    from kore.warehouse import Warehouse

RUN_ID = uuid.uuid4().hex[:12]  # one id per process: groups the stages of one `kore` invocation


@dataclass
class RunRecord:
    stage: str
    entity: str = ""
    run_id: str = RUN_ID
    started_at: str = ""
    finished_at: str = ""
    seconds: float = 0.0
    rows_in: int = 0
    rows_out: int = 0
    rows_failed: int = 0
    outcome: str = "running"
    detail: dict[str, Any] = field(default_factory=dict)

    def as_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["detail"] = json.dumps(self.detail, default=str, sort_keys=True)
        return row


def write_records(settings: Settings, records: list[RunRecord], wh: Warehouse | None = None) -> None:
    """Append run records to ``runs.jsonl`` and (best effort) ``ops.run_history`` in one go.

    Pass an open ``wh`` to reuse it: opening the warehouse costs ~0.1 s, which for a stage that
    records one row per entity (the CRM pull and push) would cost more than the stage itself.
    """
    if not records:
        return
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.logs_dir / "runs.jsonl", "a", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec.as_row(), default=str) + "\n")
    frame = pd.DataFrame([r.as_row() for r in records])
    with contextlib.suppress(Exception):  # the jsonl file always has them
        if wh is not None:
            wh.append_df("ops", "run_history", frame)
        else:
            from kore.warehouse import connect

            with connect(settings) as own:
                own.append_df("ops", "run_history", frame)


def write_record(settings: Settings, rec: RunRecord) -> None:
    write_records(settings, [rec])


@contextlib.contextmanager
def run_record(settings: Settings, stage: str, entity: str = "") -> Iterator[RunRecord]:
    """Time a stage and record its outcome, also when it raises (outcome = 'failed: <Error>')."""
    rec = RunRecord(stage=stage, entity=entity, started_at=datetime.now(UTC).isoformat(timespec="seconds"))
    t0 = time.perf_counter()
    try:
        yield rec
        if rec.outcome == "running":
            rec.outcome = "success"
    except BaseException as exc:
        # an error may name its own outcome (e.g. "partial": the run landed what it could)
        rec.outcome = getattr(exc, "outcome", None) or f"failed: {type(exc).__name__}"
        raise
    finally:
        rec.seconds = round(time.perf_counter() - t0, 3)
        rec.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
        write_record(settings, rec)


def read_history(settings: Settings, limit: int = 50) -> list[dict[str, Any]]:
    path = settings.logs_dir / "runs.jsonl"
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()[-limit:]
    return [json.loads(x) for x in lines]
