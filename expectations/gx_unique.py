"""Uniqueness of a warehouse table as one GROUP BY, still validated by Great Expectations.

Why: GX's SQL engine evaluates ``expect_column_values_to_be_unique`` with a window over the whole
table and ``expect_compound_columns_to_be_unique`` by joining every column of the table to the
grouped counts, then runs the same scan again for example values and example keys. At 1M accounts
that was most of the suites' time (the 16M-row ``kore_dedup.pair_scores``: ~13 s for one
expectation, a ``GROUP BY ... HAVING`` over its two columns: ~3 s).

The suites keep declaring GX's uniqueness expectations (the contract and the check names do not
change). On a warehouse table each runs as GX's own ``unexpected_rows_expectation`` whose query
returns the rows whose value (or value combination) occurs more than once: the rows GX counts as
unexpected (a single column ignores nulls; a combination ignores rows whose values are all null and
compares nulls as equal, as a ``GROUP BY`` does). Failing rows, examples and the status are the
same as GX's own evaluation gives (``tests/test_checks_sql.py`` compares them with GX's pandas
engine). The query is plain SQL for DuckDB and SQL Server alike.
"""

from __future__ import annotations

from typing import Any

UNIQUE = "expect_column_values_to_be_unique"
COMPOUND_UNIQUE = "expect_compound_columns_to_be_unique"
SUBSTITUTE = "unexpected_rows_expectation"
ORIGINAL = "kore_validates"  # meta key: the suite's expectation a substitute stands for


def unique_columns(expectation: dict[str, Any]) -> list[str] | None:
    """The columns a uniqueness expectation covers, or None for any other expectation (or options
    the substitute does not reproduce: ``mostly``, another ``ignore_row_if``)."""
    kw = expectation.get("kwargs") or {}
    if expectation["type"] == UNIQUE and set(kw) <= {"column"}:
        return [kw["column"]]
    if (
        expectation["type"] == COMPOUND_UNIQUE
        and set(kw) <= {"column_list", "ignore_row_if"}
        and kw.get("ignore_row_if", "all_values_are_missing") == "all_values_are_missing"
    ):
        return list(kw["column_list"])
    return None


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def duplicates_query(columns: list[str], selected: list[str], dialect: str) -> str:
    """The rows whose ``columns`` combination occurs more than once (``selected`` columns of them).

    Written with an explicit join and aliases, so GX substitutes ``{batch}`` as a parenthesised table
    or subquery either way. Nulls: a single column's are never duplicates; in a combination they
    compare as equal (``is not distinct from`` on DuckDB, where it keeps the hash join)."""
    cols = ", ".join(_q(c) for c in columns)
    if len(columns) == 1:
        present = f"{_q(columns[0])} is not null"
        on = f"t.{_q(columns[0])} = d.{_q(columns[0])}"
    else:
        present = "not (" + " and ".join(f"{_q(c)} is null" for c in columns) + ")"
        if dialect == "duckdb":
            on = " and ".join(f"t.{_q(c)} is not distinct from d.{_q(c)}" for c in columns)
        else:
            on = " and ".join(f"(t.{_q(c)} = d.{_q(c)} or (t.{_q(c)} is null and d.{_q(c)} is null))" for c in columns)
    picked = ", ".join(f"t.{_q(c)}" for c in dict.fromkeys(selected))
    return (
        f"select {picked} from {{batch}} as t inner join "
        f"(select {cols} from {{batch}} as b where {present} group by {cols} having count(*) > 1) as d on {on}"
    )


def substitute(expectation: dict[str, Any], keys: list[str], dialect: str) -> dict[str, Any] | None:
    """GX's ``unexpected_rows_expectation`` standing for a uniqueness expectation whose columns are
    real column names (None when ``expectation`` is not one): the duplicate rows' keys and columns."""
    columns = unique_columns(expectation)
    if columns is None:
        return None
    meta = {**(expectation.get("meta") or {}), ORIGINAL: {k: expectation[k] for k in ("type", "kwargs")}}
    query = duplicates_query(columns, [*keys, *columns], dialect)
    return {"type": SUBSTITUTE, "kwargs": {"unexpected_rows_query": query}, "meta": meta}
