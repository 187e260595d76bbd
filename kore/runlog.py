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
from typing import Any

import pandas as pd

from kore.config import Settings

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


def write_record(settings: Settings, rec: RunRecord) -> None:
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.logs_dir / "runs.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(rec.as_row(), default=str) + "\n")
    with contextlib.suppress(Exception):
        from kore.warehouse import connect

        with connect(settings) as wh:
            wh.append_df("ops", "run_history", pd.DataFrame([rec.as_row()]))


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
        rec.outcome = f"failed: {type(exc).__name__}"
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
