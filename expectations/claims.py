"""Which tables an upstream stage says it produced.

A suite whose table is missing is normally *skipped* (the stage has not run yet in this workdir).
But when the stage that owns the table reports that it wrote rows, a missing table means something
was lost between stages, and that is a failure. The claims come from the stages' own records:

- landing: ``raw_archtics.file_ledger`` rows per dataset (a committed file with rows > 0);
- dbt: ``<workdir>/dbt/target/run_results.json`` (models that ran successfully) joined with
  ``manifest.json`` for the schema and name each model was built as;
- dedup: a successful ``dedup`` stage with rows out in ``ops.run_history``.
"""

from __future__ import annotations

import json
from pathlib import Path

from expectations.frames import TableReader
from kore.config import Settings

# the dedup step's tables a run with rows out cannot leave empty (``kore_dedup.pair_scores`` can be:
# it keeps only the scored pairs that carry evidence, ``dedup.engine.carries_evidence``)
DEDUP_TABLES = ("kore_dedup.clusters", "kore_dedup.account_contact_map")


def landing_claims(reader: TableReader) -> dict[str, str]:
    real = reader.resolve("raw_archtics.file_ledger")
    if real is None:
        return {}
    cols = reader.columns(*real)
    df = reader.read(*real, [cols[c] for c in ("dataset", "path", "rows") if c in cols])
    df.columns = [c.lower() for c in df.columns]
    if "rows" not in df.columns:
        return {}
    if "dataset" not in df.columns and "path" in df.columns:
        df["dataset"] = df["path"].astype(str).str.replace("\\", "/").str.split("/").str[0]
    if "dataset" not in df.columns:
        return {}
    rows = df.assign(rows=df["rows"].astype("float").fillna(0)).groupby("dataset")["rows"].sum()
    return {
        f"raw_archtics.{ds}".lower(): f"file_ledger records {int(n)} rows landed for {ds}"
        for ds, n in rows.items()
        if n > 0
    }


def dbt_claims(settings: Settings) -> dict[str, str]:
    target: Path = settings.dbt_target_dir
    rr, mf = target / "run_results.json", target / "manifest.json"
    if not (rr.exists() and mf.exists()):
        return {}
    try:
        results = json.loads(rr.read_text()).get("results", [])
        nodes = json.loads(mf.read_text()).get("nodes", {})
    except (OSError, json.JSONDecodeError):
        return {}
    out: dict[str, str] = {}
    for r in results:
        uid = r.get("unique_id", "")
        node = nodes.get(uid) or {}
        if not uid.startswith(("model.", "seed.")) or r.get("status") != "success":
            continue
        name = node.get("alias") or node.get("name")
        if node.get("schema") and name:
            out[f"{node['schema']}.{name}".lower()] = f"dbt built {uid} successfully"
    return out


def dedup_claims(reader: TableReader) -> dict[str, str]:
    real = reader.resolve("ops.run_history")
    if real is None:
        return {}
    cols = reader.columns(*real)
    if not {"stage", "outcome", "rows_out"} <= set(cols):
        return {}
    df = reader.read(*real, [cols["stage"], cols["outcome"], cols["rows_out"]])
    df.columns = [c.lower() for c in df.columns]
    ok = df[(df["stage"].astype(str).str.startswith("dedup")) & (df["outcome"] == "success")]
    if ok.empty or float(ok["rows_out"].max() or 0) <= 0:
        return {}
    return {t: "the dedup stage recorded a successful run with rows out" for t in DEDUP_TABLES}


def upstream_claims(settings: Settings, reader: TableReader) -> dict[str, str]:
    """``schema.table`` (lower case) → why a stage claims to have produced it."""
    return {**dbt_claims(settings), **dedup_claims(reader), **landing_claims(reader)}
