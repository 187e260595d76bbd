"""A dirty sample export: malformed lines are counted by the manifest, quarantined by the landing at
their exact file and line, and were never rows of the sandbox's live Archtics database."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import requests

from dlt_pipelines.archtics_export import land_export
from kore.config import get_settings
from sandbox.archtics_api import ArchticsSandbox
from sandbox.generator import generate


def test_malformed_rows_are_quarantined_and_not_live(workdir: Path) -> None:
    settings = get_settings(workdir)
    export, sandbox = settings.export_dir, settings.sandbox_dir
    generate(60, export, seed=7, sandbox_dir=sandbox, malformed_rows=2, show_progress=False)
    manifest = json.loads((export / "manifest.json").read_text())
    part = next(f for f in manifest["files"] if f["path"].startswith("cust/"))
    with gzip.open(export / part["path"], "rt", encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    assert part["rows"] == len(lines) - 1  # the manifest counts the broken lines too

    summary = land_export(settings, export, max_bad_share=1.0, allow_quarantine=True, show_progress=False)
    assert summary["quarantined"] == 4  # two in cust, two in ticket
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    got = con.execute(
        "select source_line, reason from raw_archtics.quarantine where dataset = 'cust' order by source_line"
    ).fetchall()
    ledger = con.execute("select sum(rows), sum(landed), sum(quarantined) from raw_archtics.file_ledger").fetchone()
    con.close()
    # the last two physical lines of the first cust part (header = line 1)
    assert [line for line, _ in got] == [len(lines) - 1, len(lines)]
    assert [reason for _, reason in got] == ["wrong number of fields (expected 63)", "acct_id is not an integer"]
    assert ledger[0] == ledger[1] + ledger[2] == sum(f["rows"] for f in manifest["files"])

    with ArchticsSandbox(sandbox, export) as api:
        tok = requests.post(
            api.url + "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": api.client_id, "client_secret": api.client_secret},
            timeout=10,
        ).json()["access_token"]
        state = requests.get(
            api.url + "/admin/state", params={"dataset": "cust"}, headers={"Authorization": f"Bearer {tok}"}, timeout=30
        ).json()
    ids = {r["acct_id"] for r in state["rows"]}
    assert ids and all(i.isdigit() for i in ids)
    assert not any(i.startswith("99000") for i in ids)
