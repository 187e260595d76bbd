"""KORE apps landing, the fast way: Arrow's JSON reader against the exact line-by-line parse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from dlt_pipelines.kore_apps import KoreAppExportError, parse_exact, parse_fast
from sandbox.kore_apps import generate

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
