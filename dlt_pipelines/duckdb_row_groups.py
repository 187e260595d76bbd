"""Short row groups a bulk landing leaves inside a DuckDB table, moved to its end once.

Why: a transaction that appends at least a row group's worth of rows adds them to the table as new
row groups (DuckDB's bulk append): the table's previous last row group stays as short as it was.
The export lands in transactions of ~2M rows (``archtics_export.LOAD_EVERY_ROWS``), so every
transaction's end leaves a short row group inside the table (at 1M accounts 12 in the ticket
table, some of a few hundred rows). At a checkpoint DuckDB merges neighbouring row groups whose
live rows fit in fewer (its vacuum); next to a short row group that happens as soon as the rows
deleted around it outnumber its rows, and a 1% routine incremental deletes ~1% of every row group.
The merge rewrites the short group's neighbours, every column: measured at 1M accounts, the
catch-up's closing checkpoint took 1.1-1.6 s instead of 0.25 s (a third of the whole catch-up) with
a 139-row group in ``cust_email``.

So after the export is landed, the rows of every row group under ``1 / SHORT_SHARE`` of a full one
(and of the last row group, so they join it rather than start another short one) are deleted and
appended again at the table's end, in one transaction: the table holds the same rows (not the same
row ids: nothing here keys on them), in full row groups and one last one. A run killed during the
move leaves the table as it was (only the layout is then the landing's: it costs speed, not rows).
Longer partial groups stay: DuckDB merges them once ~1/8 of a row group's rows were deleted around
them (about six 1% incrementals), the compaction its vacuum is meant to do; moving all of them cost
~6 s at 1M.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

SHORT_SHARE = 8  # a row group under 1/8 of a full one is moved (see the module docstring)


class RowGroup(NamedTuple):
    first_row: int  # the row id of its first row
    rows: int  # rows it holds, deleted ones included (row ids run on across them)


def row_groups(con: Any, table: str) -> list[RowGroup]:
    """The table's row groups in order, from DuckDB's storage information (column 0's segments)."""
    counts = con.execute(
        f"select row_group_id, max(start + count) from pragma_storage_info('{table}') "
        "where column_id = 0 group by row_group_id order by row_group_id"
    ).fetchall()
    out: list[RowGroup] = []
    first = 0
    for _, rows in counts:
        out.append(RowGroup(first, int(rows)))
        first += int(rows)
    return out


def groups_to_move(groups: list[RowGroup]) -> list[RowGroup]:
    """The short row groups before the last one, with the last one; none when there is no short one.

    A full row group is the largest one present (DuckDB's row-group size once a table has two)."""
    if len(groups) < 2:
        return []
    full = max(g.rows for g in groups)
    short = [g for g in groups[:-1] if g.rows * SHORT_SHARE < full]
    return [*short, groups[-1]] if short else []


def gather_short_row_groups(con: Any, tables: Iterable[str]) -> dict[str, int]:
    """Move the rows of each table's short row groups to its end (see the module docstring), all
    tables in one transaction; returns the rows moved per table that had any."""
    moved: dict[str, int] = {}
    con.execute("begin")
    try:
        for table in tables:
            move = groups_to_move(row_groups(con, table))
            if not move:
                continue
            where = " or ".join(f"rowid between {g.first_row} and {g.first_row + g.rows - 1}" for g in move)
            # the copies are appended first (their row ids lie past these ranges), then the originals go
            moved[table] = int(con.execute(f"insert into {table} select * from {table} where {where}").fetchone()[0])
            con.execute(f"delete from {table} where {where}")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return moved
