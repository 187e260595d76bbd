"""The KORE apps' export files: one JSONL file per entity plus ``manifest.json``.

The format (see :mod:`sandbox.kore_apps`): ``<out_dir>/<entity_snake>.jsonl``, one JSON object per
line, ordered by ``id``; the manifest holds as_of, generation, seed, the account-id ranges and the
owners (so :func:`sandbox.kore_apps.mutate` can continue where the last snapshot stopped), and per
file its columns, rows, sha256 and size. Every file is written through a temp file + rename, so a
reader never sees a torn file. Also reads what the sandbox's ticketing data next to the export
holds (account ids, CRM users).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kore.contracts.crm_names import entity_snake
from kore.contracts.kore_apps import ENTITIES, columns
from sandbox.kore_app_tables import AppTables, Row

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def write_snapshot(out_dir: Path, app: AppTables, meta: dict[str, Any]) -> dict[str, Any]:
    """Write every entity's JSONL and the manifest, each through a temp file + rename (no torn files)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for entity in ENTITIES:
        rows = sorted(app.rows[entity], key=lambda r: r["id"])
        data = "".join(json.dumps(r, sort_keys=False, separators=(",", ":")) + "\n" for r in rows).encode()
        path = out_dir / f"{entity_snake(entity)}.jsonl"
        tmp = path.with_suffix(".jsonl.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        files.append(
            {
                "entity": entity,
                "columns": [{"name": f.name, "type": f.kind} for f in columns(entity)],
                "path": path.name,
                "rows": len(rows),
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data),
            }
        )
    manifest = {"format_version": FORMAT_VERSION, "source": "kore_apps", **meta, "files": files}
    tmp = out_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    os.replace(tmp, out_dir / MANIFEST)
    return manifest


def read_manifest(out_dir: Path) -> dict[str, Any]:
    return json.loads((Path(out_dir) / MANIFEST).read_text(encoding="utf-8"))


def read_rows(out_dir: Path, entity: str) -> list[Row]:
    """The rows of one entity file (for tests and :func:`mutate`)."""
    path = Path(out_dir) / f"{entity_snake(entity)}.jsonl"
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def snapshot_summary(manifest: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    rows = {f["entity"]: f["rows"] for f in manifest["files"]}
    return {
        "as_of": manifest["as_of"],
        "generation": manifest["generation"],
        "entities": len(rows),
        "rows": sum(rows.values()),
        "rows_total": sum(rows.values()),
        "rows_per_entity": rows,
        **(extra or {}),
    }


def sibling_acct_ids(sandbox_dir: Path) -> list[int]:
    """Archtics account ids in the sandbox's static export (``ground_truth.csv``), if it is there."""
    path = Path(sandbox_dir) / "ground_truth.csv"
    if not path.exists():
        return []
    ids: set[int] = set()
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            rid = row.get("record_id") or ""
            if rid.startswith("A:") and row.get("origin", "export") == "export":
                ids.add(int(rid.split(":")[1]))
    return sorted(ids)


def sibling_owner_emails(sandbox_dir: Path) -> list[str]:
    """E-mails of the sandbox CRM's users (``crm_seed/users.jsonl``), if it is there."""
    path = Path(sandbox_dir) / "crm_seed" / "users.jsonl"
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as fh:
        emails = [json.loads(line).get("email") for line in fh if line.strip()]
    return sorted({e.lower() for e in emails if e})


def id_ranges(ids: Sequence[int]) -> list[list[int]]:
    """Compress account ids to [first, last] runs so the manifest stays small and mutate can reuse them."""
    out: list[list[int]] = []
    for i in sorted(set(ids)):
        if out and out[-1][1] == i - 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


def expand_id_ranges(ranges: list[list[int]]) -> list[int]:
    return [i for lo, hi in ranges for i in range(lo, hi + 1)]
