"""Raw-layer audit: every row of the Archtics export is either in the replica or in quarantine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from expectations.audits.context import AuditContext, read_columns
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


def _landed_per_file(ctx: AuditContext, table: str) -> dict[str, int] | None:
    """Rows landed per export file (the ledger's ``landed``; older ledgers have ``rows`` only)."""
    ledger = read_columns(ctx, table, ["path", "landed"])
    if ledger is None:
        ledger = read_columns(ctx, table, ["path", "rows"])
        if ledger is not None:
            ledger = ledger.rename(columns={"rows": "landed"})
    if ledger is None:
        return None
    ledger["path"] = ledger["path"].astype(str).map(_norm_path)
    landed: dict[str, int] = {}
    for p, n in zip(ledger["path"], pd.to_numeric(ledger["landed"], errors="coerce").fillna(0), strict=True):
        landed[p] = landed.get(p, 0) + int(n)
    return landed


def manifest_reconciliation(ctx: AuditContext) -> CheckResult:
    """Per export file: manifest rows == rows landed (file ledger) + rows quarantined."""
    name, layer, table = "manifest_rows_equal_landed_plus_quarantined", "raw", "raw_archtics.file_ledger"
    manifest = find_manifest(ctx)
    if manifest is None:
        return audit_skipped(name, layer, table, "fail", "no export manifest found")
    # the export pipeline's ledger: rows (data rows read) = landed + quarantined
    landed = _landed_per_file(ctx, table)
    if landed is None:
        return audit_skipped(name, layer, table, "fail", "table missing: raw_archtics.file_ledger (export not landed)")
    files = json.loads(manifest.read_text(encoding="utf-8")).get("files", [])
    q = read_columns(ctx, "raw_archtics.quarantine", ["source_file"])
    q_counts = q["source_file"].astype(str).map(_norm_path).value_counts().to_dict() if q is not None else {}

    def matches(stored: str, rel: str) -> bool:
        return stored == rel or stored.endswith("/" + rel)

    bad: list[dict[str, Any]] = []
    for f in files:
        rel = _norm_path(f["path"])
        got = [n for p, n in landed.items() if matches(p, rel)]
        quarantined = sum(n for p, n in q_counts.items() if matches(p, rel))
        expected = int(f.get("rows", 0))
        if not got:
            bad.append({"file": rel, "manifest_rows": expected, "landed": None, "quarantined": quarantined})
        elif sum(got) + quarantined != expected:
            bad.append({"file": rel, "manifest_rows": expected, "landed": sum(got), "quarantined": quarantined})
    detail = f"{len(files)} files in {manifest.name}; {len(bad)} do not add up"
    return audit_result(name, layer, table, "fail", len(bad), bad, detail)
