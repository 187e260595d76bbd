"""Export landing: manifest checks refuse whole files, bad rows are quarantined line-exactly,
re-runs skip landed files, and a run killed at any point then re-run equals a clean run."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlt_pipelines.archtics_export import ExportFailed, land_export
from dlt_pipelines.archtics_export_reader import split_records
from kore.config import get_settings
from kore.contracts.account_types import excluded_account_types, is_excluded_account_type

REPO = Path(__file__).resolve().parent.parent
CUST_COLS = ["acct_id", "cust_name_id", "acct_type_desc", "name_first", "name_last", "upd_date"]


# ------------------------------------------------------------------------------------------ helpers
def add_part(export_dir: Path, dataset: str, rel: str, columns: list[str], body: bytes, rows: int) -> Path:
    """Write one gzip CSV part file and list it in manifest.json (creating the manifest if needed)."""
    path = export_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ",".join(columns).encode() + b"\n"
    data = gzip.compress(header + body, mtime=0)
    path.write_bytes(data)
    mpath = export_dir / "manifest.json"
    doc = (
        json.loads(mpath.read_text())
        if mpath.exists()
        else {
            "format_version": 1,
            "source": "archtics",
            "cutoff": "2026-10-01 12:00:01",
            "generated_at": "t",
            "files": [],
        }
    )
    doc["files"].append(
        {
            "dataset": dataset,
            "path": rel,
            "rows": rows,
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "columns": columns,
        }  # fmt: skip
    )
    mpath.write_text(json.dumps(doc))
    return path


def set_manifest(export_dir: Path, rel: str, **changes: object) -> None:
    mpath = export_dir / "manifest.json"
    doc = json.loads(mpath.read_text())
    for f in doc["files"]:
        if f["path"] == rel:
            f.update(changes)
    mpath.write_text(json.dumps(doc))


def rows_of(db: Path, table: str, drop: tuple[str, ...] = ("_dlt_load_id",)) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        exists = con.sql(
            f"select count(*) from information_schema.tables where table_schema='raw_archtics' and table_name='{table}'"
        ).fetchall()[0][0]
        if not exists:
            return []
        cols = [c for c in con.sql(f"select * from raw_archtics.{table} limit 0").columns if c not in drop]
        sel = ", ".join(f'"{c}"' for c in cols)
        return sorted(con.sql(f"select {sel} from raw_archtics.{table}").fetchall(), key=repr)
    finally:
        con.close()


def ok_cust_body(n: int, start: int = 1) -> bytes:
    return "".join(
        f"{i},{i * 10},Individual,Ann{i},Lee,2025-01-02 03:04:05\n" for i in range(start, start + n)
    ).encode()


# ------------------------------------------------------------------------------------------ tests
def test_generator_export_lands_whole_and_rerun_writes_nothing(workdir: Path, small_export: Path) -> None:
    settings = get_settings(workdir)
    manifest = json.loads((small_export / "manifest.json").read_text())
    summary = land_export(settings, small_export, show_progress=False)
    assert summary["quarantined"] == 0 and summary["files_refused"] == []
    for ds in {f["dataset"] for f in manifest["files"]}:
        expected = sum(f["rows"] for f in manifest["files"] if f["dataset"] == ds)
        assert len(rows_of(settings.duckdb_path, ds)) == expected, ds
    assert summary["rows"] == sum(f["rows"] for f in manifest["files"])
    assert rows_of(settings.duckdb_path, "load_cutoff")[0][0] == manifest["cutoff"]

    # every landed row carries its physical line: check a part file against Python's csv module
    part = next(f for f in manifest["files"] if f["dataset"] == "cust" and f["rows"] > 2)
    with gzip.open(small_export / part["path"], "rt", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        expected_lines = []
        while True:
            start = reader.line_num + 1
            try:
                rec = next(reader)
            except StopIteration:
                break
            expected_lines.append((start, rec[0], rec[1]))
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    got = con.sql(
        f"select _source_line, acct_id, cust_name_id from raw_archtics.cust where _source_file = '{part['path']}' "
        "order by _source_line"
    ).fetchall()
    loads_before = con.sql("select count(*) from raw_archtics._dlt_loads").fetchall()[0][0]
    con.close()
    assert got == expected_lines

    before = {t: rows_of(settings.duckdb_path, t) for t in ("cust", "ticket", "file_ledger", "quarantine")}
    again = land_export(settings, small_export, show_progress=False)
    assert again["files_skipped"] == len(manifest["files"]) and again["files_loaded"] == 0
    assert {t: rows_of(settings.duckdb_path, t) for t in before} == before
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    assert con.sql("select count(*) from raw_archtics._dlt_loads").fetchall()[0][0] == loads_before
    con.close()
    runs = [json.loads(x) for x in (workdir / "logs" / "runs.jsonl").read_text().splitlines()]
    assert [r["stage"] for r in runs if r["stage"] == "land_export"] == ["land_export", "land_export"]


@pytest.mark.parametrize(
    ("damage", "loader"),
    [
        ("checksum", "direct"),
        ("row_count", "direct"),
        ("truncated_gzip", "direct"),
        ("truncated_gzip", "packages"),
        ("corrupted_gzip", "direct"),
    ],  # fmt: skip
    indirect=["loader"],
)
def test_damaged_file_is_refused_whole(workdir: Path, damage: str, loader: str) -> None:
    export = workdir / "export"
    add_part(export, "cust", "cust/cust-part-0001.csv.gz", CUST_COLS, ok_cust_body(50), 50)
    bad = add_part(export, "cust", "cust/cust-part-0002.csv.gz", CUST_COLS, ok_cust_body(3000, 1000), 3000)
    rel = "cust/cust-part-0002.csv.gz"
    if damage == "checksum":  # one byte changed after the manifest was written
        raw = bytearray(gzip.decompress(bad.read_bytes()))
        raw[-5] = ord("9") if raw[-5] != ord("9") else ord("8")
        bad.write_bytes(gzip.compress(bytes(raw), mtime=0))
    elif damage == "row_count":  # sha matches, but the manifest promises another row count
        set_manifest(export, rel, rows=3001)
    elif damage == "corrupted_gzip":  # the deflate stream's block header garbled; the manifest describes it
        data = bytearray(bad.read_bytes())
        data[12:16] = bytes(b ^ 0xFF for b in data[12:16])  # after gzip's 10-byte header: an invalid block
        bad.write_bytes(bytes(data))
        set_manifest(export, rel, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    else:  # cut short in transit, and the manifest describes the cut file (so only gzip can tell)
        data = bad.read_bytes()[:-2000]
        bad.write_bytes(data)
        set_manifest(export, rel, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    settings = get_settings(workdir)
    with pytest.raises(ExportFailed) as err:
        land_export(settings, export, show_progress=False, block_bytes=8192)
    assert rel in str(err.value)
    landed = rows_of(settings.duckdb_path, "cust")
    assert len(landed) == 50, "only the good file lands"
    assert not any(rel in repr(r) for r in landed), "nothing of the refused file lands"
    assert [r[0] for r in rows_of(settings.duckdb_path, "file_ledger")] == ["cust/cust-part-0001.csv.gz"]
    assert rows_of(settings.duckdb_path, "quarantine") == []


def test_refused_file_amid_parsed_ahead_groups_lands_the_rest_once(workdir: Path, monkeypatch, loader: str) -> None:
    """The parse thread runs ahead across groups; a file refused in the middle of a group is
    dropped, the group is re-extracted (its earlier file read again) and every other file lands
    exactly once, line for line."""
    import dlt_pipelines.archtics_export as export_mod

    monkeypatch.setattr(export_mod, "LOAD_EVERY_ROWS", 2500)  # several groups of ~2 files
    monkeypatch.setattr(export_mod, "PREFETCH_BLOCKS", 2)  # the thread waits on the extract
    export = workdir / "export"
    for n in range(1, 7):
        add_part(export, "cust", f"cust/cust-part-000{n}.csv.gz", CUST_COLS, ok_cust_body(1200, n * 10_000), 1200)
    set_manifest(export, "cust/cust-part-0004.csv.gz", rows=1201)  # refused after its last block
    settings = get_settings(workdir)
    with pytest.raises(ExportFailed) as err:
        land_export(settings, export, show_progress=False, block_bytes=8192)
    assert "cust/cust-part-0004.csv.gz" in str(err.value)
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    landed = con.sql("select _source_file, _source_line, acct_id from raw_archtics.cust").fetchall()
    con.close()
    per_file: dict[str, list[int]] = {}
    for path, line, acct in landed:
        per_file.setdefault(path, []).append(line)
        assert int(acct) == int(path[-8]) * 10_000 + line - 2, "the row of its own line"
    assert sorted(per_file) == [f"cust/cust-part-000{n}.csv.gz" for n in (1, 2, 3, 5, 6)]
    assert all(sorted(lines) == list(range(2, 1202)) for lines in per_file.values()), "each line once"
    ledger = sorted(r[0] for r in rows_of(settings.duckdb_path, "file_ledger"))
    assert ledger == sorted(per_file)


def test_line_breaks_in_values_across_the_parsers_internal_blocks(workdir: Path) -> None:
    """pyarrow parses a block in 4 MB pieces cut at line breaks; its faster mode (used when no
    line break sits inside quotes) would cut inside a quoted value. A 6 MB block of such values
    lands whole, every value and line number exact."""
    export = workdir / "export"
    n = 60_000
    body = "".join(f'{i},{i},Individual,"Ann\n{i}\rX",Lee,2025-01-02 03:04:05\r\n' for i in range(1, n + 1))
    add_part(export, "cust", "cust/cust-part-0001.csv.gz", CUST_COLS, body.encode(), n)
    settings = get_settings(workdir)
    land_export(settings, export, show_progress=False)
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    bad = con.sql(
        "select count(*) from raw_archtics.cust where name_first <> 'Ann' || chr(10) || acct_id || chr(13) || 'X' "
        "or _source_line <> 2 * cast(acct_id as integer) or upd_date <> '2025-01-02 03:04:05'"
    ).fetchall()[0][0]
    total = con.sql("select count(*) from raw_archtics.cust").fetchall()[0][0]
    con.close()
    assert (total, bad) == (n, 0)


def test_bad_rows_are_quarantined_with_line_and_reason(workdir: Path, loader: str) -> None:
    export = workdir / "export"
    body = (
        b"1,10,Individual,Ann,Lee,2025-01-02 03:04:05\n"  # line 2
        b'2,20,Individual,"Bo\nmulti",Lee,2025-01-02\n'  # lines 3-4: a quoted newline, fine
        b"3,30,Individual,Cy\n"  # line 5: too few fields
        b"x4,40,Individual,Di,Lee,2025-01-02 03:04:05\n"  # line 6: acct_id not an integer
        b"5,50,Individual,Ed,Lee,2025-13-40 99:00:00\n"  # line 7: impossible timestamp
        b"6,60,Individual,F\xffe,Lee,2025-01-02 03:04:05\n"  # line 8: invalid UTF-8
        b'7,70,Comp,"Gus, ""Jr""",Lee,\n'  # line 9: quoted comma and quotes, empty = null
        b"8,80,Individual,Hal,Lee,2025-01-02 03:04:05,extra\n"  # line 10: too many fields
    )
    add_part(export, "cust", "cust/cust-part-0001.csv.gz", CUST_COLS, body, 8)
    add_part(export, "cust", "cust/cust-part-0002.csv.gz", CUST_COLS, ok_cust_body(400, 100), 400)
    settings = get_settings(workdir)
    summary = land_export(
        settings, export, max_bad_share=1.0, allow_quarantine=True, show_progress=False, block_bytes=64
    )
    assert summary["quarantined"] == 5 and summary["rows"] == 403
    q = {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows_of(settings.duckdb_path, "quarantine", drop=("_dlt_load_id",))}
    f = "cust/cust-part-0001.csv.gz"
    assert q[(f, 5)][1].startswith("wrong number of fields") and q[(f, 5)][2] == "3,30,Individual,Cy"
    assert q[(f, 6)][1] == "acct_id is not an integer"
    assert q[(f, 7)][1] == "upd_date is not a valid timestamp"
    assert q[(f, 8)][1] == "invalid UTF-8" and "\\xff" in q[(f, 8)][2]
    assert q[(f, 10)][1].startswith("wrong number of fields")
    assert len(q) == 5
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    good = con.sql(
        f"select _source_line, acct_id, name_first, upd_date from raw_archtics.cust where _source_file='{f}' "
        "order by _source_line"
    ).fetchall()
    con.close()
    assert good == [
        (2, "1", "Ann", "2025-01-02 03:04:05"),
        (3, "2", "Bo\nmulti", "2025-01-02"),
        (9, "7", 'Gus, "Jr"', None),
    ]
    ledger = {r[0]: r for r in rows_of(settings.duckdb_path, "file_ledger")}
    assert ledger[f][3:6] == (8, 3, 5)  # rows, landed, quarantined


def test_too_many_bad_rows_fail_the_run_but_keep_the_evidence(workdir: Path) -> None:
    export = workdir / "export"
    body = ok_cust_body(20) + b"bad,row\n" * 5
    add_part(export, "cust", "cust/cust-part-0001.csv.gz", CUST_COLS, body, 25)
    settings = get_settings(workdir)
    with pytest.raises(ExportFailed, match="quarantined"):
        land_export(settings, export, max_bad_share=0.1, show_progress=False)
    assert len(rows_of(settings.duckdb_path, "quarantine")) == 5
    assert len(rows_of(settings.duckdb_path, "cust")) == 20
    with pytest.raises(ExportFailed, match="quarantined"):  # a re-run reports the same, lands nothing new
        land_export(settings, export, max_bad_share=0.1, show_progress=False)
    assert (
        land_export(settings, export, max_bad_share=0.5, allow_quarantine=True, show_progress=False)["quarantined"] == 5
    )


def test_account_type_exclusion_config_round_trip(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Raw keeps every Account Type; the configured list decides what downstream excludes."""
    export = workdir / "export"
    body = b"1,10,Individual,A,B,2025-01-01\n2,20,Comp,C,D,2025-01-01\n3,30,internal ,E,F,2025-01-01\n"
    add_part(export, "cust", "cust/cust-part-0001.csv.gz", CUST_COLS, body, 3)
    monkeypatch.setenv("KORE_EXCLUDED_ACCOUNT_TYPES", "Comp, Internal")
    settings = get_settings(workdir)
    assert excluded_account_types(settings) == ("comp", "internal")
    land_export(settings, export, show_progress=False)
    types = [r[2] for r in rows_of(settings.duckdb_path, "cust")]
    assert sorted(types) == ["Comp", "Individual", "internal "]  # raw keeps everything
    flags = {t: is_excluded_account_type(t, settings) for t in types}
    assert flags == {"Comp": True, "Individual": False, "internal ": True}
    monkeypatch.delenv("KORE_EXCLUDED_ACCOUNT_TYPES")
    assert not any(is_excluded_account_type(t, get_settings(workdir)) for t in types)


def test_header_mismatch_is_refused(workdir: Path) -> None:
    export = workdir / "export"
    add_part(export, "cust", "cust/cust-part-0001.csv.gz", CUST_COLS, ok_cust_body(5), 5)
    set_manifest(export, "cust/cust-part-0001.csv.gz", columns=[*CUST_COLS[:4], "surname", CUST_COLS[5]])
    with pytest.raises(ExportFailed, match="header columns differ"):
        land_export(get_settings(workdir), export, show_progress=False)


def test_line_numbers_survive_block_boundaries_inside_quoted_values(workdir: Path) -> None:
    """Records with embedded newlines that straddle the read blocks keep exact start lines."""
    export = workdir / "export"
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    expected = []
    line = 2
    for i in range(1, 200):
        first = "x\n" * (i % 4) + f"n{i}"
        w.writerow([i, i * 10, "Individual", first, "L", "2025-01-01"])
        expected.append((line, str(i), first))
        line += 1 + first.count("\n")
    add_part(export, "cust", "cust/cust-part-0001.csv.gz", CUST_COLS, buf.getvalue().encode(), 199)
    settings = get_settings(workdir)
    land_export(settings, export, show_progress=False, block_bytes=37)
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    got = con.sql("select _source_line, acct_id, name_first from raw_archtics.cust order by _source_line").fetchall()
    con.close()
    assert got == expected


def test_duckdb_limits_from_settings_bound_the_landing_connection(workdir: Path, small_export: Path) -> None:
    """memory_limit/threads from the settings reach the connections dlt loads with; the run reports
    seconds per step (the breakdown the landing benchmark prints)."""
    from dataclasses import replace

    from dlt_pipelines.archtics_export import make_pipeline

    settings = replace(get_settings(workdir), duckdb_memory_limit="512MB", duckdb_threads=1)
    summary = land_export(settings, small_export, show_progress=False)
    assert {"setup", "parse", "parse_wait", "load"} <= set(summary["times"]), summary["times"]
    assert all(v >= 0 for v in summary["times"].values())
    with make_pipeline(settings).sql_client() as client:
        rows = client.execute_sql("select current_setting('memory_limit'), current_setting('threads')")
    limit, threads = rows[0]
    assert threads == 1 and limit.startswith(("488", "512")), (limit, threads)


def test_a_part_with_more_columns_adds_them_on_the_next_run_too(workdir: Path) -> None:
    """Files of one dataset may list different columns: the table gains the new ones (dlt adds
    them before the rows go in), earlier rows hold NULL there, also when the new file comes later."""
    export = workdir / "export"
    add_part(export, "cust", "cust/cust-part-0001.csv.gz", CUST_COLS, ok_cust_body(3), 3)
    body = b"".join(
        row.rstrip(b"\n") + f",x{i}\n".encode() for i, row in enumerate(ok_cust_body(2, 10).splitlines(True))
    )
    add_part(export, "cust", "cust/cust-part-0002.csv.gz", [*CUST_COLS, "other_info_1"], body, 2)
    settings = get_settings(workdir)
    land_export(settings, export, show_progress=False)
    body = ok_cust_body(1, 20).rstrip(b"\n") + b",y,z\n"
    add_part(export, "cust", "cust/cust-part-0003.csv.gz", [*CUST_COLS, "other_info_1", "other_info_2"], body, 1)
    land_export(settings, export, show_progress=False)
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    got = con.sql("select acct_id, other_info_1, other_info_2 from raw_archtics.cust order by acct_id::int").fetchall()
    con.close()
    assert got == [("1", None, None), ("2", None, None), ("3", None, None), ("10", "x0", None),
                   ("11", "x1", None), ("20", "y", "z")]  # fmt: skip


def _records_by_counting(data: bytes, first_line: int) -> tuple[list[tuple[int, int, int]], bytes]:
    """RFC 4180 record boundaries the plain way: a newline ends a record when the quotes before it
    are even in number. Returns (start, end, line) of each record and the unfinished tail."""
    out, start, line, quotes = [], 0, first_line, 0
    record_line = first_line
    for i, byte in enumerate(data):
        if byte == 34:
            quotes += 1
        elif byte == 10:
            if quotes % 2 == 0:
                out.append((start, i, record_line))
                start, record_line = i + 1, line + 1
            line += 1
    return out, data[start:]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b'"', b"\n", b",", b"a", b"\r", b'""']), max_size=60).map(b"".join))
def test_record_boundaries_and_start_lines_follow_the_quote_rule(data: bytes) -> None:
    """The reader cuts blocks into records by quote parity (vectorised): every record's start, end
    and physical start line, and the tail left for the next block, are those of the plain rule --
    with quoted newlines, doubled quotes, CRs and a last record cut off mid-value."""
    records, tail, _ = split_records(data, 7)
    want, want_tail = _records_by_counting(data, 7)
    got = list(zip(records.starts.tolist(), records.ends.tolist(), records.lines.tolist(), strict=True))
    assert got == want and tail == want_tail
