"""The run report: self-contained HTML with a figure per panel, "no data" where inputs are missing."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from expectations.runner import run_checks
from kore.config import Settings
from orchestration.report import write_report
from tests.test_checks import build_warehouse

STAGES = [
    {"stage": "land_export", "seconds": 12.5, "rows_in": 11, "rows_out": 10, "outcome": "success"},
    {"stage": "dbt_build", "seconds": 40.0, "rows_in": 0, "rows_out": 0, "outcome": "success"},
    {"stage": "dedup", "seconds": 3.2, "rows_in": 7, "rows_out": 3, "outcome": "failed: ValueError"},
]
PANELS = ("rows_landed", "quarantine", "match_weights", "cluster_sizes", "created_vs_matched", "push_outcomes",
          "durations")  # fmt: skip


def sections(page: str) -> dict[str, str]:
    return dict(re.findall(r'<section id="([a-z_]+)">(.*?)</section>', page, flags=re.S))


def assert_self_contained(page: str) -> None:
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, flags=re.I)
    assert "<script" not in page.lower() and "<link" not in page.lower()


def test_report_has_every_plot_inline(tmp_path):
    settings = build_warehouse(tmp_path)
    report = run_checks(settings, show_progress=False)
    path = write_report(settings, STAGES, report)
    assert path.parent == settings.reports_dir and path.suffix == ".html"
    page = path.read_text()
    assert_self_contained(page)
    found = sections(page)
    for key in PANELS:
        assert key in found, key
        assert re.search(r'<img [^>]*src="data:image/png;base64,[A-Za-z0-9+/=]{200,}"', found[key]), key
        assert "no data" not in found[key], key
    # the checks table is in the report, and the stage table lists every stage
    assert "manifest_rows_equal_landed_plus_quarantined" in found["checks"]
    assert "OK" in found["checks"]
    # the CRM integrity counts have a table of their own (here skipped: no CRM pull, no baseline)
    assert "crm_integrity_duplicated_accounts" in found["integrity"] and "skipped" in found["integrity"]
    for s in STAGES:
        assert s["stage"] in found["durations"]
    # counts only: no e-mail address of the warehouse's contacts leaks into the report
    assert "example.com" not in page and "pat@" not in page


def test_report_with_nothing_renders_no_data_panels(tmp_path):
    settings = Settings(workdir=tmp_path / "empty")
    path = write_report(settings, [])
    page = path.read_text()
    assert_self_contained(page)
    found = sections(page)
    for key in (*PANELS, "checks", "integrity"):
        assert "no data" in found[key] or "not run" in found[key], key
    assert "<img" not in page
    assert not settings.duckdb_path.exists()  # the report never creates a warehouse


def test_report_survives_partial_and_odd_inputs(tmp_path):
    settings = build_warehouse(tmp_path)
    con = duckdb.connect(str(settings.duckdb_path))
    con.execute("drop table kore_dedup.pair_scores")
    con.execute("drop table ops.crm_sync_state")
    con.execute("create table ops.crm_sync_state (entity varchar)")  # no status column
    con.execute("insert into raw_archtics.quarantine values ('f', 9, 'cust', 'bad date: 31/02/2020 for x', 'y')")
    con.close()
    page = Path(write_report(settings, STAGES)).read_text()
    found = sections(page)
    assert "no data" in found["match_weights"]
    assert "no data" in found["push_outcomes"] or "no entity/status" in found["push_outcomes"]
    assert "<img" in found["quarantine"] and "31/02/2020" not in page  # reason detail after ':' not shown
    assert "checks were not run" in found["checks"]
