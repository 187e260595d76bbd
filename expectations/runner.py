"""``run_checks``: every expectation suite and reconciliation audit of a layer, in one report.

What a run does: resolve each suite's table (a missing table is *skipped*, unless an upstream stage
claims to have produced it: then it *fails*), read the columns the suite needs, validate them with
GX (one ephemeral context per run), run the SQL/pandas audits and those of the check plug-ins
(``kore.contracts.checks``: entry points ``kore.checks``, e.g. the sandbox's reconciliations with the
source systems; this module never imports a plug-in), then write the results to
``ops.check_results`` and the data docs under ``<reports_dir>/data_docs``, and leave a run record.

Severity: ``fail`` results make ``CheckReport.ok`` False (``kore check`` exits non-zero); ``warn``
results are reported but do not block (raw Archtics data is dirty by nature).
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expectations.audits.catalog import audits_for
from expectations.audits.context import AuditContext
from expectations.audits.landing import find_manifest
from expectations.audits.plugins import ReaderTables, plugin_audits
from expectations.claims import upstream_claims
from expectations.data_docs import write_data_docs
from expectations.frames import TableReader
from expectations.gx_sql import needs_frame
from expectations.gx_validate import GxValidator, check_name, now_parameter, referenced_columns, resolve_column
from expectations.results import LAYERS, MAX_EXAMPLES, CheckReport, CheckResult, keys_only
from expectations.suites import SUITES_DIR, SuiteSpec, load_suites
from kore.config import Settings, archtics_credentials
from kore.contracts.checks import Audit, CheckContext, CheckPlugin
from kore.errors import UsageError
from kore.landing import require_landing_complete
from kore.runlog import RUN_ID, RunRecord, run_record
from kore.warehouse import Warehouse, connect

ROW_COUNT_TYPES = ("expect_table_row_count_to_be_between",)
# the smallest table whose checks are worth running ahead of their stage (``run_checks_ahead``)
AHEAD_MIN_ROWS = 5_000_000
COMPOUND_TYPES = ("expect_compound_columns_to_be_unique", "expect_select_column_values_to_be_unique_within_record")


class _RunState:
    """Things computed once per run and shared by the suites (GX context, manifest, claims)."""

    def __init__(self, settings: Settings, reader: TableReader, audit_ctx: AuditContext):
        self.settings = settings
        self.reader = reader
        self.audit_ctx = audit_ctx
        self.claims = upstream_claims(settings, reader)
        self._validator: GxValidator | None = None
        self._manifest_rows: dict[str, int] | None = None
        self._quarantined: dict[str, int] | None = None

    @property
    def validator(self) -> GxValidator:
        if self._validator is None:
            con = self.reader.wh.con if self.settings.target == "duckdb" else None
            self._validator = GxValidator(self.settings, con)
        return self._validator

    def manifest_rows(self) -> dict[str, int]:
        if self._manifest_rows is None:
            self._manifest_rows = {}
            path = find_manifest(self.audit_ctx)
            try:
                files = json.loads(path.read_text(encoding="utf-8")).get("files", []) if path else []
            except json.JSONDecodeError:  # the raw audit reports the broken manifest (one result)
                files = []
            for f in files:
                ds = f.get("dataset", "")
                self._manifest_rows[ds] = self._manifest_rows.get(ds, 0) + int(f.get("rows", 0))
        return self._manifest_rows

    def quarantined(self) -> dict[str, int]:
        if self._quarantined is None:
            self._quarantined = {}
            real = self.reader.resolve("raw_archtics.quarantine")
            cols = self.reader.columns(*real) if real else {}
            if real and "dataset" in cols:
                counts = self.reader.read(*real, [cols["dataset"]]).iloc[:, 0].astype(str).value_counts()
                self._quarantined = {str(k): int(v) for k, v in counts.items()}
        return self._quarantined

    def reference_rows(self, relative_to: str) -> int | None:
        """Rows in the source a row-count bound is relative to (None when it is unknown)."""
        kind, _, what = relative_to.partition(":")
        if kind == "manifest":
            rows = self.manifest_rows()
            if what not in rows:
                return None
            return rows[what] - self.quarantined().get(what, 0)
        if kind == "table":
            return self.reader.count(what.format(flavor=self.settings.crm_flavor))
        raise ValueError(f"unknown row_count.relative_to {relative_to!r}")


def _row_count_params(spec: SuiteSpec, state: _RunState) -> tuple[dict[str, Any] | None, str]:
    rc = spec.row_count
    if not rc:
        return None, "no row-count bound configured"
    ref = state.reference_rows(rc["relative_to"])
    if ref is None:
        where = str(rc["relative_to"]).format(flavor=state.settings.crm_flavor)
        return None, f"row-count reference unavailable: {where}"
    lo = None if rc.get("min_ratio") is None else math.floor(ref * float(rc["min_ratio"]))
    hi = None if rc.get("max_ratio") is None else math.ceil(ref * float(rc["max_ratio"]))
    return {"row_count_min": lo, "row_count_max": hi}, f"relative to {rc['relative_to']} = {ref} rows"


def check_suite(spec: SuiteSpec, state: _RunState) -> tuple[list[CheckResult], dict[str, Any]]:
    """Validate one suite; a missing table is skipped (or failed when a stage claims it)."""
    real = next((r for r in (state.reader.resolve(t) for t in spec.tables) if r is not None), None)
    if real is None:
        claim = next((state.claims[t.lower()] for t in spec.tables if t.lower() in state.claims), None)
        if claim:
            return [
                CheckResult("table_exists", spec.layer, spec.table, "fail", "failed", detail=f"missing, but {claim}")
            ], {}
        return [CheckResult("table_exists", spec.layer, spec.table, "fail", "skipped", detail="table missing")], {}
    table = f"{real[0]}.{real[1]}"
    available = state.reader.columns(*real)
    results: list[CheckResult] = []
    runnable: list[dict[str, Any]] = []
    params: dict[str, Any] = {"now": now_parameter()}
    rc_params, rc_note = _row_count_params(spec, state)
    for exp in spec.expectations:
        if exp["type"] in ROW_COUNT_TYPES and any(
            isinstance(v, dict) and "$PARAMETER" in v for v in (exp.get("kwargs") or {}).values()
        ):
            if rc_params is None:
                results.append(
                    CheckResult(check_name(exp), spec.layer, table, spec.severity_of(exp), "skipped", detail=rc_note)
                )
                continue
            params.update(rc_params)
        resolved = resolve_column(exp, available)
        if resolved is None:
            results.append(
                CheckResult(
                    check_name(exp),
                    spec.layer,
                    table,
                    spec.severity_of(exp),  # type: ignore[arg-type]
                    "error",
                    detail="column missing: " + ", ".join(referenced_columns(exp)),
                )
            )
            continue
        runnable.append(resolved)
    gx_results, doc = _validate(spec, state, real, available, runnable, params)
    for r in gx_results:
        if r.check.startswith("table_row_count") and rc_params:
            r.detail += f" ({rc_note})"
    return results + gx_results, doc


def _validate(
    spec: SuiteSpec,
    state: _RunState,
    real: tuple[str, str],
    available: dict[str, str],
    runnable: list[dict[str, Any]],
    params: dict[str, Any],
) -> tuple[list[CheckResult], dict[str, Any]]:
    """GX in the warehouse (SQL data source); what its SQL cannot evaluate on a frame of its columns."""
    types = state.reader.column_types(*real)
    on_frame = [e for e in runnable if needs_frame(state.settings.target, e, types)]
    in_sql = [e for e in runnable if e not in on_frame]
    out, doc = state.validator.validate_table(spec, real, available, in_sql, params)
    keys = {available[c.lower()]: c.lower() for c in spec.key_columns if c.lower() in available}
    if on_frame:
        needed = list(dict.fromkeys([*keys, *(c for e in on_frame for c in referenced_columns(e))]))
        df = state.reader.read(*real, needed)
        more, more_doc = state.validator.validate(spec, f"{real[0]}.{real[1]}", df, on_frame, params, keys)
        out += more
        doc = {**more_doc, **doc, "results": [*doc.get("results", []), *more_doc.get("results", [])]}
    for r, exp in zip(out, _configs(doc), strict=False):
        # GX's SQL engine returns no example rows for multi-column expectations: ask the warehouse
        if r.status == "failed" and not r.examples and keys and exp.get("type") in COMPOUND_TYPES:
            rows = state.reader.repeated_rows(*real, list(exp["kwargs"]["column_list"]), list(keys), MAX_EXAMPLES)
            r.examples = [{keys[k]: v for k, v in e.items()} for e in keys_only(rows, list(keys))]
    return out, doc


def _configs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The expectation configurations of a validation document, in its result order."""
    return [r.get("expectation_config") or {} for r in doc.get("results", [])]


@dataclass
class HeadStart:
    """Checks run ahead of their stage (:func:`run_checks_ahead`), by item (``suite <name>`` /
    ``audit <name> on <table>``): their results, validation documents and seconds; :func:`run_checks`
    takes them instead of running those items again."""

    results: dict[str, list[CheckResult]] = field(default_factory=dict)
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0


def run_checks(
    settings: Settings,
    layer: str = "all",
    archtics_api_url: str | None = None,
    crm_url: str | None = None,
    *,
    archtics_client_id: str | None = None,
    archtics_client_secret: str | None = None,
    crm_headers: dict[str, str] | None = None,
    crm_credentials: dict[str, str] | None = None,
    plugins: Sequence[CheckPlugin] | None = None,
    write_results: bool = True,
    suites_dir: Path = SUITES_DIR,
    show_progress: bool = True,
    suites: bool = True,
    head_start: HeadStart | None = None,
) -> CheckReport:
    """Run the suites and audits of ``layer`` ("all" or one of raw|staging|kore|dedup|marts).

    The source systems (``archtics_api_url``, ``crm_url``) are handed to the check plug-ins
    (``plugins``, else those installed under the ``kore.checks`` entry points), which reconcile the
    warehouse with them. Archtics client credentials default to :func:`kore.config.archtics_credentials`;
    ``crm_credentials`` may carry ``ca_bundle`` (the CRM sandbox's certificate, as
    ``CrmSandbox.credentials`` gives it). ``suites=False`` runs the audits only (the reconciliation
    after a push: the push changes the CRM and the sync state, not the tables the suites check).
    ``head_start``: items already run by :func:`run_checks_ahead` (same options); their results are
    taken as they are, in their place in the report.
    Results go to ``ops.check_results`` and
    ``<reports_dir>/data_docs/index.html`` unless ``write_results`` is False.
    """
    _check_layer(layer)
    options = _Options(
        layer, archtics_api_url, crm_url, archtics_client_id, archtics_client_secret, crm_headers, crm_credentials,
        plugins, suites_dir, suites,
    )  # fmt: skip
    report = CheckReport(layer=layer, run_id=RUN_ID)
    validations: dict[str, dict[str, Any]] = {}
    with run_record(settings, "check", entity=layer) as rec:
        with _session(settings, options) as (wh, specs, audits, state):
            _run_all(report, validations, specs, audits, state, show_progress, head_start or HeadStart())
            if write_results and report.results:
                wh.append_df("ops", "check_results", report.to_frame())
        if head_start is not None:
            report.seconds["wall time ahead"] = round(head_start.wall_seconds, 3)
        if write_results:
            report.data_docs = str(write_data_docs(report, settings.reports_dir / "data_docs", validations))
        _record(rec, report)
    return report


def run_checks_ahead(
    settings: Settings, final: Callable[[str], bool], min_rows: int = AHEAD_MIN_ROWS, **options: Any
) -> HeadStart:
    """Run now, without writing anything, the checks of ``layer`` whose every relation is ``final``
    (its content will not change before the checks' own stage): what :func:`run_checks` then takes.

    Why: the flow's checks stage waits for the dedup step and the post-dedup build, though most of
    its work (the raw and staged tickets, the landing and replica audits: about half of it at a
    million accounts) reads tables neither of them writes. The dedup step keeps one core busy;
    these checks run on the other one meanwhile. A suite reads its table (and the table its row
    count is relative to); an audit reads its table and its ``reads`` -- an audit that does not
    declare them waits for its stage. Only checks of a table of at least ``min_rows`` rows go
    ahead: those spend their time in the warehouse engine, which leaves Python's interpreter to the
    dedup step; smaller tables' checks spend theirs in GX's Python, which would take turns with the
    dedup step's (at 100k accounts, with every check ahead or only those of the 1.5M-row ticket
    tables, the dedup step slowed by more than the checks stage gained: 4-7 s against 3-6 s; at 1M
    accounts the ticket tables' checks, 50 of the checks' 90 s, cost it nothing). No progress bar
    (the flow's stage shows one), no run record. ``options``: :func:`run_checks`' own (``layer``,
    the source systems, ``plugins``, ``suites_dir``, ``suites``), as the checks stage passes them.
    """
    o = _Options(**options)
    _check_layer(o.layer)
    t0 = time.perf_counter()
    report = CheckReport(layer=o.layer, run_id=RUN_ID)
    validations: dict[str, dict[str, Any]] = {}
    with _session(settings, o) as (_wh, specs, audits, state):
        flavor = settings.crm_flavor
        rows: dict[str, int] = {}

        def worth(relations: tuple[str, ...]) -> bool:
            """All final, and one of at least ``min_rows`` rows (see the docstring)."""
            if not all(final(t) for t in relations):
                return False
            for t in relations:
                if "*" not in t and t not in rows:
                    rows[t] = state.reader.count(t) or 0
            return max((rows.get(t, 0) for t in relations), default=0) >= min_rows

        specs = [s for s in specs if worth(_suite_reads(s, flavor))]
        audits = [a for a in audits if a.reads is not None and worth((a.table, *a.reads))]
        head = HeadStart()
        _run_all(report, validations, specs, audits, state, False, HeadStart(), head.results)
    head.docs = {f"suite {name}": doc for name, doc in validations.items()}
    head.seconds = dict(report.seconds)
    head.wall_seconds = time.perf_counter() - t0
    return head


def _check_layer(layer: str) -> None:
    if layer not in ("all", *LAYERS):
        raise UsageError(f"unknown layer {layer!r}", f"use --layer all or one of {', '.join(LAYERS)}")


def _suite_reads(spec: SuiteSpec, flavor: str) -> tuple[str, ...]:
    """The relations a suite reads: its table (under any of its names) and the table its row-count
    bound is relative to."""
    kind, _, what = str((spec.row_count or {}).get("relative_to", "")).partition(":")
    return (*spec.tables, *((what.format(flavor=flavor),) if kind == "table" else ()))


@dataclass(frozen=True)
class _Options:
    """:func:`run_checks`' options other than the settings and the output switches."""

    layer: str = "all"
    archtics_api_url: str | None = None
    crm_url: str | None = None
    archtics_client_id: str | None = None
    archtics_client_secret: str | None = None
    crm_headers: dict[str, str] | None = None
    crm_credentials: dict[str, str] | None = None
    plugins: Sequence[CheckPlugin] | None = None
    suites_dir: Path = SUITES_DIR
    suites: bool = True


@contextlib.contextmanager
def _session(settings: Settings, o: _Options) -> Iterator[tuple[Warehouse, list[SuiteSpec], list[Audit], _RunState]]:
    """A check run's connection, suites, audits and shared state."""
    specs = [s for s in load_suites(o.suites_dir) if o.suites and o.layer in ("all", s.layer)]
    archtics = archtics_credentials()
    if o.archtics_client_id:
        archtics["client_id"] = o.archtics_client_id
    if o.archtics_client_secret:
        archtics["client_secret"] = o.archtics_client_secret
    require_landing_complete(settings, "kore check")
    with connect(settings) as wh:
        reader = TableReader(settings, wh)
        try:
            ctx = AuditContext(settings=settings, reader=reader)
            sources = CheckContext(
                tables=ReaderTables(reader),
                crm_flavor=settings.crm_flavor,
                archtics_api_url=o.archtics_api_url,
                archtics_credentials=archtics,
                crm_url=o.crm_url,
                crm_headers=o.crm_headers or {},
                crm_verify=(o.crm_credentials or {}).get("ca_bundle") or True,
            )
            audits = audits_for(o.layer, ctx, plugin_audits(o.plugins, sources))
            yield wh, specs, audits, _RunState(settings, reader, ctx)
        finally:
            reader.close()


def _record(rec: RunRecord, report: CheckReport) -> None:
    """The run record's counts and outcome."""
    counts = report.counts()
    rec.rows_in = len(report.results)
    rec.rows_out = counts["passed"]
    rec.rows_failed = sum(1 for r in report.results if r.hard_failure)
    rec.detail = {**counts, "seconds": report.seconds}
    rec.outcome = "success" if report.ok else "failed: checks"


def _run_all(
    report: CheckReport,
    validations: dict[str, dict[str, Any]],
    specs: list[SuiteSpec],
    audits: list[Audit],
    state: _RunState,
    show_progress: bool,
    head: HeadStart,
    by_item: dict[str, list[CheckResult]] | None = None,
) -> None:
    """Run the suites, then the audits, in order; an item ``head`` holds is taken from it. ``by_item``
    collects each item's results (``suite <name>`` / ``audit <name> on <table>``)."""
    from rich.progress import Progress

    by_item = {} if by_item is None else by_item

    def taken(key: str) -> bool:
        """The item ran ahead: its results (and document) go in its place."""
        if key not in head.results:
            return False
        report.results.extend(head.results[key])
        by_item[key] = head.results[key]
        if key in head.docs:
            validations[key.removeprefix("suite ")] = head.docs[key]
        report.seconds[f"ahead {key}"] = head.seconds.get(key.partition(" on ")[0], 0.0)
        progress.advance(task)
        return True

    with Progress(transient=True, disable=not show_progress) as progress:
        task = progress.add_task("data checks", total=len(specs) + len(audits))
        if any(f"suite {s.name}" not in head.results for s in specs):  # GX's context: timed apart
            t0 = time.perf_counter()
            state.validator.ready()
            report.seconds["setup gx"] = round(time.perf_counter() - t0, 3)
        for spec in specs:
            if taken(f"suite {spec.name}"):
                continue
            progress.update(task, description=f"suite {spec.name}")
            t0 = time.perf_counter()
            try:
                res, doc = check_suite(spec, state)
            except Exception as exc:  # a broken suite must not hide the other results
                res, doc = [CheckResult("suite", spec.layer, spec.table, "fail", "error", detail=_err(exc))], {}
            report.seconds[f"suite {spec.name}"] = round(time.perf_counter() - t0, 3)
            report.results.extend(res)
            by_item[f"suite {spec.name}"] = res
            if doc:
                validations[spec.name] = doc
            progress.advance(task)
        for lay, name, table, fn, _reads in audits:
            if taken(f"audit {name} on {table}"):  # a reference audit's name repeats for each child table
                continue
            progress.update(task, description=f"audit {name}")
            t0 = time.perf_counter()
            try:
                result = fn()
            except Exception as exc:
                result = CheckResult(name, lay, table, "fail", "error", detail=_err(exc), kind="audit")
            report.results.append(result)
            by_item[f"audit {name} on {table}"] = [result]
            report.seconds[f"audit {name}"] = round(time.perf_counter() - t0, 3)
            progress.advance(task)


def _err(exc: Exception) -> str:
    """Error text for the results table: the type and the first line only (no row values)."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first[:200]}"
