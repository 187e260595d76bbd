"""What a check run produces: one :class:`CheckResult` per expectation or audit, gathered in a
:class:`CheckReport`.

Both GX expectations and the reconciliation audits (the runner's own and those of plug-ins) end up
in the same shape, :class:`~kore.contracts.checks.CheckResult` (defined with the plug-in contract,
so a plug-in can build one without importing this stage), so that one table
(``ops.check_results``), one HTML page and one exit code describe the whole run. Examples carry
*keys only* (account ids, record ids, event ids), never names or e-mail addresses: the results are
written to the warehouse and to HTML files that many people read.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from kore.contracts.checks import LAYERS, MAX_EXAMPLES, CheckResult, Severity, Status

__all__ = ["LAYERS", "MAX_EXAMPLES", "CheckReport", "CheckResult", "Severity", "Status", "keys_only"]


def keys_only(records: list[dict[str, Any]], key_columns: list[str], limit: int = MAX_EXAMPLES) -> list[dict]:
    """Cut example rows down to their key columns so no personal detail leaves the check."""
    out: list[dict[str, Any]] = []
    for rec in records[:limit]:
        out.append({k: _plain(rec.get(k)) for k in key_columns if k in rec})
    return out


def _plain(value: Any) -> Any:
    """numpy/pandas scalars to plain Python (JSON-able, readable in HTML)."""
    if value is None:
        return None
    if hasattr(value, "item"):
        try:
            return value.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, (int, float, str, bool)) else str(value)


@dataclass
class CheckReport:
    """All results of one ``run_checks`` call. ``ok`` is False when any fail-severity check failed."""

    results: list[CheckResult] = field(default_factory=list)
    layer: str = "all"
    run_id: str = ""
    checked_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    data_docs: str = ""
    # seconds per suite (``suite <name>``), audit (``audit <name>``) and ``setup gx``: where a run's time goes
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(r.hard_failure for r in self.results)

    def counts(self) -> dict[str, int]:
        c = {"passed": 0, "failed": 0, "warned": 0, "skipped": 0, "error": 0}
        for r in self.results:
            if r.status == "failed":
                c["failed" if r.severity == "fail" else "warned"] += 1
            elif r.status == "error":
                c["error"] += 1
            else:
                c[r.status] += 1
        return c

    def slowest(self, n: int = 10) -> dict[str, float]:
        """The ``n`` slowest suites/audits and the totals per kind (``setups``, ``suites``, ``audits``, and
        ``aheads``: the items run ahead of the stage, ``expectations.runner.run_checks_ahead``), in seconds."""
        top = sorted(self.seconds.items(), key=lambda kv: kv[1], reverse=True)[:n]
        out = {k: round(v, 2) for k, v in top}
        for kind in ("setup", "suite", "audit", "ahead"):
            out[f"{kind}s_total"] = round(sum(v for k, v in self.seconds.items() if k.startswith(kind + " ")), 2)
        return out

    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.success]

    def by_check(self, name: str) -> list[CheckResult]:
        return [r for r in self.results if r.check == name]

    def to_frame(self) -> pd.DataFrame:
        rows = [{"run_id": self.run_id, "checked_at": self.checked_at, **r.as_row()} for r in self.results]
        cols = [
            "run_id",
            "checked_at",
            "layer",
            "table_name",
            "check_name",
            "kind",
            "severity",
            "status",
            "success",
            "failing_rows",
            "examples",
            "detail",
        ]
        return pd.DataFrame(rows, columns=cols)

    def summary_table(self, only_problems: bool = False) -> str:
        """The results as a rich table rendered to plain text (what ``kore check`` prints)."""
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"Data checks ({self.layer}): " + ", ".join(f"{k} {v}" for k, v in self.counts().items()))
        for col in ("layer", "table", "check", "severity", "status", "failing rows", "examples"):
            table.add_column(col, overflow="fold")
        style = {"passed": "green", "skipped": "dim", "error": "magenta"}
        for r in self.results:
            if only_problems and r.success:
                continue
            st = style.get(r.status, "red" if r.severity == "fail" else "yellow")
            ex = "; ".join(",".join(f"{k}={v}" for k, v in e.items()) for e in r.examples[:3])
            table.add_row(r.layer, r.table, r.check, r.severity, f"[{st}]{r.status}[/{st}]", str(r.failing_rows), ex)
        buf = io.StringIO()
        Console(width=160, file=buf, color_system=None).print(table)
        return buf.getvalue()
