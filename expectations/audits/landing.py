"""Raw-layer audit: every row of the Archtics export is either in the replica or in quarantine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from expectations.audits.context import AuditContext, read_columns
from expectations.frames import quote
from kore.contracts.checks import CheckResult, audit_result, audit_skipped


def _norm_path(p: str) -> str:
    return str(p).replace("\\", "/").lstrip("./")


def find_manifest(ctx: AuditContext) -> Path | None:
    """The manifest landing recorded (file_ledger / load_cutoff ``manifest_path``), else the export's."""
    for table in ("raw_archtics.file_ledger", "raw_archtics.load_cutoff"):
        df = read_columns(ctx, table, ["manifest_path"])
        if df is not None:
            for p in df["manifest_path"].dropna().astype(str):
                if Path(p).exists():
                    return Path(p)
    p = ctx.settings.export_dir / "manifest.json"
    return p if p.exists() else None


def _rows_per_file(ctx: AuditContext, dataset: str) -> tuple[dict[str, int], int] | None:
    """Rows of ``raw_archtics.<dataset>`` per export file (``_source_file``), and the rows without one
    (merged by the catch-up); None when the table (or its ``_source_file`` column) is missing."""
    real = ctx.reader.resolve(f"raw_archtics.{dataset}")
    if real is None:
        return None
    col = ctx.reader.columns(*real).get("_source_file")
    if col is None:
        return None
    df = ctx.reader.query_df(
        f"select {quote(col)} as f, count(*) as n from {quote(real[0])}.{quote(real[1])} group by {quote(col)}"
    )
    per = {_norm_path(f): int(n) for f, n in zip(df["f"], df["n"], strict=True) if isinstance(f, str)}
    merged = int(df.loc[df["f"].isna(), "n"].sum())
    return per, merged


def manifest_reconciliation(ctx: AuditContext) -> CheckResult:
    """Per export file: manifest rows == rows in its raw table (by ``_source_file``) + rows quarantined.

    The tables are compared, not the file ledger: a load killed after the ledger was written but
    before the rows were would otherwise pass. Once the catch-up merged newer versions of some rows
    into a dataset (rows without ``_source_file``), a file may hold fewer rows than it had, never more.
    """
    name, layer, table = "manifest_rows_equal_landed_plus_quarantined", "raw", "raw_archtics.file_ledger"
    manifest = find_manifest(ctx)
    if manifest is None:
        return audit_skipped(name, layer, table, "fail", "no export manifest found")
    try:
        files = json.loads(manifest.read_text(encoding="utf-8")).get("files", [])
    except json.JSONDecodeError as exc:
        return audit_skipped(name, layer, table, "fail", f"{manifest} is not valid JSON (line {exc.lineno})")
    q = read_columns(ctx, "raw_archtics.quarantine", ["source_file"])
    q_counts = q["source_file"].astype(str).map(_norm_path).value_counts().to_dict() if q is not None else {}
    tables = {ds: _rows_per_file(ctx, ds) for ds in sorted({str(f.get("dataset", "")) for f in files})}

    bad: list[dict[str, Any]] = []
    for f in files:
        rel, found = _norm_path(f["path"]), tables.get(str(f.get("dataset", "")))
        quarantined, expected = q_counts.get(rel, 0), int(f.get("rows", 0))
        landed = None if found is None else found[0].get(rel, 0)
        merged = found is not None and found[1] > 0
        if landed is None and expected > quarantined:
            bad.append({"file": rel, "manifest_rows": expected, "landed": None, "quarantined": quarantined})
        elif landed is not None and (
            landed + quarantined > expected or (not merged and landed + quarantined != expected)
        ):
            bad.append({"file": rel, "manifest_rows": expected, "landed": landed, "quarantined": quarantined})
    detail = f"{len(files)} files in {manifest.name} compared with the raw tables; {len(bad)} do not add up"
    return audit_result(name, layer, table, "fail", len(bad), bad, detail)
