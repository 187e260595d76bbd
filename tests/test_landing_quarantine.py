"""Export landing: no silent loss through quarantine (limits per file and per dataset, outcome
"partial"), corrected files re-landed with --replace, header-only parts, the dataset schema, and a
manifest that is not JSON (issue 17, items 2 and 6)."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from dlt_pipelines import archtics_export
from dlt_pipelines.archtics_export import ExportFailed, ExportPartial, land_export
from dlt_pipelines.archtics_export_reader import ManifestInvalid
from dlt_pipelines.archtics_export_replace import ReplaceRefused
from kore.config import get_settings
from kore.landing import LandingIncomplete, require_landing_complete
from tests.test_landing_export import CUST_COLS, add_part, ok_cust_body, rows_of

BAD = "cust/cust-part-0002.csv.gz"


def _outcomes(workdir: Path) -> list[str]:
    runs = [json.loads(x) for x in (workdir / "logs" / "runs.jsonl").read_text().splitlines()]
    return [r["outcome"] for r in runs if r["stage"] == "land_export"]


def _rewrite(export: Path, rel: str, body: bytes, rows: int) -> None:
    """The client's corrected file under the same path, and its new manifest entry."""
    data = gzip.compress(",".join(CUST_COLS).encode() + b"\n" + body, mtime=0)
    (export / rel).write_bytes(data)
    doc = json.loads((export / "manifest.json").read_text())
    for f in doc["files"]:
        if f["path"] == rel:
            f.update(rows=rows, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    (export / "manifest.json").write_text(json.dumps(doc))


def _export_with_one_bad_file(workdir: Path) -> Path:
    """2,000 good rows in one file, and a file whose 10 rows include one bad one (0.05% overall)."""
    export = workdir / "export"
    add_part(export, "cust", "cust/cust-part-0001.csv.gz", CUST_COLS, ok_cust_body(2000), 2000)
    add_part(export, "cust", BAD, CUST_COLS, ok_cust_body(9, 5000) + b"x1,1,Individual,Bad,Row,2025-01-01\n", 10)
    return export


def test_a_bad_file_fails_its_per_file_limit_though_the_export_share_is_small(workdir: Path) -> None:
    export = _export_with_one_bad_file(workdir)
    with pytest.raises(
        ExportFailed, match=r"cust-part-0002.csv.gz: 1 of 10 rows quarantined \(10.00% > 0.10% per file\)"
    ):
        land_export(get_settings(workdir), export, show_progress=False)
    assert _outcomes(workdir) == ["failed: ExportFailed"]


def test_a_dataset_over_its_limit_fails(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    export = _export_with_one_bad_file(workdir)
    monkeypatch.setenv("KORE_MAX_BAD_SHARE_FILE", "0.5")
    monkeypatch.setenv("KORE_MAX_BAD_SHARE_DATASET", "0.0001")
    with pytest.raises(ExportFailed, match=r"cust: 1 of 2010 rows quarantined .* per dataset"):
        land_export(get_settings(workdir), export, show_progress=False)


def test_quarantine_within_limits_is_partial_and_fails_unless_allowed(workdir: Path) -> None:
    export = _export_with_one_bad_file(workdir)
    settings = get_settings(workdir)
    with pytest.raises(ExportPartial, match="1 rows quarantined") as err:
        land_export(settings, export, max_bad_share=0.2, show_progress=False)
    assert "\n" not in str(err.value)
    summary = land_export(settings, export, max_bad_share=0.2, allow_quarantine=True, show_progress=False)
    assert summary["quarantined"] == 1 and summary["rows"] == 2009
    assert _outcomes(workdir) == ["partial", "partial"]


def test_a_corrected_file_replaces_the_landed_one_by_lineage(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    export = _export_with_one_bad_file(workdir)
    settings = get_settings(workdir)
    land_export(settings, export, max_bad_share=0.2, allow_quarantine=True, show_progress=False)
    old_sha = json.loads((export / "manifest.json").read_text())["files"][1]["sha256"]
    _rewrite(export, BAD, ok_cust_body(10, 5000), 10)
    with pytest.raises(ExportFailed, match=f"--replace {BAD}"):  # not without being asked to
        land_export(settings, export, show_progress=False)
    with pytest.raises(ReplaceRefused, match="not a file of the manifest"):
        land_export(settings, export, replace=["cust/nope.csv.gz"], show_progress=False)

    # killed after the corrected file loaded, before the old version's rows were removed
    real = archtics_export.settle_replacements
    monkeypatch.setattr(archtics_export, "settle_replacements", lambda *a: [])
    land_export(settings, export, replace=[str(export / BAD)], show_progress=False)
    with pytest.raises(LandingIncomplete, match="1 file.s. are in the ledger twice"):
        require_landing_complete(settings, "kore build")
    monkeypatch.setattr(archtics_export, "settle_replacements", real)

    summary = land_export(settings, export, show_progress=False)  # a plain re-run settles it
    assert summary["quarantined"] == 0 and summary["rows"] == 2010
    require_landing_complete(settings, "kore build")
    cust = [r for r in rows_of(settings.duckdb_path, "cust") if BAD in r]
    assert sorted(int(r[0]) for r in cust) == list(range(5000, 5010))
    assert rows_of(settings.duckdb_path, "quarantine") == []
    ledger = {r[0]: r for r in rows_of(settings.duckdb_path, "file_ledger", drop=("_dlt_load_id", "_dlt_id"))}
    assert len(ledger) == 2 and ledger[BAD][3:7] == (10, 10, 0, old_sha)  # rows, landed, quarantined, replaced


def test_header_only_part_creates_an_empty_table(workdir: Path) -> None:
    export = workdir / "export"
    add_part(export, "cust", "cust/cust-part-0001.csv.gz", CUST_COLS, ok_cust_body(3), 3)
    add_part(export, "evnt", "evnt/evnt-part-0001.csv.gz", ["event_id", "event_name", "upd_date"], b"", 0)
    settings = get_settings(workdir)
    land_export(settings, export, show_progress=False)
    assert rows_of(settings.duckdb_path, "evnt") == []
    import duckdb

    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    cols = [c for c in con.sql("select * from raw_archtics.evnt limit 0").columns]
    con.close()
    assert {"event_id", "event_name", "upd_date", "_source_file", "_source_line"} <= set(cols)
    require_landing_complete(settings, "kore build")


def test_a_missing_required_column_refuses_the_file(workdir: Path) -> None:
    export = workdir / "export"
    cols = [c for c in CUST_COLS if c != "cust_name_id"]
    add_part(export, "cust", "cust/cust-part-0001.csv.gz", cols, b"1,Individual,A,B,2025-01-01\n", 1)
    with pytest.raises(ExportFailed, match="required column.s. cust_name_id of cust missing"):
        land_export(get_settings(workdir), export, show_progress=False)
    assert rows_of(get_settings(workdir).duckdb_path, "cust") == []


def test_a_manifest_that_is_not_json_is_one_clear_line(workdir: Path) -> None:
    export = workdir / "export"
    export.mkdir()
    (export / "manifest.json").write_text('{"format_version": 1, "files": [')
    with pytest.raises(ManifestInvalid) as err:
        land_export(get_settings(workdir), export, show_progress=False)
    msg = str(err.value)
    assert str(export / "manifest.json") in msg and "not valid JSON" in msg and "\n" not in msg
