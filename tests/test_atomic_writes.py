"""Multi-table writes are atomic: a run killed inside its final write leaves the old state, and a
plain re-run (no flags) repairs it to what a clean run writes (issue 17, item 3)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

from dedup import store
from dedup.pipeline import run_dedup
from kore.config import get_settings
from kore.warehouse import connect
from tests.test_dedup_fixtures import all_records

REPO = Path(__file__).resolve().parent.parent
OUTPUTS = ("clusters", "account_contact_map", "golden_contacts", "review_queue", "golden_accounts", "push_holds")

# a dedup run that dies (SIGKILL, no clean-up of any kind) when its write step reaches TABLE
KILL_IN_WRITE = """
import os, signal, sys
from dedup import store
from dedup.pipeline import run_dedup
from kore.config import get_settings

real = store.write_df
def write_df(wh, table, df, replace=False):
    if table == sys.argv[2]:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(wh, table, df, replace)
store.write_df = write_df
run_dedup(get_settings(sys.argv[1]), progress=False)
"""


def _seed(workdir: Path) -> None:
    with connect(get_settings(workdir)) as wh:
        wh.replace_table("dedup", "dedup_person_records", all_records())


def _partition(workdir: Path) -> set[frozenset]:
    with connect(get_settings(workdir)) as wh:
        cl = wh.query_df("select record_id, cluster_id from kore_dedup.clusters")
    return {frozenset(g["record_id"]) for _, g in cl.groupby("cluster_id")}


def _tables(workdir: Path) -> dict[str, int]:
    with connect(get_settings(workdir)) as wh:
        return {t: wh.row_count("kore_dedup", t) for t in OUTPUTS if wh.table_exists("kore_dedup", t)}


def _kill_in_write(workdir: Path, table: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KORE_", "DLT_", "DBT_"))}
    env.update(PYTHONPATH=str(REPO), KORE_WORKDIR=str(workdir))
    proc = subprocess.run([sys.executable, "-c", KILL_IN_WRITE, str(workdir), table], env=env, cwd=REPO, timeout=300)
    return proc.returncode


# _pair_scores_next: written on the run's writer thread (store.Writes) while resolving goes on
@pytest.mark.parametrize("table", ["account_contact_map", "golden_accounts", "_pair_scores_next"])
def test_killed_first_dedup_run_is_repaired_by_a_plain_rerun(tmp_path: Path, table: str) -> None:
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    for wd in (clean, killed):
        wd.mkdir()
        _seed(wd)
    run_dedup(get_settings(clean), progress=False)
    assert _kill_in_write(killed, table) == -9
    # clusters (written before the kill point) did not survive: the first run left no outputs at all
    assert _tables(killed) == {}
    run_dedup(get_settings(killed), progress=False)  # plain re-run: no --full
    assert _tables(killed) == _tables(clean)
    assert _partition(killed) == _partition(clean)


def test_failed_incremental_write_keeps_the_last_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(tmp_path)
    s = get_settings(tmp_path)
    run_dedup(s, progress=False)
    with connect(s) as wh:
        before = {t: wh.query_df(f"select * from kore_dedup.{t}") for t in OUTPUTS}
        recs = all_records()
        recs.loc[recs["record_id"] == "A:2002:1", "email"] = "someone.else@example.org"
        recs["row_hash"] = recs["row_hash"].where(recs["record_id"] != "A:2002:1", "changed")
        wh.replace_table("dedup", "dedup_person_records", recs)
    real = store.replace_rows

    def fail_on_golden(wh, table, *args, **kw):  # dies after clusters and the mapping were rewritten
        if table == "golden_contacts":
            raise RuntimeError("killed inside the write")
        return real(wh, table, *args, **kw)

    monkeypatch.setattr(store, "replace_rows", fail_on_golden)
    with pytest.raises(RuntimeError, match="killed inside the write"):
        run_dedup(s, progress=False)
    with connect(s) as wh:
        for t in OUTPUTS:
            pd.testing.assert_frame_equal(wh.query_df(f"select * from kore_dedup.{t}"), before[t], check_like=True)
    monkeypatch.setattr(store, "replace_rows", real)
    assert run_dedup(s, progress=False)["mode"] == "incremental"


def test_a_failed_write_behind_fails_the_full_run_and_keeps_the_last_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The staging writes a full run leaves to its writer thread (the records, the pair scores): one
    that fails fails the run with its own error, after the run waited for it, and the outputs of
    the last run stay as they were."""
    _seed(tmp_path)
    s = get_settings(tmp_path)
    run_dedup(s, progress=False)
    with connect(s) as wh:
        before = {t: wh.query_df(f"select * from kore_dedup.{t}") for t in OUTPUTS}
    real = store.write_df

    def fail_on_scores(wh, table, df, replace=False):
        if table == "_pair_scores_next":
            raise RuntimeError("disk full while writing the pair scores")
        return real(wh, table, df, replace)

    monkeypatch.setattr(store, "write_df", fail_on_scores)
    with pytest.raises(RuntimeError, match="disk full while writing the pair scores"):
        run_dedup(s, full=True, progress=False)
    assert not any(t.name == "dedup-write" for t in threading.enumerate())
    with connect(s) as wh:
        for t in OUTPUTS:
            pd.testing.assert_frame_equal(wh.query_df(f"select * from kore_dedup.{t}"), before[t], check_like=True)
    monkeypatch.setattr(store, "write_df", real)
    assert run_dedup(s, full=True, progress=False)["mode"] == "full"


@pytest.mark.parametrize(
    ("damage", "table", "column"),
    [
        # a warehouse an older version left half-written (review_queue missing)
        ("drop table kore_dedup.review_queue", "review_queue", "record_id_l"),
        # records stored before a blocking key family existed would never be blocked on it: an
        # incremental run would miss every pair only that key finds
        ("alter table kore_dedup.records_norm drop column k_sname_zip", "records_norm", "k_sname_zip"),
        # blocking-key codes made otherwise (a DuckDB that computed them otherwise): no changed record's
        # key would find its stored neighbours
        ("update kore_dedup.records_norm set k_email = k_email + 1", "records_norm", "k_email"),
        # the text keys a version before the codes stored
        (
            "alter table kore_dedup.records_norm alter k_name type varchar using 'name:' || cast(k_name as varchar)",
            "records_norm",
            "k_name",
        ),
    ],
    ids=[
        "half-written-older-version",
        "without-a-blocking-key-of-today",
        "key-codes-of-another-hash",
        "text-keys-of-an-older-version",
    ],
)
def test_state_an_incremental_run_cannot_trust_is_rebuilt(tmp_path: Path, damage: str, table: str, column: str) -> None:
    """Stored state the incremental run cannot build on gets a full run, which writes it whole again."""
    _seed(tmp_path)
    s = get_settings(tmp_path)
    run_dedup(s, progress=False)
    with connect(s) as wh:
        wh.execute(damage)
    assert run_dedup(s, progress=False)["mode"] == "full"
    with connect(s) as wh:
        assert wh.table_exists("kore_dedup", table)
        assert column in wh.query_df(f"select * from kore_dedup.{table} where 1 = 0").columns
    assert run_dedup(s, progress=False)["mode"] == "incremental"  # the rebuilt state is trusted again


def test_build_state_write_is_one_transaction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure between the delete and the insert of the build state keeps the previous state."""
    from types import SimpleNamespace

    from dbt_build.scope import PHASES, read_state, write_state
    from kore.warehouse import Warehouse

    s = get_settings(tmp_path)
    plan = SimpleNamespace(
        phase=PHASES["pre-dedup"], command="build", project_hash="p1", versions={"a": "1"}, nodes=None
    )
    with connect(s) as wh:
        write_state(wh, plan)
        before = read_state(wh)

        def dies(*args, **kw):
            raise RuntimeError("killed between delete and insert")

        monkeypatch.setattr(Warehouse, "append_df", dies)
        with pytest.raises(RuntimeError):
            write_state(wh, SimpleNamespace(**{**vars(plan), "project_hash": "p2"}))
        assert read_state(wh) == before


# a build that dies (SIGKILL) the moment its dbt invocation returned: dbt has written its manifest
# and its tables, the build state is not written yet -- where `kore bench chaos` found the divergence
KILL_AFTER_DBT = """
import os, signal, sys
from dbt_build import scope
from kore.config import get_settings

real = scope.run_dbt
def run_dbt(settings, args, *a, **kw):
    result = real(settings, args, *a, **kw)
    if args[0] == "build":
        os.kill(os.getpid(), signal.SIGKILL)
    return result
scope.run_dbt = run_dbt
scope.build_phase(get_settings(sys.argv[1]), scope.Phase("seeds", select=("resource_type:seed",)))
"""


def test_build_killed_after_dbt_is_repaired_by_a_plain_rerun_to_the_clean_state(tmp_path: Path) -> None:
    """The first build in a workdir, killed after dbt wrote its manifest but before the build state:
    the plain rerun records what a clean first build records. (The versions were read from whatever
    manifest was on disk: none for the clean build, the killed build's for the rerun.)"""
    from dbt_build.scope import Phase, build_phase, read_state

    seeds = Phase("seeds", select=("resource_type:seed",))  # the whole project parsed, two seeds built

    def state(workdir: Path) -> dict:
        with connect(get_settings(workdir)) as wh:
            return {k: {f: v for f, v in s.items() if f != "built_at"} for k, s in read_state(wh).items()}

    clean, killed = tmp_path / "clean", tmp_path / "killed"
    for wd in (clean, killed):
        wd.mkdir()
    assert build_phase(get_settings(clean), seeds).ok
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KORE_", "DLT_", "DBT_"))}
    env.update(PYTHONPATH=str(REPO), KORE_WORKDIR=str(killed))
    proc = subprocess.run([sys.executable, "-c", KILL_AFTER_DBT, str(killed)], env=env, cwd=REPO, timeout=300)
    assert proc.returncode == -9
    assert (get_settings(killed).dbt_target_dir / "manifest.json").exists() and state(killed) == {}
    assert build_phase(get_settings(killed), seeds).ok  # plain rerun
    assert state(killed) == state(clean)
    (key, recorded), *_ = state(clean).items()
    assert recorded["versions"].get("archtics.cust") == "absent"  # every source known, none landed here
