"""KORE apps landing, the fast ways: Arrow's JSON reader against the exact line-by-line parse, and the
direct DuckDB write against dlt's packages (same tables, nothing written twice, nothing half-written)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

import dlt_pipelines.archtics_common as common
import dlt_pipelines.kore_apps_direct as direct
from dlt_pipelines.kore_apps import KoreAppExportError, land_kore_apps, parse_exact, parse_fast
from kore.config import get_settings
from sandbox.kore_apps import generate, mutate
from tests.test_kore_apps import republish

ACCT_IDS = list(range(5001, 5061))
COLUMNS = {
    "id": {"data_type": "bigint", "nullable": False},
    "name": {"data_type": "text", "nullable": True},
    "amount": {"data_type": "double", "nullable": True},
    "qty": {"data_type": "bigint", "nullable": True},
    "modified_at": {"data_type": "text", "nullable": False},
}


# ------------------------------------------------------------------------------------------------ parsers
def _parsed(data: bytes) -> tuple[Any, Any]:
    """What landing keeps of a file: the fast parse when it vouches for it, else the exact one
    (rows and quarantine; or the error the exact one raises)."""
    fast = parse_fast("f.jsonl", data, COLUMNS)
    try:
        table, bad = parse_exact("f.jsonl", "F", data, COLUMNS)
    except (KoreAppExportError, OverflowError, UnicodeEncodeError) as exc:  # the landing fails today on
        # an int beyond int64 (an id: OverflowError) or a lone surrogate (\\ud800) in a text value
        assert fast is None, "the fast parse accepted a file the exact parse refuses"
        return "error", str(exc)
    if fast is not None:
        assert not bad, "the fast parse accepted a file with bad lines"
        assert fast.schema == table.schema
        assert fast.to_pylist() == table.to_pylist()
    return table.to_pylist(), bad


def _line(i: int) -> str:
    return json.dumps(
        {
            "id": i,
            "name": f"n{i}",
            "amount": i * 1.25,
            "qty": i % 7,
            "modified_at": f"2026-03-{i % 28 + 1:02d} 10:00:00",
        }
    )


# Text that goes into a line in place of a value, a key, a separator or the whole line: each is bad
# for the exact parse, or good only in a form the fast parse must notice.
FRAGMENTS = [
    "true", "false", "1.0", "1e2", "-0", "NaN", "Infinity", "-Infinity", "1e400", "9007199254740993",
    "18446744073709551616", '"5"', '"x"', "null", "{}", "[]", '{"a":1}', '"2026-1-05 3:04:05"',
    '"2026-02-30 10:00:00"', '"0000-01-01 00:00:00"', '"2026-03-01  10:00:00"', '"a\\u2028b"', '"a\u2028b"',
    '"\\ud800"', '"\\ud83d\\ude00"', '"tab\there"', '"caf\u00e9"', '"\\u0000"', "12345678901234567890",
]  # fmt: skip
INSERTS = ["", " ", "\t", "\r", "\x0b", "\x0c", "\x1c", "\x1e", "\u0085", "\u2028", "\ufeff", "\u00a0", "\n", "{}", ","]


@st.composite
def jsonl_files(draw: st.DrawFn) -> bytes:
    n = draw(st.integers(1, 6))
    lines = [_line(draw(st.integers(1, 9))) if draw(st.booleans()) else _line(i) for i in range(1, n + 1)]
    bases = list(lines)  # the valid line each (possibly already broken) line was made from
    for _ in range(draw(st.integers(0, 3))):
        k = draw(st.integers(0, len(lines) - 1))
        obj = json.loads(bases[k])
        kind = draw(st.sampled_from(["value", "drop", "key", "insert", "line", "twice", "duplicate"]))
        text = json.dumps(obj)
        if kind == "value":
            col = draw(st.sampled_from(sorted(obj)))
            text = text.replace(f'"{col}": {json.dumps(obj[col])}', f'"{col}": {draw(st.sampled_from(FRAGMENTS))}')
        elif kind == "drop":
            obj.pop(draw(st.sampled_from(sorted(obj))))
            text = json.dumps(obj)
        elif kind == "key":
            text = text[:-1] + f', "{draw(st.sampled_from(["extra", "name", "id"]))}": 1}}'
        elif kind == "insert":
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(st.sampled_from(INSERTS)) + text[at:]
        elif kind == "line":
            other = _line(draw(st.integers(10, 12)))
            text = draw(st.sampled_from(["", "  ", "[1]", "5", "{", text + " " + other, text + other, text + text]))
        elif kind == "twice":
            lines.insert(k, text)
            bases.insert(k, bases[k])
        else:
            text = text.replace(f'"id": {obj["id"]}', '"id": 1')
        lines[k] = text
    end = draw(st.sampled_from(["\n", "", "\n\n", "\r\n"]))
    return ("\n".join(lines) + end).encode("utf-8", errors="surrogatepass")


@hypothesis_settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jsonl_files())
@example(b'{"id": 1, "modified_at": "2026-01-01 00:00:00"}\n')
@example(
    b'{"id": 1, "modified_at": "2026-01-01 00:00:00",\n"name": "a"} {"id": 2, "modified_at": "2026-01-01 00:00:00"}\n'
)
@example(b'{"id": 1, "modified_at": "2026-01-01 00:00:00"}\n\n{"id": 2, "modified_at": "2026-01-01 00:00:00"}{"id": 3, "modified_at": "2026-01-01 00:00:00"}\n')  # fmt: skip
@example(b'{"id": 1, "amount": 1, "qty": -0, "name": "caf\\u00e9 \\/", "modified_at": "2024-02-29 23:59:59"}')
def test_fast_parse_lands_what_the_exact_parse_lands(data: bytes) -> None:
    """Whatever the file, the fast parse either gives exactly the exact parse's rows (and the file
    has no bad line) or steps aside (see _parsed)."""
    _parsed(data)


def test_fast_parse_takes_clean_files_and_leaves_doubtful_ones(tmp_path: Path) -> None:
    """The generator's files all go the fast way with the exact parse's rows; each kind of doubt
    sends a file the exact way (and the landing quarantines what it did before)."""
    src = tmp_path / "app"
    generate(src, seed=4, accounts=60, acct_ids=ACCT_IDS)
    manifest = json.loads((src / "manifest.json").read_text())
    for meta in manifest["files"]:
        data = (src / meta["path"]).read_bytes()
        columns = {
            c["name"]: {"data_type": {"int": "bigint", "num": "double"}.get(c["type"], "text"),
                        "nullable": c["name"] not in ("id", "modified_at")}
            for c in meta["columns"]
        }  # fmt: skip
        fast = parse_fast(meta["path"], data, columns)
        exact, bad = parse_exact(meta["path"], meta["entity"], data, columns)
        assert fast is not None and not bad, meta["path"]
        assert fast.equals(exact), meta["path"]
    good = _line(1) + "\n" + _line(2) + "\n"
    assert parse_fast("f", good.encode(), COLUMNS) is not None
    doubtful = {
        "int in num": good.replace('"amount": 1.25', '"amount": 9007199254740993'),
        "bool in int": good.replace('"qty": 1', '"qty": true'),
        "number in text": good.replace('"name": "n1"', '"name": 1'),
        "loose timestamp": good.replace("2026-03-02 10:00:00", "2026-3-2 10:00:00"),
        "no such day": good.replace("2026-03-02", "2026-02-30"),
        "no such hour": good.replace("2026-03-02 10:00:00", "2026-03-02 25:00:00"),
        "no modified_at": good.replace(', "modified_at": "2026-03-02 10:00:00"', ""),
        "id twice": good.replace('"id": 2', '"id": 1'),
        "blank line": good.replace("\n", "\n\n", 1),
        "carriage return": good.replace("\n", "\r\n"),
        "two rows on a line": good.replace("}\n{", "} {", 1) + _line(3) + "\n",
        "a row across lines": good.replace(', "name"', ',\n"name"', 1).replace("}\n{", "} {", 1),
        "carriage return in a line": good.replace(', "name"', ',\r"name"'),
        "U+2028 in a string": good.replace('"n1"', '"n\u20281"'),
        "null id": good.replace('"id": 2', '"id": null'),
    }
    for why, text in doubtful.items():
        assert parse_fast("f", text.encode(), COLUMNS) is None, why
        _parsed(text.encode())


# ------------------------------------------------------------------------------------------------ direct write
def _tables(db: Path, rows: bool = True) -> dict[str, list[tuple]]:
    """Every raw_kore_app table but dlt's own: its columns (name, type, nullable), then its rows."""
    with duckdb.connect(str(db), read_only=True) as con:
        names = [
            t
            for (t,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw_kore_app' order by 1"
            ).fetchall()
            if not t.startswith("_dlt")
        ]
        out = {}
        for t in names:
            out[t] = con.execute(
                "select column_name, data_type, is_nullable from information_schema.columns "
                "where table_schema = 'raw_kore_app' and table_name = ? order by ordinal_position",
                [t],
            ).fetchall()
            if rows:
                out[t] += sorted(con.execute(f"select * from raw_kore_app.{t}").fetchall(), key=repr)
        return out


def _same_rows(a: Path, b: Path, tables: list[str]) -> None:
    """Each table holds the same rows in both warehouses (EXCEPT ALL both ways), dlt's ids aside."""
    with duckdb.connect(str(a)) as con:
        con.execute(f"attach '{b}' as other (read_only)")
        for t in tables:
            cols = ", ".join(
                c
                for (c,) in con.execute(
                    "select column_name from information_schema.columns where table_catalog = 'other' "
                    "and table_schema = 'raw_kore_app' and table_name = ? order by ordinal_position",
                    [t],
                ).fetchall()
                if c not in direct.DLT_COLUMNS
            )
            for x, y in (("", "other."), ("other.", "")):
                diff = con.execute(
                    f"select count(*) from (select {cols} from {x}raw_kore_app.{t} "
                    f"except all select {cols} from {y}raw_kore_app.{t})"
                ).fetchone()[0]
                assert diff == 0, f"{t}: {diff} rows of {x or 'this'} not in the other"


def _break_seasons(src: Path) -> bytes:
    """The app exports three bad lines in season.jsonl (the manifest agrees with the bytes); returns
    the clean file, for :func:`_moved_on`."""
    clean = (src / "season.jsonl").read_bytes()
    lines = clean.decode().splitlines()
    lines += ['{"id": "x"', lines[0], lines[1].replace('"season_year":', '"season_year": "twenty", "x":')]
    republish(src, "season.jsonl", ("\n".join(lines) + "\n").encode())
    return clean


def _app_with_bad_lines(src: Path, seed: int) -> bytes:
    generate(src, seed=seed, accounts=80, acct_ids=ACCT_IDS)
    return _break_seasons(src)


def _moved_on(src: Path, clean_seasons: bytes) -> dict[str, Any]:
    """:func:`sandbox.kore_apps.mutate` (which reads the clean files), the bad lines still there."""
    (src / "season.jsonl").write_bytes(clean_seasons)
    res = mutate(src, fraction=0.1)
    _break_seasons(src)
    return res


def _land(workdir: Path, src: Path, monkeypatch: pytest.MonkeyPatch, packages: bool = False) -> dict[str, Any]:
    with monkeypatch.context() as m:
        if packages:
            m.setattr(common, "DIRECT_DESTINATIONS", frozenset())
        return land_kore_apps(get_settings(workdir), src)


def test_direct_and_package_paths_land_the_same_tables(
    workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """First landing, a re-run and a landing after the app moved on: the same tables (columns, types,
    nullability, rows) through dlt's packages as through the direct write; the re-run writes nothing."""
    dbs = {}
    for way in ("direct", "packages"):
        src = tmp_path / way / "app"
        clean_seasons = _app_with_bad_lines(src, seed=9)
        wd = tmp_path / way / "work"
        first = _land(wd, src, monkeypatch, packages=way == "packages")
        assert first["quarantined"] == 3 and first["files_parsed_fast"] == 38
        db = dbs[way] = get_settings(wd).duckdb_path
        before = _tables(db)
        with duckdb.connect(str(db), read_only=True) as con:
            loads = con.execute("select count(*) from raw_kore_app._dlt_loads").fetchone()[0]
        again = _land(wd, src, monkeypatch, packages=way == "packages")
        assert again["rows_loaded"] == 0
        assert (again["rows_read"], again["quarantined"]) == (first["rows_read"], first["quarantined"])
        assert again["files_unchanged"] == (39 if way == "direct" else 0)  # the direct path does not read them
        after = _tables(db)
        with duckdb.connect(str(db), read_only=True) as con:
            loads_after = con.execute("select count(*) from raw_kore_app._dlt_loads").fetchone()[0]
        if way == "direct":  # the package path re-merges the quarantine each run
            assert after == before and loads_after == loads, "a re-run over unchanged files wrote something"
        res = _moved_on(src, clean_seasons)
        third = _land(wd, src, monkeypatch, packages=way == "packages")
        assert third["rows_loaded"] == res["changed_rows"] > 0
    tables = sorted(t for t in _tables(dbs["packages"]) if t != direct.CURSOR_TABLE)
    assert set(_tables(dbs["direct"])) == {*tables, direct.CURSOR_TABLE} and "quarantine" in tables
    direct_columns = _tables(dbs["direct"], rows=False)
    assert {t: direct_columns[t] for t in tables} == _tables(dbs["packages"], rows=False)
    _same_rows(dbs["direct"], dbs["packages"], tables)
    for db in dbs.values():  # every row's load is a finished load (what the landing guard checks)
        with duckdb.connect(str(db), read_only=True) as con:
            for t in tables:
                orphans = con.execute(
                    f"select count(*) from raw_kore_app.{t} where _dlt_load_id not in "
                    "(select load_id from raw_kore_app._dlt_loads where status = 0)"
                ).fetchone()[0]
                assert orphans == 0, (db, t)


def test_direct_path_writes_only_what_changed(workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file that changed by one new row: that row is merged, the file's quarantined lines (still
    the same) are not written again, the other files are not read."""
    src, wd = tmp_path / "app", tmp_path / "work"
    _app_with_bad_lines(src, seed=3)
    first = _land(wd, src, monkeypatch)
    db = get_settings(wd).duckdb_path
    before = _tables(db)
    new = {"id": 77, "name": "2027-28 Season", "modified_at": "2030-01-01 00:00:00"}
    republish(src, "season.jsonl", (src / "season.jsonl").read_bytes() + (json.dumps(new) + "\n").encode())
    res = _land(wd, src, monkeypatch)
    assert (res["rows_loaded"], res["files_unchanged"], res["quarantined"]) == (1, 38, first["quarantined"])
    after = _tables(db)
    assert after["quarantine"] == before["quarantine"], "quarantined lines written again"
    assert {t: rows for t, rows in after.items() if t not in ("season", direct.CURSOR_TABLE)} == {
        t: rows for t, rows in before.items() if t not in ("season", direct.CURSOR_TABLE)
    }
    assert len(after["season"]) == len(before["season"]) + 1


def test_direct_path_continues_from_the_package_paths_cursors(
    workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warehouse landed by dlt's packages (the code before the direct write), then by the direct
    write: only the rows the app changed are written, even when the workdir lost dlt's local state
    (the cursors come back from the warehouse; with the local state they are simply there)."""
    for lost_state in (True,):
        src = tmp_path / str(lost_state) / "app"
        wd = tmp_path / str(lost_state) / "work"
        generate(src, seed=12, accounts=80, acct_ids=ACCT_IDS)
        _land(wd, src, monkeypatch, packages=True)
        res = mutate(src, fraction=0.1)
        if lost_state:
            shutil.rmtree(get_settings(wd).dlt_pipelines_dir / "kore_apps")
        moved = _land(wd, src, monkeypatch)
        assert moved["rows_loaded"] == res["changed_rows"] > 0, lost_state
        assert _land(wd, src, monkeypatch)["rows_loaded"] == 0

    clean = tmp_path / "clean"
    generate(clean / "app", seed=12, accounts=80, acct_ids=ACCT_IDS)
    _land(clean / "work", clean / "app", monkeypatch)
    mutate(clean / "app", fraction=0.1)
    _land(clean / "work", clean / "app", monkeypatch)
    tables = [t for t in _tables(get_settings(clean / "work").duckdb_path) if t != direct.CURSOR_TABLE]
    for lost_state in (True,):
        _same_rows(
            get_settings(tmp_path / str(lost_state) / "work").duckdb_path,
            get_settings(clean / "work").duckdb_path,
            tables,
        )


def test_a_direct_write_that_fails_midway_leaves_nothing(
    workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the first table is written rolls the whole run back (rows, quarantine,
    cursors, _dlt_loads); the re-run then gives the warehouse a clean run gives."""
    for way in ("crash", "clean"):
        clean_seasons = _app_with_bad_lines(tmp_path / way / "app", seed=6)
        _land(tmp_path / way / "work", tmp_path / way / "app", monkeypatch)
        _moved_on(tmp_path / way / "app", clean_seasons)
    wd, src = tmp_path / "crash" / "work", tmp_path / "crash" / "app"
    db = get_settings(wd).duckdb_path

    def snapshot() -> dict[str, list[tuple]]:
        with duckdb.connect(str(db), read_only=True) as con:
            loads = con.execute("select * from raw_kore_app._dlt_loads order by load_id").fetchall()
        return {**_tables(db), "_dlt_loads": loads}

    before = snapshot()
    real_merge, calls = direct._merge, []

    def merge_then_fail(*args: Any) -> None:
        real_merge(*args)
        calls.append(args[2].name)
        if len(calls) == 2:
            raise RuntimeError("killed mid-write")

    with monkeypatch.context() as m:
        m.setattr(direct, "_merge", merge_then_fail)
        with pytest.raises(RuntimeError, match="killed mid-write"):
            _land(wd, src, monkeypatch)
    assert len(calls) == 2
    assert snapshot() == before
    _land(wd, src, monkeypatch)
    _land(tmp_path / "clean" / "work", tmp_path / "clean" / "app", monkeypatch)
    after, clean = _tables(db), _tables(get_settings(tmp_path / "clean" / "work").duckdb_path)
    assert set(after) == set(clean)
    _same_rows(db, get_settings(tmp_path / "clean" / "work").duckdb_path, sorted(clean))
