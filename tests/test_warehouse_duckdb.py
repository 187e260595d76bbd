"""The warehouse connection answers UNIONs correctly on DuckDB: the DuckDB this project installs has an
optimizer ("common_subplan", duckdb/duckdb#25819) that returns one arm's column for both arms of a
UNION whose arms share a join subtree; every ``kore.warehouse`` connection switches it off."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dedup import hold_pairs
from kore.config import get_settings
from kore.warehouse import connect

# the holds' question in miniature: both clusters' contact keys of the review pairs touching r1
PAIRS = (
    "from q join cl a on a.record_id = q.l join cl b on b.record_id = q.r "
    "join g ga on ga.cluster_id = a.cluster_id join g gb on gb.cluster_id = b.cluster_id "
    "where q.l in (select id from reach) or q.r in (select id from reach)"
)


def _tables(wh) -> None:
    wh.execute("create table q as select * from (values ('r1', 'r2'), ('r3', 'r4')) t(l, r)")
    wh.execute(
        "create table cl as select * from (values ('r1', 'c1'), ('r2', 'c2'), ('r3', 'c3'), ('r4', 'c4')) t(record_id, cluster_id)"
    )
    wh.execute(
        "create table g as select * from (values ('c1', 'k1'), ('c2', 'k2'), ('c3', 'k3'), ('c4', 'k4')) t(cluster_id, key)"
    )
    wh.execute("create table reach as select 'r1' as id")


def test_union_arms_sharing_a_join_keep_their_own_columns(tmp_path: Path) -> None:
    with connect(get_settings(tmp_path)) as wh:
        _tables(wh)
        got = wh.query_df(f"select ga.key {PAIRS} union select gb.key {PAIRS}")
    assert sorted(got["key"]) == ["k1", "k2"]  # the optimizer's answer was ["k1"]


def test_reached_keys_include_both_sides_of_a_review_pair(tmp_path: Path) -> None:
    """The incremental holds recompute both contacts of every review pair a change touches
    (``dedup.hold_pairs.reached_keys``)."""
    with connect(get_settings(tmp_path)) as wh:
        wh.execute("create schema kore_dedup")
        wh.execute("create table kore_dedup.review_queue as select 'r1' as record_id_l, 'r2' as record_id_r")
        wh.execute(
            "create table kore_dedup.clusters as select * from (values ('r1', 'c1'), ('r2', 'c2')) t(record_id, cluster_id)"
        )
        wh.execute(
            "create table kore_dedup.golden_contacts as select * from (values ('c1', 'k1'), ('c2', 'k2')) t(cluster_id, contact_key)"
        )
        wh.execute(
            "create table kore_dedup.push_holds as select 'r9' as record_id, 'r8' as partner_record_id, 'k9' as contact_key"
        )
        wh.execute("create table kore_dedup._reach as select 'r2' as id")
        assert hold_pairs.reached_keys(wh, "kore_dedup._reach") == {"k1", "k2"}


def test_table_exists_follows_drops_and_rollbacks(tmp_path: Path) -> None:
    """``table_exists`` remembers tables it has seen (a catalogue query each time cost ~4 ms, ~100 times
    a dedup run) and forgets them when a statement may have dropped them or a transaction rolled back."""
    with connect(get_settings(tmp_path)) as wh:
        wh.execute("create schema s")
        assert not wh.table_exists("s", "t")
        wh.execute("create table s.t (x int)")
        assert wh.table_exists("s", "t") and wh.table_exists("S", "T")
        wh.execute("drop table s.t")
        assert not wh.table_exists("s", "t")
        try:
            with wh.transaction():
                wh.replace_table("s", "u", pd.DataFrame({"x": [1]}))
                assert wh.table_exists("s", "u")
                raise RuntimeError("killed")
        except RuntimeError:
            pass
        assert not wh.table_exists("s", "u")
        wh.replace_table("s", "v", pd.DataFrame({"x": [1]}))
        wh.execute("alter table s.v rename to w")
        assert not wh.table_exists("s", "v") and wh.table_exists("s", "w")
