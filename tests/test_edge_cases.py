"""Edge cases an operator meets (issue 17, item 6): a workdir path holding a quote, a CSV value
holding U+2028 (a Unicode line separator that is not a CSV record separator)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from dedup.filemode import match_file, read_input
from dlt_pipelines.archtics_export import land_export
from kore.config import get_settings
from kore.landing import landing_problems
from tests.test_landing_export import CUST_COLS, add_part, ok_cust_body


def test_a_workdir_path_with_a_quote_lands_and_reruns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workdir = tmp_path / "o'brien's work"
    workdir.mkdir()
    for var in ("KORE_DUCKDB_PATH", "KORE_TARGET"):
        monkeypatch.delenv(var, raising=False)
    export = workdir / "export"
    add_part(export, "cust", "cust/cust-part-0001.csv.gz", CUST_COLS, ok_cust_body(40), 40)
    settings = get_settings(workdir)
    assert land_export(settings, export, show_progress=False)["rows"] == 40
    again = land_export(settings, export, show_progress=False)
    assert again["files_skipped"] == 1 and again["rows"] == 40
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    assert con.sql("select count(*) from raw_archtics.cust").fetchall()[0][0] == 40
    con.close()
    assert landing_problems(settings) == []


def test_file_mode_keeps_a_unicode_line_separator_inside_a_value(tmp_path: Path) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    rows = [
        "cid,First,Last,Mail",
        "1,Ana\u2028Maria,Lopez,ana@x.org",
        "2,Ana Maria,Lopez,ana@x.org",
        "3,Bo,Li,bo@y.org",
    ]
    src.write_text("\r\n".join(rows) + "\r\n", encoding="utf-8")
    fields = {"first_name": "First", "last_name": "Last", "email": "Mail"}
    df = read_input(src, "cid", fields)
    assert list(df["cid"]) == ["1", "2", "3"] and df.loc[0, "First"] == "Ana\u2028Maria"
    assert match_file(src, out, "cid", fields)["clusters"] == 2
    assert list(pd.read_csv(out, dtype=str)["cid"]) == ["1", "2", "3"]
