"""The Account-Type rule in dbt (``macros/account_types.sql``) agrees with its one Python statement.

``kore.contracts.account_types.is_excluded_account_type`` is the rule (ignore case and surrounding
spaces); the macro ``kore_is_excluded_account_type`` applies it inside the warehouse (dim_account,
dedup_person_records). This runs the macro for real: dbt renders it with the excluded list the way
``kore`` hands it over (``Settings.env()`` -> ``KORE_EXCLUDED_ACCOUNT_TYPES`` -> var
``excluded_account_types``), DuckDB evaluates it over values in other case and spacing, and every
answer must be Python's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dbt_build.runner import run_dbt
from kore.config import Settings
from kore.contracts.account_types import is_excluded_account_type

VALUES = [
    "Comp", "comp", " COMP ", "  Comp", "Comps", "Com p",
    "Internal", "internal  ", "INTERNAL", "Inter nal",
    "Season Ticket", " season ticket ", "SEASON TICKET", "Season  Ticket",
    "Season", "", " ", "O'Brien Group", "\tComp", "Comp\t", None,
]  # fmt: skip


def macro_answers(settings: Settings, values: list[str | None]) -> dict[str | None, int]:
    """value -> the macro's 0/1, computed by DuckDB through ``dbt show``."""
    literals = ", ".join("(null)" if v is None else "('" + v.replace("'", "''") + "')" for v in values)
    sql = (
        "select v.value, {{ kore_is_excluded_account_type('v.value') }} as excluded "
        f"from (values {literals}) as v(value)"
    )
    result = run_dbt(settings, ["--quiet", "show", "--inline", sql, "--output", "json", "--limit", "-1"])
    shown = json.loads(result.stdout[result.stdout.index("{") :])["show"]
    assert len(shown) == len(values)
    return {row["value"]: int(row["excluded"]) for row in shown}


@pytest.mark.parametrize(
    "excluded",
    [(" Comp ", "INTERNAL", "season ticket  ", "O'Brien Group"), ()],
    ids=["odd-case-spaces-and-quotes", "none-excluded"],
)
def test_macro_agrees_with_python(tmp_path: Path, excluded: tuple[str, ...]) -> None:
    settings = Settings(workdir=tmp_path, excluded_account_types=excluded)
    answers = macro_answers(settings, VALUES)
    expected = {v: int(is_excluded_account_type(v, settings)) for v in VALUES}
    assert answers == expected
    # the rule really was exercised: something is excluded whenever a list is configured
    assert any(answers.values()) == bool(excluded)
