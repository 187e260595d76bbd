"""The short row groups a bulk landing leaves inside a DuckDB table are moved to its end, so a later
routine incremental's deletes do not make DuckDB's checkpoint rewrite their neighbours."""

from __future__ import annotations

from pathlib import Path

import duckdb
from hypothesis import given
from hypothesis import strategies as st

from dlt_pipelines.duckdb_row_groups import SHORT_SHARE, RowGroup, gather_short_row_groups, groups_to_move, row_groups

FULL = 122_880  # DuckDB's row-group size


def landed_table(path: Path) -> duckdb.DuckDBPyConnection:
    """A table landed as the export lands: large transactions (here three row groups and 120 rows
    each: a bulk append leaves a short row group of 120 rows where each ended)."""
    con = duckdb.connect(str(path))
    con.execute("create table t (id bigint, name varchar, amount double)")
    size = 3 * FULL + 120
    for k in range(3):
        con.execute("insert into t select i, 'name ' || i, i / 7 from range(?, ?) r(i)", [k * size, (k + 1) * size])
    con.execute("checkpoint")
    return con


def contents(con: duckdb.DuckDBPyConnection) -> tuple:
    return con.execute("select count(*), sum(id), sum(hash(id, name, amount)) from t").fetchone()


def delete_one_percent_and_checkpoint(con: duckdb.DuckDBPyConnection) -> None:
    """What a 1% routine incremental does to a raw table: scattered deletes, then a checkpoint."""
    con.execute("delete from t where id % 100 = 7")
    con.execute("checkpoint")


def test_short_row_groups_move_to_the_end_with_the_same_rows(tmp_path: Path) -> None:
    con = landed_table(tmp_path / "w.duckdb")
    before = contents(con)
    assert [g.rows for g in row_groups(con, "t")] == [FULL, FULL, FULL, 120] * 3  # what the landing left

    moved = gather_short_row_groups(con, ["t"])
    con.execute("checkpoint")

    assert moved == {"t": 3 * 120}  # two short groups inside, and the last one's rows
    assert contents(con) == before
    rows = [g.rows for g in row_groups(con, "t")]
    assert rows == [FULL] * 9 + [3 * 120], rows
    assert gather_short_row_groups(con, ["t"]) == {}  # nothing left to move: a re-run is a no-op


def test_a_routine_incremental_then_leaves_the_full_row_groups_alone(tmp_path: Path) -> None:
    """Without the move, DuckDB's vacuum merges each short group with its neighbours at the first 1%
    delete (rewriting them); after it, the same delete leaves every row group where it was."""
    untouched = landed_table(tmp_path / "untouched.duckdb")
    groups_before = len(row_groups(untouched, "t"))
    delete_one_percent_and_checkpoint(untouched)
    assert len(row_groups(untouched, "t")) < groups_before  # the merge the move prevents

    gathered = landed_table(tmp_path / "gathered.duckdb")
    gather_short_row_groups(gathered, ["t"])
    gathered.execute("checkpoint")
    layout = row_groups(gathered, "t")
    delete_one_percent_and_checkpoint(gathered)
    assert row_groups(gathered, "t") == layout
    assert contents(gathered)[0] == contents(untouched)[0]


def test_a_failed_move_leaves_the_table_as_it_was(tmp_path: Path) -> None:
    con = landed_table(tmp_path / "w.duckdb")
    before, layout = contents(con), row_groups(con, "t")
    try:
        gather_short_row_groups(con, ["t", "no_such_table"])
    except duckdb.CatalogException:
        pass
    else:
        raise AssertionError("a missing table must fail the move")
    assert contents(con) == before
    assert row_groups(con, "t") == layout


@given(st.lists(st.integers(min_value=1, max_value=FULL), min_size=0, max_size=30))
def test_only_short_groups_before_the_last_move_and_the_last_with_them(sizes: list[int]) -> None:
    groups, first = [], 0
    for rows in sizes:
        groups.append(RowGroup(first, rows))
        first += rows
    move = groups_to_move(groups)
    if not move:
        assert len(groups) < 2 or all(g.rows * SHORT_SHARE >= max(sizes) for g in groups[:-1])
        return
    assert move[-1] == groups[-1]
    full = max(sizes)
    assert all(g.rows * SHORT_SHARE < full for g in move[:-1])
    assert {g for g in groups[:-1] if g.rows * SHORT_SHARE < full} == set(move[:-1])
