"""Run one suite against one table with Great Expectations, and turn GX's result into CheckResults.

Where: in the warehouse. A suite's expectations run as GX's SQL data source on the table itself
(:mod:`expectations.gx_sql`: DuckDB through ``duckdb_engine``, SQL Server through ``mssql+pyodbc``),
so the engine computes the counts and only example keys come back to Python. The few expectations
GX cannot evaluate in the target's SQL (regex on SQL Server, ``between`` on a text column, which
needs a lenient cast) run on GX's pandas engine over a frame of their own column and the keys.

The GX context is ephemeral and created once per run (creating it is the slow part); suites come
from the JSON files, not from a GX store, so the files under version control are the only truth.
"""

from __future__ import annotations

import contextlib
import io
import logging
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from expectations import gx_unique
from expectations.results import CheckResult, keys_only
from expectations.suites import SuiteSpec, to_gx_suite

COLUMN_KWARGS = ("column", "column_A", "column_B")
LIST_KWARGS = ("column_list",)


def referenced_columns(expectation: dict[str, Any]) -> list[str]:
    kw = expectation.get("kwargs") or {}
    cols = [kw[k] for k in COLUMN_KWARGS if isinstance(kw.get(k), str)]
    for k in LIST_KWARGS:
        cols.extend(kw.get(k) or [])
    return cols


def check_name(expectation: dict[str, Any]) -> str:
    cols = referenced_columns(expectation)
    short = str(expectation["type"]).removeprefix("expect_")
    return f"{short}({','.join(cols)})" if cols else short


def resolve_column(expectation: dict[str, Any], available: dict[str, str]) -> dict[str, Any] | None:
    """Point the expectation at the column that exists (its name or a ``meta.column_aliases`` entry).

    ``available`` maps lower-case names to the table's real names. Returns the expectation with the
    real column name, or None when no candidate exists.
    """
    exp = {**expectation, "kwargs": dict(expectation.get("kwargs") or {})}
    kw = exp["kwargs"]
    for k in COLUMN_KWARGS:
        if isinstance(kw.get(k), str):
            cands = [kw[k], *((exp.get("meta") or {}).get("column_aliases") or [])]
            real = next((available[c.lower()] for c in cands if c.lower() in available), None)
            if real is None:
                return None
            kw[k] = real
    for k in LIST_KWARGS:
        if kw.get(k):
            reals = [available.get(c.lower()) for c in kw[k]]
            if any(r is None for r in reals):
                return None
            kw[k] = reals
    return exp


def _coerce_for(expectation: dict[str, Any], df: pd.DataFrame, params: dict[str, Any]) -> None:
    """Make ``between`` comparisons meaningful on text columns (raw/staging carry text)."""
    if expectation["type"] not in ("expect_column_values_to_be_between", "expect_column_max_to_be_between"):
        return
    col = expectation["kwargs"]["column"]
    bounds = [expectation["kwargs"].get("min_value"), expectation["kwargs"].get("max_value")]
    is_date = any(isinstance(b, dict) and isinstance(params.get(b.get("$PARAMETER")), datetime) for b in bounds)
    if is_date and not pd.api.types.is_datetime64_any_dtype(df[col]):
        df[col] = pd.to_datetime(df[col], errors="coerce")
    elif is_date and getattr(df[col].dt, "tz", None) is not None:
        df[col] = df[col].dt.tz_convert(None)
    elif not is_date and not pd.api.types.is_numeric_dtype(df[col]):
        df[col] = pd.to_numeric(df[col], errors="coerce")


class GxValidator:
    """One ephemeral GX context for a run: a pandas data source (small frames) and, when the run's
    warehouse is given, GX's SQL data source on it (:mod:`expectations.gx_sql`), reused by every suite.
    """

    def __init__(self, settings: Any = None, duckdb_con: Any = None) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        asset = self.context.data_sources.add_pandas("kore_frames").add_dataframe_asset("frame")
        self.batch_definition = asset.add_batch_definition_whole_dataframe("whole_frame")
        self._settings = settings
        self._duckdb_con = duckdb_con
        self._sql_source: Any = None

    def ready(self) -> None:
        """Create the SQL data source now (else the first suite that needs it does)."""
        if self._sql_source is None and self._settings is not None:
            from expectations.gx_sql import add_warehouse_datasource

            self._sql_source = add_warehouse_datasource(self.context, self._settings, self._duckdb_con)

    def validate(
        self,
        spec: SuiteSpec,
        table: str,
        df: pd.DataFrame,
        expectations: list[dict[str, Any]],
        params: dict[str, Any],
        keys: dict[str, str] | None = None,
    ) -> tuple[list[CheckResult], dict[str, Any]]:
        """Validate ``df`` against ``expectations``; return CheckResults and GX's result as a dict.

        ``keys`` maps the frame's key columns to the names examples report (default: the suite's
        key columns that the frame has)."""
        if not expectations:
            return [], {}
        for exp in expectations:
            _coerce_for(exp, df, params)
        if keys is None:
            keys = {c: c for c in spec.key_columns if c in df.columns}
        keys = {k: v for k, v in keys.items() if k in df.columns}
        batch = self.batch_definition.get_batch(batch_parameters={"dataframe": df})
        return self._run(spec, table, batch, expectations, params, keys)

    def validate_table(
        self,
        spec: SuiteSpec,
        real: tuple[str, str],
        columns: dict[str, str],
        expectations: list[dict[str, Any]],
        params: dict[str, Any],
    ) -> tuple[list[CheckResult], dict[str, Any]]:
        """Validate the warehouse table ``real`` (schema, name) in the warehouse engine (GX's SQL
        data source); ``columns`` maps its lower-case column names to the real ones."""
        if not expectations:
            return [], {}
        self.ready()
        name = f"{real[0]}.{real[1]}"
        try:
            definition = self._sql_source.get_asset(name).get_batch_definition("whole_table")
        except LookupError:
            asset = self._sql_source.add_table_asset(name, table_name=real[1], schema_name=real[0])
            definition = asset.add_batch_definition_whole_table("whole_table")
        batch = definition.get_batch()
        keys = {columns[c.lower()]: c.lower() for c in spec.key_columns if c.lower() in columns}
        dialect = getattr(self._settings, "target", "duckdb")
        substitutes = [gx_unique.substitute(e, list(keys), dialect) for e in expectations]
        plain = [e for e, sub in zip(expectations, substitutes, strict=True) if sub is None]
        out, doc = self._run(spec, name, batch, plain, params, keys) if plain else ([], {"results": []})
        if len(plain) < len(expectations):  # results and document results stay in one order
            more, more_doc = self._run_unique(spec, name, batch, [sub for sub in substitutes if sub], keys)
            out, doc = [*out, *more], {**more_doc, **doc, "results": [*doc.get("results", []), *more_doc["results"]]}
        return out, doc

    def _run_unique(
        self, spec: SuiteSpec, table: str, batch: Any, substitutes: list[dict[str, Any]], keys: dict[str, str]
    ) -> tuple[list[CheckResult], dict[str, Any]]:
        """The uniqueness expectations, as GX's unexpected-rows expectations (:mod:`expectations.gx_unique`),
        with the table's row count for the detail ("k of n rows unexpected", as GX reports them)."""
        import great_expectations as gx

        rows = {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 0}}
        suite = gx.ExpectationSuite(name=f"{spec.name} uniqueness", expectations=[*substitutes, rows])
        with contextlib.redirect_stderr(io.StringIO()):
            res = batch.validate(suite, result_format={"result_format": "COMPLETE"})
        mine = [r for r in res.results if r.expectation_config.type == gx_unique.SUBSTITUTE]
        [count] = [r for r in res.results if r.expectation_config.type != gx_unique.SUBSTITUTE]
        n = int((count.result or {}).get("observed_value") or 0)
        doc = _sanitised(res.to_json_dict())
        doc["results"] = [d for d in doc["results"] if d["expectation_config"]["type"] == gx_unique.SUBSTITUTE]
        return [self._unique_result(spec, table, r, keys, n) for r in mine], doc

    @staticmethod
    def _unique_result(spec: SuiteSpec, table: str, r: Any, keys: dict[str, str], n: int) -> CheckResult:
        meta = dict(r.expectation_config.meta or {})
        original = meta.pop(gx_unique.ORIGINAL)
        exp = {"type": original["type"], "kwargs": _lower_columns(original["kwargs"]), "meta": meta}
        severity = spec.severity_of(exp)
        error = _raised(r)
        if error is not None:
            return CheckResult(check_name(exp), spec.layer, table, severity, "error", detail=error)
        result = r.result or {}
        failing = int(result.get("observed_value") or 0)
        found = keys_only(list((result.get("details") or {}).get("unexpected_rows") or []), list(keys)) if keys else []
        examples = [{keys[k]: v for k, v in e.items()} for e in found]
        status = "passed" if r.success else "failed"
        return CheckResult(
            check_name(exp), spec.layer, table, severity, status, failing, examples, f"{failing} of {n} rows unexpected"
        )

    def _run(
        self,
        spec: SuiteSpec,
        table: str,
        batch: Any,
        expectations: list[dict[str, Any]],
        params: dict[str, Any],
        keys: dict[str, str],
    ) -> tuple[list[CheckResult], dict[str, Any]]:
        """Validate one batch; ``keys`` maps the batch's key column names to the reported ones."""
        suite = to_gx_suite(spec, expectations)
        result_format: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": 20}
        if keys:
            result_format["unexpected_index_column_names"] = list(keys)
        with contextlib.redirect_stderr(io.StringIO()):  # belt and braces: no progress bars in CI logs
            res = batch.validate(suite, expectation_parameters=params, result_format=result_format)
        out = [self._to_result(spec, table, r, keys) for r in res.results]
        return out, _sanitised(res.to_json_dict())

    @staticmethod
    def _to_result(spec: SuiteSpec, table: str, r: Any, keys: dict[str, str]) -> CheckResult:
        cfg = r.expectation_config
        exp = {"type": cfg.type, "kwargs": _lower_columns(cfg.kwargs), "meta": cfg.meta or {}}
        severity = spec.severity_of(exp)
        result = r.result or {}
        error = _raised(r)
        if error is not None:
            return CheckResult(check_name(exp), spec.layer, table, severity, "error", detail=error)
        failing = int(result.get("unexpected_count") or 0)
        found = keys_only(list(result.get("partial_unexpected_index_list") or []), list(keys))
        examples = [{keys[k]: v for k, v in e.items()} for e in found]
        if "observed_value" in result and "unexpected_count" not in result:
            lo, hi = cfg.kwargs.get("min_value"), cfg.kwargs.get("max_value")
            detail = f"observed {result['observed_value']}, expected between {lo} and {hi}"
        else:
            n = result.get("element_count", 0)
            detail = f"{failing} of {n} rows unexpected"
            if cfg.kwargs.get("mostly", 1) < 1:
                detail += f" (allowed: {1 - cfg.kwargs['mostly']:.0%})"
        status = "passed" if r.success else "failed"
        return CheckResult(check_name(exp), spec.layer, table, severity, status, failing, examples, detail)


def _raised(r: Any) -> str | None:
    """The message of the exception GX caught while evaluating ``r``'s expectation (None: none)."""
    exc = r.exception_info or {}
    raised = exc.get("raised_exception") or any(isinstance(v, dict) and v.get("raised_exception") for v in exc.values())
    if not raised:
        return None
    msg = exc.get("exception_message") or next(
        (v.get("exception_message") for v in exc.values() if isinstance(v, dict)), "error"
    )
    return str(msg)[:300]


def _lower_columns(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Column names as the checks are named (lower case), whatever case the warehouse spells them."""
    out = dict(kwargs)
    for k in COLUMN_KWARGS:
        if isinstance(out.get(k), str):
            out[k] = out[k].lower()
    for k in LIST_KWARGS:
        if out.get(k):
            out[k] = [str(c).lower() for c in out[k]]
    return out


def _sanitised(doc: dict[str, Any]) -> dict[str, Any]:
    """GX's validation result without unexpected *values* (they can be names or e-mail addresses)."""
    for r in doc.get("results", []):
        res = r.get("result") or {}
        for k in ("partial_unexpected_list", "partial_unexpected_counts", "unexpected_list", "details"):
            res.pop(k, None)
        keys = res.get("unexpected_index_column_names") or []
        if res.get("partial_unexpected_index_list"):
            res["partial_unexpected_index_list"] = keys_only(res["partial_unexpected_index_list"], keys)
    return doc


def now_parameter() -> datetime:
    """'Not in the future' with a day's slack for time zones (naive, like the warehouse timestamps)."""
    return datetime.now() + timedelta(days=1)
