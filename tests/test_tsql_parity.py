"""T-SQL parity: every dbt model compiles for SQL Server and is T-SQL a SQL Server would accept.

No SQL Server runs here, so the check is offline: ``dbt compile --target sqlserver
--no-populate-cache`` with dummy connection settings and ``kore_offline`` (no compile-time
introspection), then every compiled model is parsed with sqlglot's T-SQL dialect. sqlglot is
forgiving -- it parses unknown functions as ``exp.Anonymous`` and happily reads DuckDB functions it
knows (``regexp_replace``, ``md5``, ``::`` casts) -- so three checks run on each model:

1. it parses as T-SQL;
2. no ``exp.Anonymous`` function outside ``ANONYMOUS_ALLOWED`` (each entry says why it is T-SQL);
3. every function name called in the text is a SQL Server built-in (``TSQL_FUNCTIONS``), and no
   ``::`` cast or ``||`` concatenation appears (neither exists before SQL Server 2025).

An opt-in live test (``KORE_MSSQL_SERVER`` set) runs ``dbt build --target sqlserver`` for real.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

from dbt_build.runner import dbt_executable
from kore.config import DBT_PROJECT_DIR, mssql_connection

# Functions sqlglot does not model (exp.Anonymous) that SQL Server does have. Keep short, say why.
ANONYMOUS_ALLOWED: dict[str, str] = {
    "SYSDATETIME": "T-SQL built-in: current date and time as datetime2 (dbt.current_timestamp on SQL Server)",
    "HASHBYTES": "T-SQL built-in: hash of a value, used by dbt.hash on SQL Server",
    "DATEFROMPARTS": "T-SQL built-in since SQL Server 2012: date from year, month, day",
}

# SQL Server built-in functions the models may call (lower case), plus the words that are followed
# by '(' in valid T-SQL without being functions (keywords, type names).
TSQL_FUNCTIONS = {
    "abs", "avg", "cast", "ceiling", "charindex", "coalesce", "concat", "convert", "count", "count_big",
    "datalength", "dateadd", "datediff", "datefromparts", "datename", "datepart", "day", "dense_rank",
    "floor", "format", "getdate", "getutcdate", "hashbytes", "iif", "isnull", "lag", "lead", "left", "len",
    "lower", "ltrim", "max", "min", "month", "nullif", "patindex", "rank", "replace", "replicate", "reverse",
    "right", "round", "row_number", "rtrim", "soundex", "space", "str", "string_agg", "stuff", "substring",
    "sum", "sysdatetime", "sysutcdatetime", "translate", "trim", "try_cast", "try_convert", "upper", "year",
    "first_value", "last_value", "ntile", "sign", "power", "sqrt", "choose", "isnumeric", "eomonth",
}  # fmt: skip
NOT_FUNCTIONS = {
    "as", "in", "exists", "over", "values", "and", "or", "not", "on", "from", "select", "when", "then",
    "else", "union", "all", "join", "where", "with", "into", "partition", "using", "between", "any",
    "varchar", "nvarchar", "char", "nchar", "decimal", "numeric", "datetime2", "datetimeoffset", "float",
    "varbinary", "binary", "time", "table", "view", "index", "is",
    "group",  # string_agg(x, ',') WITHIN GROUP (ORDER BY ...): dbt.listagg on SQL Server
}  # fmt: skip

# SQL Server's reserved keywords (learn.microsoft.com, "Reserved keywords (Transact-SQL)"): an
# identifier spelled like one must be quoted (Archtics' evnt.plan is one). Checked on unquoted
# identifiers that are not followed by '(' (coalesce(, convert( ... are calls).
# ("WITHIN GROUP" is listed as one keyword: within is a keyword only before group.)
TSQL_RESERVED = set(
    """
ADD ALL ALTER AND ANY AS ASC AUTHORIZATION BACKUP BEGIN BETWEEN BREAK BROWSE BULK BY CASCADE CASE CHECK
CHECKPOINT CLOSE CLUSTERED COALESCE COLLATE COLUMN COMMIT COMPUTE CONSTRAINT CONTAINS CONTAINSTABLE
CONTINUE CONVERT CREATE CROSS CURRENT CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER CURSOR
DATABASE DBCC DEALLOCATE DECLARE DEFAULT DELETE DENY DESC DISK DISTINCT DISTRIBUTED DOUBLE DROP DUMP ELSE
END ERRLVL ESCAPE EXCEPT EXEC EXECUTE EXISTS EXIT EXTERNAL FETCH FILE FILLFACTOR FOR FOREIGN FREETEXT
FREETEXTTABLE FROM FULL FUNCTION GOTO GRANT GROUP HAVING HOLDLOCK IDENTITY IDENTITY_INSERT IDENTITYCOL IF
IN INDEX INNER INSERT INTERSECT INTO IS JOIN KEY KILL LEFT LIKE LINENO LOAD MERGE NATIONAL NOCHECK
NONCLUSTERED NOT NULL NULLIF OF OFF OFFSETS ON OPEN OPENDATASOURCE OPENQUERY OPENROWSET OPENXML OPTION OR
ORDER OUTER OVER PERCENT PIVOT PLAN PRECISION PRIMARY PRINT PROC PROCEDURE PUBLIC RAISERROR READ READTEXT
RECONFIGURE REFERENCES REPLICATION RESTORE RESTRICT RETURN REVERT REVOKE RIGHT ROLLBACK ROWCOUNT ROWGUIDCOL
RULE SAVE SCHEMA SECURITYAUDIT SELECT SEMANTICKEYPHRASETABLE SEMANTICSIMILARITYDETAILSTABLE
SEMANTICSIMILARITYTABLE SESSION_USER SET SETUSER SHUTDOWN SOME STATISTICS SYSTEM_USER TABLE TABLESAMPLE
TEXTSIZE THEN TO TOP TRAN TRANSACTION TRIGGER TRUNCATE TRY_CONVERT TSEQUAL UNION UNIQUE UNPIVOT UPDATE
UPDATETEXT USE USER VALUES VARYING VIEW WAITFOR WHEN WHERE WHILE WITH WRITETEXT
""".split()
)

# the reporting marts of issue 18 and the intermediate models they read (named, so a disabled or
# renamed one fails the check instead of silently leaving it)
REPORTING_MODELS = (
    "int_account_persons", "int_person_season_spend", "fct_season_ticket_holders", "fct_renewals",
    "fct_event_sales", "mart_customer_360", "fct_rep_book",
)  # fmt: skip

DUMMY_MSSQL_ENV = {
    "KORE_TARGET": "sqlserver",
    "KORE_MSSQL_SERVER": "127.0.0.1",
    "KORE_MSSQL_PORT": "1",
    "KORE_MSSQL_DATABASE": "kore",
    "KORE_MSSQL_USER": "parity",
    "KORE_MSSQL_PASSWORD": "not-a-secret",
}

_CALL = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_LITERAL_OR_COMMENT = re.compile(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/", re.S)


def tsql_problems(sql: str) -> list[str]:
    """Reasons why ``sql`` is not T-SQL SQL Server accepts (empty when it is)."""
    try:
        trees = sqlglot.parse(sql, read="tsql")
    except sqlglot.errors.SqlglotError as err:
        return [f"does not parse as T-SQL: {str(err).splitlines()[0][:200]}"]
    problems: list[str] = []
    for tree in trees:
        if tree is None:
            continue
        for node in tree.find_all(exp.Anonymous):
            if node.name.upper() not in ANONYMOUS_ALLOWED:
                problems.append(f"function {node.name}() is unknown to T-SQL")
    tokens = sqlglot.Dialect.get_or_raise("tsql").tokenize(sql)
    if any(t.token_type == TokenType.DCOLON for t in tokens):
        problems.append("'::' cast (use cast() / dbt.safe_cast)")
    if any(t.token_type == TokenType.DPIPE for t in tokens):
        problems.append("'||' concatenation (use concat() / dbt.concat)")
    for tok, nxt in zip(tokens, [*tokens[1:], None], strict=True):
        if tok.token_type == TokenType.VAR and tok.text.upper() in TSQL_RESERVED:
            if nxt is None or nxt.token_type != TokenType.L_PAREN:
                problems.append(f"reserved word {tok.text} used as an unquoted identifier (adapter.quote it)")
    text = _LITERAL_OR_COMMENT.sub("''", sql)
    for name in sorted({m.group(1).lower() for m in _CALL.finditer(text)}):
        if name not in TSQL_FUNCTIONS and name not in NOT_FUNCTIONS and not _is_cte_or_alias(text, name):
            problems.append(f"function {name}() is not a SQL Server built-in")
    return sorted(set(problems))


def _is_cte_or_alias(text: str, name: str) -> bool:
    """``name (`` can be a CTE column list or a derived table alias: not a call."""
    return re.search(rf"\b{name}\s+as\s*\(", text, re.I) is not None and not re.search(
        rf"[=,(]\s*{name}\s*\(", text, re.I
    )


def _pyodbc_or_skip() -> None:
    try:
        import pyodbc  # noqa: F401
    except ImportError as err:  # dbt-sqlserver imports pyodbc when it loads
        pytest.skip(f"dbt-sqlserver cannot load: `import pyodbc` failed ({err}); apt-get install unixodbc")


def compile_for_sqlserver(tmp: Path, extra_vars: dict | None = None, select: str | None = None) -> dict:
    """Compile the project offline for SQL Server; return {model name: compiled SQL}."""
    _pyodbc_or_skip()
    target = tmp / "target"
    env = {
        **os.environ,
        **DUMMY_MSSQL_ENV,
        "DBT_TARGET_PATH": str(target),
        "DBT_LOG_PATH": str(tmp / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    dbt_vars = json.dumps({"kore_offline": True, **(extra_vars or {})})
    cmd = [dbt_executable(), "compile", "--profiles-dir", str(DBT_PROJECT_DIR), "--project-dir",
           str(DBT_PROJECT_DIR), "--no-populate-cache", "--vars", dbt_vars,
           "--select", select or "resource_type:model"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    manifest = json.loads((target / "manifest.json").read_text())
    return {
        n["name"]: n["compiled_code"]
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n.get("compiled_code")
    }


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return compile_for_sqlserver(tmp_path_factory.mktemp("tsql"))


def test_every_model_compiles_to_valid_tsql(compiled: dict) -> None:
    assert len(compiled) >= 40, f"only {len(compiled)} models compiled"
    assert set(REPORTING_MODELS) <= set(compiled), set(REPORTING_MODELS) - set(compiled)
    bad = {name: p for name, sql in compiled.items() if (p := tsql_problems(sql))}
    assert not bad, "models that are not valid T-SQL:\n" + "\n".join(f"  {n}: {p}" for n, p in sorted(bad.items()))


def test_compiled_models_use_sqlserver_types_and_functions(compiled: dict) -> None:
    """The SQL Server branches really were taken (dispatch worked): T-SQL spellings appear."""
    joined = "\n".join(compiled.values()).lower()
    assert "hashbytes(" in joined and "datetime2" in joined
    assert "regexp_replace" not in joined and "try_cast(" in joined


def test_other_branches_compile_to_valid_tsql(tmp_path: Path) -> None:
    """Branches a default compile never takes are T-SQL too: the incremental branch of every
    incremental model and the Salesforce flavour of the CRM models (one compile for both)."""
    models = compile_for_sqlserver(
        tmp_path,
        {"kore_assume_incremental": True, "crm_flavor": "salesforce"},
        select="config.materialized:incremental path:models/staging/crm path:models/crm_to_kore",
    )
    incremental = {
        "stg_archtics__tickets": "keyed.ticket_key from keyed",
        "stg_archtics__custs": "keyed.cust_name_key from keyed",
        "stg_archtics__cust_emails": "keyed.cust_email_key from keyed",
        "stg_archtics__cust_addresses": "keyed.cust_address_key from keyed",
        "fct_ticket_purchases": "scope_keys",
        "dim_account": "built_watermark",
        "SyncedTicketPurchases": "scope_assigned",
        "int_accounts_assigned": "reassigned",
        "fct_event_sales": "in_scope",
        "int_account_persons": "changed",
        "int_person_season_spend": "scope_persons",
        "fct_season_ticket_holders": "shared_changes",
    }
    for model, marker in incremental.items():
        assert marker in models[model], f"{model}: incremental branch not compiled"
    assert "salesforce_appointment" in models["stg_crm__appointments"]
    bad = {name: p for name, sql in models.items() if (p := tsql_problems(sql))}
    assert not bad, bad


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("select list_value(1, 2) as x", "list_value"),
        ("select a from t where regexp_matches(a, 'x')", "regexp_matches"),
        ("select regexp_replace(a, '[^0-9]', '', 'g') as d from t", "regexp_replace"),
        ("select md5(a) as h from t", "md5"),
        ("select a::int as i from t", "'::'"),
        ("select 'a' || b as c from t", "'||'"),
        ("select from where", "parse"),
        ("select plan as plan_code from evnt", "reserved word plan"),
    ],
)
def test_checker_catches_duckdb_only_sql(sql: str, expected: str) -> None:
    problems = tsql_problems(sql)
    assert any(expected in p for p in problems), problems


def test_checker_accepts_tsql() -> None:
    sql = (
        "with src as (select a, b from t) select try_cast(a as datetime2(6)) as ts, "
        "lower(convert(varchar(50), hashbytes('md5', coalesce(convert(varchar(8000), b), '')), 2)) as h, "
        "soundex(b) as s, row_number() over (partition by a order by b desc) as rn from src"
    )
    assert tsql_problems(sql) == []


def test_checker_catches_a_duckdb_function_in_a_compiled_model(tmp_path: Path, compiled: dict) -> None:
    """A model edited to use a DuckDB-only function fails the check (the check is not vacuous)."""
    sql = compiled["dedup_person_records"].replace("lower(", "list_value(", 1)
    assert any("list_value" in p for p in tsql_problems(sql))


def test_the_reserved_plan_column_is_read_quoted(compiled: dict) -> None:
    """evnt's `plan` column (is_plan comes from it) is read quoted on SQL Server; unquoted it fails."""
    sql = compiled["stg_archtics__events"]
    assert 'cast("plan" as' in sql
    assert any("reserved word plan" in p for p in tsql_problems(sql.replace('"plan"', "plan")))


@pytest.mark.sqlserver
@pytest.mark.skipif(not os.environ.get("KORE_MSSQL_SERVER"), reason="KORE_MSSQL_SERVER not set (no SQL Server here)")
def test_live_build_on_sqlserver(tmp_path: Path) -> None:
    """Opt-in: build the project on a real SQL Server (first phase; dedup tables may not exist)."""
    _pyodbc_or_skip()
    env = {
        **os.environ,
        **mssql_connection().dbt_env(),  # the one connection builder, as `kore` hands it to dbt
        "KORE_TARGET": "sqlserver",
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
    }
    cmd = [dbt_executable(), "build", "--profiles-dir", str(DBT_PROJECT_DIR), "--project-dir",
           str(DBT_PROJECT_DIR), "--exclude", "tag:needs_dedup"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
