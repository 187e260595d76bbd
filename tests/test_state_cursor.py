"""The resource-state cursor that replaced ``dlt.sources.incremental`` in the merge pipelines:
older rows and boundary rows already seen are dropped, the rest kept, for dict rows and Arrow alike."""

from __future__ import annotations

import pyarrow as pa

from dlt_pipelines.state_cursor import StateCursor

ROWS = [
    {"id": "a", "m": "2026-10-01 10:00:00"},  # older than the cursor
    {"id": "b", "m": "2026-10-02 08:00:00"},  # at the cursor, seen there last run
    {"id": "c", "m": "2026-10-02 08:00:00"},  # at the cursor, new
    {"id": "d", "m": "2026-10-03 09:00:00"},  # newer
    {"id": "e", "m": "2026-10-03 09:00:00"},  # newer, at the new top
]


def _state() -> dict:
    return {"cursor": "2026-10-02 08:00:00", "keys_at_cursor": ["b"]}


def test_rows_drop_old_and_seen_boundary_then_commit_moves_cursor() -> None:
    state = _state()
    cur = StateCursor("m", "1900-01-01 00:00:00", "id", state)
    assert cur.start == "2026-10-02 08:00:00"
    assert [r["id"] for r in cur.rows(ROWS)] == ["c", "d", "e"]
    cur.commit()
    assert state == {"cursor": "2026-10-03 09:00:00", "keys_at_cursor": ["d", "e"]}
    # the next run sees the same rows again: nothing is new
    assert StateCursor("m", "1900-01-01 00:00:00", "id", state).rows(ROWS) == []


def test_arrow_table_filtered_like_rows() -> None:
    state = _state()
    cur = StateCursor("m", "1900-01-01 00:00:00", "id", state)
    kept = cur.table(pa.Table.from_pylist(ROWS))
    assert kept.column("id").to_pylist() == ["c", "d", "e"]
    cur.commit()
    assert state["cursor"] == "2026-10-03 09:00:00" and state["keys_at_cursor"] == ["d", "e"]


def test_first_run_keeps_everything_and_legacy_incremental_state_is_resumed() -> None:
    fresh: dict = {}
    cur = StateCursor("m", "1900-01-01 00:00:00", "id", fresh)
    assert len(cur.rows(ROWS)) == len(ROWS)
    legacy = {"incremental": {"m": {"last_value": "2026-10-03 09:00:00", "unique_hashes": ["x"]}}}
    cur = StateCursor("m", "1900-01-01 00:00:00", "id", legacy)
    assert [r["id"] for r in cur.rows(ROWS)] == ["d", "e"], "the boundary is merged once more, nothing older"
