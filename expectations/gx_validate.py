"""Run one suite against one table with Great Expectations, and turn GX's result into CheckResults.

Why pandas for both engines: GX's SQLAlchemy path is broken for DuckDB in released GX, and on SQL
Server GX cannot evaluate regex expectations in SQL. So the table's *needed columns only* are read
into a DataFrame (DuckDB through its own connection, SQL Server through SQLAlchemy ``mssql+pyodbc``)
and validated with GX's pandas engine: the same expectations behave the same on both targets.

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
    """One ephemeral GX context with one pandas data source, reused for every suite of a run."""

    def __init__(self) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        asset = self.context.data_sources.add_pandas("kore_frames").add_dataframe_asset("frame")
        self.batch_definition = asset.add_batch_definition_whole_dataframe("whole_frame")

    def validate(
        self,
        spec: SuiteSpec,
        table: str,
        df: pd.DataFrame,
        expectations: list[dict[str, Any]],
        params: dict[str, Any],
    ) -> tuple[list[CheckResult], dict[str, Any]]:
        """Validate ``df`` against ``expectations``; return CheckResults and GX's result as a dict."""
        if not expectations:
            return [], {}
        for exp in expectations:
            _coerce_for(exp, df, params)
        suite = to_gx_suite(spec, expectations)
        keys = [c for c in spec.key_columns if c in df.columns]
        result_format: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": 20}
        if keys:
            result_format["unexpected_index_column_names"] = keys
        batch = self.batch_definition.get_batch(batch_parameters={"dataframe": df})
        with contextlib.redirect_stderr(io.StringIO()):  # belt and braces: no progress bars in CI logs
            res = batch.validate(suite, expectation_parameters=params, result_format=result_format)
        out = [self._to_result(spec, table, r, keys) for r in res.results]
        return out, _sanitised(res.to_json_dict())

    @staticmethod
    def _to_result(spec: SuiteSpec, table: str, r: Any, keys: list[str]) -> CheckResult:
        cfg = r.expectation_config
        exp = {"type": cfg.type, "kwargs": cfg.kwargs, "meta": cfg.meta or {}}
        severity = spec.severity_of(exp)
        result = r.result or {}
        exc = r.exception_info or {}
        raised = exc.get("raised_exception") or any(
            isinstance(v, dict) and v.get("raised_exception") for v in exc.values()
        )
        if raised:
            msg = exc.get("exception_message") or next(
                (v.get("exception_message") for v in exc.values() if isinstance(v, dict)), "error"
            )
            return CheckResult(check_name(exp), spec.layer, table, severity, "error", detail=str(msg)[:300])
        failing = int(result.get("unexpected_count") or 0)
        examples = keys_only(list(result.get("partial_unexpected_index_list") or []), keys)
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


def _sanitised(doc: dict[str, Any]) -> dict[str, Any]:
    """GX's validation result without unexpected *values* (they can be names or e-mail addresses)."""
    for r in doc.get("results", []):
        res = r.get("result") or {}
        for k in ("partial_unexpected_list", "partial_unexpected_counts", "unexpected_list"):
            res.pop(k, None)
        keys = res.get("unexpected_index_column_names") or []
        if res.get("partial_unexpected_index_list"):
            res["partial_unexpected_index_list"] = keys_only(res["partial_unexpected_index_list"], keys)
    return doc


def now_parameter() -> datetime:
    """'Not in the future' with a day's slack for time zones (naive, like the warehouse timestamps)."""
    return datetime.now() + timedelta(days=1)
