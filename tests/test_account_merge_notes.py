"""Account-merge notes have one format (``kore.contracts.archtics``) and one parser (dbt's
``int_archtics_account_merges``): notes written by the contract, and the variants Archtics writes
(other case, extra spaces, a final '.'), give the same old/new account ids in the warehouse as the
contract's own regex gives. Real dbt on a tiny DuckDB warehouse holding only ``raw_archtics.note``."""

from __future__ import annotations

from pathlib import Path

import duckdb

from dbt_build.runner import run_dbt
from kore.config import Settings
from kore.contracts.archtics import merge_note_text, parse_merge_note
from tests import dbt_fixture

NOTES = [
    merge_note_text(500, 100),  # as Archtics (and the sandbox) writes it
    merge_note_text(501, 101) + ".",
    "merged account 502 into 102",
    "MERGED ACCOUNT 503 INTO 103.",
    "Merged account  504   into  104",
    "  Merged Account 505 Into 105 ",
    "Called about renewal",
    "Merged accounts are reviewed monthly",
    "Account 506 merged into 106",
    None,
]


def test_dbt_parses_merge_notes_as_the_contract_does(tmp_path: Path) -> None:
    assert parse_merge_note(merge_note_text(500, 100)) == ("500", "100")
    settings = Settings(workdir=tmp_path)
    rows = [
        {"note_id": str(i), "task_stage_seq_num": "1", "acct_id": "9", "text": t, "upd_datetime": "2024-01-01 00:00:00"}
        for i, t in enumerate(NOTES, start=1)
    ]
    cols, data = dbt_fixture.archtics_rows("note", rows)
    con = duckdb.connect(str(settings.duckdb_path))
    try:
        dbt_fixture._create(con, "raw_archtics", "note", cols, data)
    finally:
        con.close()
    run_dbt(settings, ["run", "--select", "stg_archtics__notes", "int_archtics_account_merges"])
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:
        got = con.sql("select note_id, old_acct_id, new_acct_id from int.int_archtics_account_merges").fetchall()
    finally:
        con.close()
    parsed = {i: parse_merge_note(t) for i, t in enumerate(NOTES, start=1)}
    want = {i: (int(m[0]), int(m[1])) for i, m in parsed.items() if m}
    assert len(want) == 6, "every variant above is a merge note to the contract"
    assert {int(n): (int(o), int(w)) for n, o, w in got} == want
