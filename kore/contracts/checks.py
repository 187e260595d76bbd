"""Data checks: the result of a check, and the plug-in interface that adds audits to ``kore check``.

One result type (:class:`CheckResult`) for GX expectations, the runner's own reconciliation audits
and the audits of plug-ins, so that one table (``ops.check_results``), one HTML page and one exit
code describe a whole run. Examples carry *keys only* (account ids, record ids, event ids), never
names or e-mail addresses: the results are written to the warehouse and to HTML files that many
people read.

Plug-ins: a package adds audits without the runner (``expectations.runner``) importing it. It
declares a function ``audits(context: CheckContext) -> list[Audit]`` in the entry-point group
:data:`ENTRY_POINT_GROUP` (``[project.entry-points."kore.checks"]`` in ``pyproject.toml``). The
runner hands it a :class:`CheckContext` (plain values, plus read access to the warehouse tables
through :class:`WarehouseTables`), keeps the audits of the layer being checked and runs each
``Audit.run`` like its own audits (an exception becomes an ``error`` result). Why: the sandbox's
audits reconcile the warehouse with its sandbox-only admin endpoints (live Archtics state, CRM
store); production code must not know the sandbox exists, and the sandbox must not import a stage.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, NamedTuple, Protocol

import pandas as pd

Severity = Literal["warn", "fail"]
Status = Literal["passed", "failed", "skipped", "error"]
LAYERS = ("raw", "staging", "kore", "dedup", "marts")
MAX_EXAMPLES = 5
ENTRY_POINT_GROUP = "kore.checks"


@dataclass
class CheckResult:
    """One check's outcome. ``success`` is False for failed and errored checks, True otherwise."""

    check: str
    layer: str
    table: str
    severity: Severity
    status: Status
    failing_rows: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    detail: str = ""
    kind: str = "expectation"  # expectation | audit

    @property
    def success(self) -> bool:
        return self.status in ("passed", "skipped")

    @property
    def hard_failure(self) -> bool:
        return not self.success and self.severity == "fail"

    def as_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["success"] = int(self.success)
        row["examples"] = json.dumps(self.examples, default=str, sort_keys=True)
        row["table_name"] = row.pop("table")
        row["check_name"] = row.pop("check")
        return row


def audit_result(
    name: str, layer: str, table: str, severity: Severity, failing: int, examples: list[dict], detail: str
) -> CheckResult:
    """An audit that ran: failed when any row fails, with at most :data:`MAX_EXAMPLES` key-only examples."""
    status: Status = "failed" if failing else "passed"
    return CheckResult(name, layer, table, severity, status, failing, examples[:MAX_EXAMPLES], detail, "audit")


def audit_skipped(name: str, layer: str, table: str, severity: Severity, why: str) -> CheckResult:
    """An audit whose inputs are missing (a partial pipeline is checked, not failed)."""
    return CheckResult(name, layer, table, severity, "skipped", detail=why, kind="audit")


def normalize_key(value: Any) -> str | None:
    """Keys compare as text: ``'1001'``, ``1001`` and ``1001.0`` are the same account (None when empty)."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return None
    s = str(value).strip()
    if re.fullmatch(r"-?[0-9]+\.0+", s):
        s = s.split(".")[0]
    return s or None


def normalize_keys(values: pd.Series) -> pd.Series:
    """:func:`normalize_key` of every value, column by column (object dtype, None when empty): the
    audits read a million account ids at a time."""
    text = values.astype("string").str.strip().str.replace(r"^(-?[0-9]+)\.0+$", r"\1", regex=True)
    keep = text.notna() & (text != "")
    return text.astype(object).where(keep.to_numpy(dtype=bool), None)


def key_text(value: Any) -> str:
    """:func:`normalize_key` with ``''`` for an empty value (for comparing whole rows)."""
    n = normalize_key(value)
    return "" if n is None else n


class WarehouseTables(Protocol):
    """Read access to warehouse tables, by ``schema.table`` in any letter case."""

    def columns(self, qualified: str) -> dict[str, str] | None:
        """Lower-case name -> real name of the table's columns; None when the table does not exist."""
        ...

    def read(self, qualified: str, columns: list[str]) -> Any:
        """A pandas DataFrame of the named columns (any letter case), its columns named as given."""
        ...

    def read_matching(self, qualified: str, columns: list[str], keys: pd.DataFrame) -> Any:
        """Like :meth:`read`, but only rows whose key columns (``keys``' columns, any letter case),
        compared as :func:`key_text`, equal a row of ``keys`` (values as :func:`key_text` gives
        them). The engine filters; the result may hold more rows (callers compare exactly)."""
        ...


@dataclass(frozen=True)
class CheckContext:
    """What a check plug-in gets: the warehouse tables and the source systems the caller named."""

    tables: WarehouseTables
    crm_flavor: str
    archtics_api_url: str | None = None
    archtics_credentials: dict[str, str] = field(default_factory=dict)  # client_id, client_secret
    crm_url: str | None = None
    crm_headers: dict[str, str] = field(default_factory=dict)
    crm_verify: str | bool = True  # CA bundle of a CRM with a self-signed certificate
    sample_size: int = 200
    http_timeout: float = 30.0


class Audit(NamedTuple):
    """One audit, not yet run: ``run()`` returns its :class:`CheckResult`.

    ``reads``: the other warehouse relations (``schema.table``) the audit reads besides ``table``,
    when that list is complete. Only such an audit may run ahead of the stages that write after its
    tables are final (``expectations.runner.run_checks_ahead``); None, the default, means unknown: it
    runs with the checks' own stage, after every writer.
    """

    layer: str
    name: str
    table: str
    run: Callable[[], CheckResult]
    reads: tuple[str, ...] | None = None


CheckPlugin = Callable[[CheckContext], list[Audit]]
