"""File mode (`kore dedup match`): clustering a CSV, and clear errors for bad input."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from dedup.cli import app
from dedup.filemode import DedupInputError, match_file

CSV = """cid,First,Last,Mail,Tel,Addr,Zip
1,Robert,Smith,bob.smith@mail.com,217-555-0100,7 Elm Street,62701
2,Bob,Smith,BOB.SMITH@mail.com,(217) 555 0100,7 Elm St,62701
3,Mary,Smith,mary.smith@mail.com,217-555-0100,7 Elm Street,62701
4,Ana,Lopez,ana@x.org,303-555-0101,1 Oak Ave,80202
5,Ana,Lopez,ana@x.org,,1 Oak Avenue,80202
6,Peter,Jones,pj@y.org,404-555-0102,9 Pine Rd,30301
"""
FIELDS = {"first_name": "First", "last_name": "Last", "email": "Mail", "phone": "Tel", "street": "Addr", "zip": "Zip"}


def test_match_file_clusters_people_not_households(tmp_path):
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text(CSV, encoding="utf-8")
    counts = match_file(src, out, "cid", FIELDS)
    res = pd.read_csv(out, dtype=str).set_index("cid")["cluster_id"]
    assert list(res.index) == ["1", "2", "3", "4", "5", "6"]
    assert res["1"] == res["2"] and res["4"] == res["5"]
    assert res["3"] != res["1"] and res["6"] not in {res["1"], res["4"]}
    assert counts["clusters"] == 4


def test_a_company_row_does_not_merge_with_its_employees(tmp_path):
    """A row with a company and no person name is the company itself: sharing its phone, address and
    company with an employee's row does not make them one cluster (two rows of the company do merge)."""
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text(
        "cid,First,Last,Org,Tel,Addr,Zip\n"
        "1,,,Acme Corp,217-555-0100,7 Elm Street,62701\n"
        "2,,,ACME Corp.,(217) 555 0100,7 Elm St,62701\n"
        "3,Robert,Smith,Acme Corp,217-555-0100,7 Elm Street,62701\n"
        "4,Bob,Smith,Acme Corp,217-555-0100,7 Elm St,62701\n",
        encoding="utf-8",
    )
    fields = {
        "first_name": "First",
        "last_name": "Last",
        "company": "Org",
        "phone": "Tel",
        "street": "Addr",
        "zip": "Zip",
    }
    match_file(src, out, "cid", fields)
    res = pd.read_csv(out, dtype=str).set_index("cid")["cluster_id"]
    assert res["1"] == res["2"] and res["3"] == res["4"]
    assert res["1"] != res["3"]


@pytest.mark.parametrize(
    ("content", "id_col", "fields", "message"),
    [
        (CSV, "nope", FIELDS, "id column 'nope' not in header"),
        (CSV.replace("\n2,", "\n1,"), "cid", FIELDS, "duplicate id"),
        (CSV, "cid", {"shoe_size": "First"}, "unknown role(s) shoe_size"),
        (CSV, "cid", {"email": "Missing"}, "column(s) Missing not in header"),
        ("", "cid", FIELDS, "file is empty"),
        ("cid,First\n", "cid", {"first_name": "First"}, "no data rows"),
    ],
)
def test_bad_input_gets_a_clear_error_and_no_output(tmp_path, content, id_col, fields, message):
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text(content, encoding="utf-8")
    with pytest.raises(DedupInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        match_file(src, out, id_col, fields)
    assert not out.exists()


def test_non_utf8_file_is_refused_with_its_line(tmp_path):
    src = tmp_path / "latin1.csv"
    src.write_bytes("cid,First\n1,Ana\n2,Jos\xe9\n".encode("latin-1"))
    with pytest.raises(DedupInputError, match="not UTF-8.*line 3"):
        match_file(src, tmp_path / "o.csv", "cid", {"first_name": "First"})


def test_cli_match_command(tmp_path):
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text(CSV, encoding="utf-8")
    args = ["match", str(src), "--output", str(out), "--id-column", "cid"]
    for role, col in FIELDS.items():
        args += ["--field", f"{role}={col}"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert len(pd.read_csv(out)) == 6
    bad = CliRunner().invoke(
        app, ["match", str(src), "--output", str(out), "--id-column", "x", "--field", "email=Mail"]
    )
    assert bad.exit_code == 2 and "'x' not in header" in " ".join(bad.output.split())
