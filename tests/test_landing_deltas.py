"""Delta landing over real HTTP against the sandbox Archtics API: the catch-up survives 429/500/
dropped connections and a killed process, lands the boundary rows once, merges by business key,
replaces child lists, and a repeated run writes nothing. The replica is compared to /admin/state."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import duckdb
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from dlt_pipelines import archtics_common, archtics_deltas, archtics_deltas_direct
from dlt_pipelines.archtics_common import RowHasher, business_key, row_hash
from dlt_pipelines.archtics_deltas import land_deltas, resume_cursor
from dlt_pipelines.archtics_export import land_export
from kore.config import get_settings
from kore.contracts.archtics import DATASETS, parse_merge_note
from sandbox.archtics_api import ArchticsSandbox
from sandbox.generator import generate

REPO = Path(__file__).resolve().parent.parent
FAST = {"backoff_base": 0.01, "backoff_max": 0.2}


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated export (with post-cutoff live changes) landed into a template workdir."""
    base = tmp_path_factory.mktemp("deltas")
    generate(400, base / "export", seed=11, change_rate=0.05, show_progress=False)
    template = base / "template"
    old = os.environ.pop("KORE_DUCKDB_PATH", None)
    land_export(get_settings(template), base / "export", show_progress=False)
    if old is not None:
        os.environ["KORE_DUCKDB_PATH"] = old
    return base


@pytest.fixture
def work(landed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the landed workdir (warehouse + dlt state); sandbox data shared read-only."""
    wd = tmp_path / "work"
    shutil.copytree(landed / "template", wd)
    for var in ("KORE_DUCKDB_PATH", "KORE_EXCLUDED_ACCOUNT_TYPES", "KORE_TARGET"):
        monkeypatch.delenv(var, raising=False)
    return wd


def api(landed: Path, faults: dict | None = None) -> ArchticsSandbox:
    return ArchticsSandbox(landed / "sandbox", landed / "export", faults=faults)


def live_state(sb: ArchticsSandbox, dataset: str) -> list[dict]:
    tok = requests.post(
        f"{sb.url}/oauth/token",
        data={"grant_type": "client_credentials", "client_id": sb.client_id, "client_secret": sb.client_secret},
        timeout=30,
    ).json()["access_token"]
    r = requests.get(f"{sb.url}/admin/state", params={"dataset": dataset}, headers={"Authorization": f"Bearer {tok}"})
    r.raise_for_status()
    return r.json()["rows"]


def replica(wd: Path, dataset: str, cols: str = "_row_hash") -> list[tuple]:
    con = duckdb.connect(str(wd / "warehouse.duckdb"), read_only=True)
    try:
        return con.sql(f"select {cols} from raw_archtics.{dataset}").fetchall()
    finally:
        con.close()


def assert_replica_equals_state(wd: Path, sb: ArchticsSandbox) -> None:
    """Every dataset: the same multiset of rows (by content hash), one row per business key."""
    for name, ds in DATASETS.items():
        state = live_state(sb, name)
        want = Counter(row_hash(r) for r in state)
        got = Counter(h for (h,) in replica(wd, name))
        assert got == want, f"{name}: {sum((got - want).values())} extra, {sum((want - got).values())} missing"
        keys = Counter(k for (k,) in replica(wd, name, "_business_key"))
        assert keys == Counter(business_key(r, ds) for r in state), name


def test_catchup_through_faults_equals_live_state(work: Path, landed: Path) -> None:
    faults = {"rate_429": 0.2, "retry_after": 0, "rate_500": 0.15, "rate_drop": 0.15, "seed": 4}
    with api(landed, faults) as sb:
        summary = land_deltas(
            get_settings(work), sb.url, sb.client_id, sb.client_secret, page_size=40,
            show_progress=False, client_options=FAST,
        )  # fmt: skip
        injected = sb.faults.describe()["injected"]
        assert injected["429"] and injected["500"] and injected["drop"], injected
        assert summary["http"]["retries"] >= injected["429"] + injected["500"] + injected["drop"]
        assert summary["rows_written"] > 0
        assert_replica_equals_state(work, sb)
        # the pages were fetched ahead by a thread (dataset after dataset): none is left fetching
        import threading

        assert not [t.name for t in threading.enumerate() if t.name.startswith("fetch-")]
        # account merges land as note rows (old rows kept: the source marks them inactive itself);
        # dbt parses them (int_archtics_account_merges, held to the contract in test_account_merge_notes)
        merge_notes = [r for r in live_state(sb, "note") if (r.get("text") or "").startswith("Merged account")]
        merges = [parse_merge_note(t) for (t,) in replica(work, "note", "text") if parse_merge_note(t)]
        assert merge_notes and len(merges) == len(merge_notes)
        assert sorted(merges) == sorted(parse_merge_note(r["text"]) for r in merge_notes)


def test_catchup_logs_no_dlt_warnings(work: Path, landed: Path) -> None:
    """An operator reads the catch-up's log: dlt must not warn on every run (it did, once per dataset:
    the Arrow batches declared the business key nullable, the resource's primary key did not)."""
    seen: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = seen.append  # type: ignore[method-assign]
    dlt_log = logging.getLogger("dlt")
    dlt_log.addHandler(handler)
    try:
        with api(landed) as sb:
            summary = land_deltas(get_settings(work), sb.url, sb.client_id, sb.client_secret, show_progress=False)
    finally:
        dlt_log.removeHandler(handler)
    assert summary["rows_written"] > 0
    assert [r.getMessage()[:160] for r in seen] == []


def test_second_run_writes_nothing_and_boundary_rows_land_once(work: Path, landed: Path) -> None:
    settings = get_settings(work)
    cutoff = json.loads((landed / "export" / "manifest.json").read_text())["cutoff"]
    with api(landed) as sb:
        first = land_deltas(settings, sb.url, sb.client_id, sb.client_secret, show_progress=False)
        assert first["cutoff"] == cutoff and first["rows_written"] > 0
        # rows changed exactly at the cutoff second are not in the export but are in the replica, once
        at_cutoff = [(n, r) for n in DATASETS for r in live_state(sb, n) if r.get("change_ts") == cutoff]
        assert at_cutoff, "the sandbox puts some changes exactly on the cutoff"
        for name, r in at_cutoff:
            keys = [k for (k,) in replica(work, name, "_business_key")]
            assert keys.count(business_key(r, DATASETS[name])) == 1, name
        before = {n: sorted(replica(work, n, "*"), key=repr) for n in DATASETS}
        second = land_deltas(settings, sb.url, sb.client_id, sb.client_secret, show_progress=False)
        assert second["rows_written"] == 0
        assert second["rows_fetched"] > 0, "the boundary is fetched again (since is inclusive) and dropped"
        # the cursor moved to the newest change fetched: only the rows at each dataset's newest change
        # time are fetched again, not everything since the cutoff
        boundary = 0
        for name in DATASETS:
            ts = [r["change_ts"] for r in live_state(sb, name) if (r.get("change_ts") or "") >= cutoff]
            boundary += ts.count(max(ts)) if ts else 0
        assert second["rows_fetched"] == boundary < first["rows_fetched"]
        after = {n: sorted(replica(work, n, "*"), key=repr) for n in DATASETS}
        assert after == before, "an unchanged batch writes nothing (not even a re-insert)"
        assert_replica_equals_state(work, sb)


def test_lookup_paths_agree_on_what_the_raw_tables_hold(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB looks a batch up in one semi-join against an Arrow table of its values; other
    destinations (SQL Server) in IN lists of a few parameters. Both find exactly the stored hashes
    and the row counts per parent key, whatever the chunk size."""
    stored = [h for (h,) in replica(work, "cust_email")]
    parents = sorted({str(a) for (a,) in replica(work, "cust_email", "acct_id")})
    hashes = [*stored[::3], "0" * 32, "not-a-hash"]
    keys = [*parents[::2], "no-such-account"]
    want_counts = Counter(str(a) for (a,) in replica(work, "cust_email", "acct_id"))
    found = {}
    for native in (True, False):
        monkeypatch.setattr(archtics_deltas, "SEMI_JOIN_DESTINATIONS", ("duckdb",) if native else ())
        monkeypatch.setattr(archtics_deltas, "LOOKUP_CHUNK_DEFAULT", 7)
        pipeline = archtics_deltas.make_pipeline(get_settings(work))
        with archtics_deltas.ExistingRows(pipeline) as existing:
            assert existing.native is native
            found[native] = (existing.hashes("cust_email", hashes), existing.counts("cust_email", "acct_id", keys))
    assert found[True] == found[False] == (set(stored[::3]), {k: want_counts[k] for k in parents[::2]})


def test_retry_after_is_honoured(work: Path, landed: Path) -> None:
    with api(landed, {"sequence": ["429", "429", "ok"], "retry_after": 1}) as sb:
        t0 = time.perf_counter()
        summary = land_deltas(
            get_settings(work), sb.url, sb.client_id, sb.client_secret, datasets=("season",), show_progress=False
        )
        assert time.perf_counter() - t0 >= 2.0, "two 429s with Retry-After: 1 wait at least 2 s"
        assert summary["http"]["retries"] == 2


KILL_SCRIPT = """
import sys
from kore.config import get_settings
from dlt_pipelines.archtics_deltas import land_deltas, resume_cursor
print("STARTED", flush=True)
land_deltas(get_settings(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], page_size=25, show_progress=False)
"""


def test_killed_catchup_then_rerun_equals_live_state(work: Path, landed: Path) -> None:
    # slow pages so the catch-up takes several seconds; the process is killed in the middle
    with api(landed, {"slow_ms": 120, "rate_slow": 1.0}) as sb:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KORE_", "DLT_", "DBT_"))}
        env.update(PYTHONPATH=str(REPO), KORE_WORKDIR=str(work), KORE_ARCHTICS_CLIENT_SECRET="")
        killed = 0
        for delay in (1.5, 3.0):
            proc = subprocess.Popen(
                [sys.executable, "-c", KILL_SCRIPT, str(work), sb.url, sb.client_id, sb.client_secret],
                env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            assert proc.stdout is not None and proc.stdout.readline().strip() == b"STARTED"
            try:
                proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                killed += 1
        assert killed >= 1
        sb.faults.configure({})
        summary = land_deltas(get_settings(work), sb.url, sb.client_id, sb.client_secret, show_progress=False)
        assert summary is not None
        assert_replica_equals_state(work, sb)


def test_child_list_replaces_only_the_accounts_in_the_batch(work: Path, landed: Path, loader: str) -> None:
    """An address removed at the source after the export disappears; other accounts' rows stay."""
    settings = get_settings(work)
    cutoff = json.loads((landed / "export" / "manifest.json").read_text())["cutoff"]
    with api(landed) as sb:
        changed = {r["acct_id"] for r in live_state(sb, "cust_address") if r["change_ts"] >= cutoff}
        assert changed
        con = duckdb.connect(str(settings.duckdb_path))
        in_batch = sorted(changed)[0]
        untouched = con.sql(
            f"select min(acct_id) from raw_archtics.cust_address where acct_id not in ({','.join(changed)})"
        ).fetchall()[0][0]
        for acct, tag in ((in_batch, "stale"), (untouched, "kept")):
            # a row the landed copy has but the source list no longer has (new id, new key, new hash),
            # as an earlier catch-up would have left it (no export file: the landing guard counts
            # export files' rows against the ledger)
            con.execute(
                f"""insert into raw_archtics.cust_address by name
                select * replace ('99999999' as cust_address_id, '{tag}' as _row_hash, null as _source_file,
                                  acct_id || chr(31) || cust_name_id || chr(31) || '99999999' as _business_key)
                from raw_archtics.cust_address where acct_id = '{acct}' limit 1"""
            )
        con.close()
        land_deltas(settings, sb.url, sb.client_id, sb.client_secret, show_progress=False)
        tags = [h for (h,) in replica(work, "cust_address") if h in ("stale", "kept")]
        assert tags == ["kept"], "the batch's account list was replaced; an account outside the batch kept"


def test_cursor_resumes_from_own_state_then_legacy_incremental_then_cutoff() -> None:
    """A warehouse landed while the cursor lived in dlt.sources.incremental keeps its place."""
    legacy = {"incremental": {"change_ts": {"last_value": "2026-10-02 08:00:00"}}}
    assert resume_cursor({}, "2026-10-01 12:00:01") == "2026-10-01 12:00:01"
    assert resume_cursor(legacy, "2026-10-01 12:00:01") == "2026-10-02 08:00:00"
    assert resume_cursor({**legacy, "since": "2026-10-03 00:00:00"}, "2026-10-01 12:00:01") == "2026-10-03 00:00:00"


def test_a_failed_direct_merge_changes_nothing_and_the_rerun_lands_everything(
    work: Path, landed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On DuckDB the whole run's merge and cursors are one transaction: a failure after every
    dataset was merged (while writing the cursors) leaves rows and cursors as they were, so the
    next run fetches and lands the same changes."""
    settings = get_settings(work)
    before = {n: sorted(replica(work, n, "*"), key=repr) for n in DATASETS}

    def fail(*args: object) -> None:
        raise RuntimeError("died while writing the cursors")

    with api(landed) as sb:
        with monkeypatch.context() as m:
            m.setattr(archtics_deltas_direct.DirectMerge, "_write_cursors", fail)
            with pytest.raises(RuntimeError, match="died while writing the cursors"):
                land_deltas(settings, sb.url, sb.client_id, sb.client_secret, show_progress=False)
        assert {n: sorted(replica(work, n, "*"), key=repr) for n in DATASETS} == before
        summary = land_deltas(settings, sb.url, sb.client_id, sb.client_secret, show_progress=False)
        assert summary["rows_written"] > 0
        assert_replica_equals_state(work, sb)


def test_direct_runs_continue_from_the_cursors_of_earlier_package_runs(
    work: Path, landed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warehouse whose catch-up went through dlt's packages (its cursors in dlt's state) goes on
    with the direct path from the same place: only the boundary rows are fetched again."""
    settings = get_settings(work)
    with api(landed) as sb:
        with monkeypatch.context() as m:
            m.setattr(archtics_common, "DIRECT_DESTINATIONS", frozenset())
            first = land_deltas(settings, sb.url, sb.client_id, sb.client_secret, show_progress=False)
        again = land_deltas(settings, sb.url, sb.client_id, sb.client_secret, show_progress=False)
        assert first["rows_written"] > 0 and again["rows_written"] == 0
        assert 0 < again["rows_fetched"] < first["rows_fetched"]
        assert_replica_equals_state(work, sb)


def test_direct_merge_keeps_the_newest_version_of_a_key_changed_twice_in_one_run(work: Path) -> None:
    """A change log may hold two versions of one row in a run: like dlt's ``dedup_sort``, the newest
    ``change_ts`` wins, whatever order the batches came in; other keys are untouched."""
    pipeline = archtics_deltas.make_pipeline(get_settings(work))
    con = duckdb.connect(str(work / "warehouse.duckdb"))
    cols = [c for c in con.sql("select * from raw_archtics.cust limit 0").columns if not c.startswith("_dlt")]
    first, other = con.sql(f"select {', '.join(cols)} from raw_archtics.cust order by acct_id limit 2").fetchall()
    total = con.sql("select count(*) from raw_archtics.cust").fetchall()[0][0]
    con.close()
    row = dict(zip(cols, first, strict=True))

    def version(name: str, ts: str) -> list[dict]:
        return [{**row, "name_last": name, "change_ts": ts}]

    with (
        archtics_deltas.ExistingRows(pipeline) as existing,
        archtics_deltas_direct.DirectMerge(pipeline, existing.client) as merge,
    ):
        merge.stage(DATASETS["cust"], version("Newest", "2026-10-05 10:00:00"))
        merge.stage(DATASETS["cust"], version("Older", "2026-10-04 10:00:00"))
        merge.commit({"cust": archtics_deltas.merge_scope(DATASETS["cust"])}, {"cust": "2026-10-05 10:00:00"})
    got = replica(work, "cust", f"name_last, _business_key = '{row['_business_key']}'")
    assert [r[0] for r in got if r[1]] == ["Newest"] and len(got) == total
    assert (other[cols.index("name_last")], False) in got


def test_a_change_reverted_within_one_run_leaves_the_landed_row(work: Path) -> None:
    """Incremental batches repeat rows: a run may fetch a row's change and, later, its change back
    to what the warehouse holds. The newest version wins even then: nothing is written for that
    key (the older, intermediate version must not replace the landed row), and the run reports no
    row written."""
    pipeline = archtics_deltas.make_pipeline(get_settings(work))
    con = duckdb.connect(str(work / "warehouse.duckdb"))
    cols = [c for c in con.sql("select * from raw_archtics.cust limit 0").columns if not c.startswith("_")]
    (landed,) = con.sql(f"select {', '.join(cols)} from raw_archtics.cust order by acct_id limit 1").fetchall()
    before = sorted(con.sql("select * from raw_archtics.cust").fetchall(), key=repr)
    con.close()
    row = dict(zip(cols, landed, strict=True))
    with (
        archtics_deltas.ExistingRows(pipeline) as existing,
        archtics_deltas_direct.DirectMerge(pipeline, existing.client) as merge,
    ):
        merge.stage(DATASETS["cust"], [{**row, "name_last": "Intermediate", "change_ts": "2026-10-04 10:00:00"}])
        merge.stage(DATASETS["cust"], [{**row, "change_ts": "2026-10-05 10:00:00"}])
        assert merge.merge(DATASETS["cust"], archtics_deltas.merge_scope(DATASETS["cust"])) == 0
        merge.commit({}, {"cust": "2026-10-05 10:00:00"})
    con = duckdb.connect(str(work / "warehouse.duckdb"), read_only=True)
    assert sorted(con.sql("select * from raw_archtics.cust").fetchall(), key=repr) == before
    con.close()


def test_a_raw_table_without_row_hashes_takes_every_fetched_row(work: Path) -> None:
    """A raw table with no ``_row_hash`` column (landed before hashes existed) holds nothing the
    merge can compare: every fetched row is written, the hash column added."""
    pipeline = archtics_deltas.make_pipeline(get_settings(work))
    con = duckdb.connect(str(work / "warehouse.duckdb"))
    con.execute("alter table raw_archtics.note drop column _row_hash")
    cols = [c for c in con.sql("select * from raw_archtics.note limit 0").columns if not c.startswith("_")]
    (landed,) = con.sql(f"select {', '.join(cols)} from raw_archtics.note limit 1").fetchall()
    con.close()
    row = {**dict(zip(cols, landed, strict=True)), "change_ts": "2026-10-05 10:00:00"}
    with (
        archtics_deltas.ExistingRows(pipeline) as existing,
        archtics_deltas_direct.DirectMerge(pipeline, existing.client) as merge,
    ):
        merge.stage(DATASETS["note"], [row])
        assert merge.merge(DATASETS["note"], archtics_deltas.merge_scope(DATASETS["note"])) == 1
        merge.commit({}, {"note": "2026-10-05 10:00:00"})
    got = replica(work, "note", "_row_hash")
    assert sum(h is not None for (h,) in got) == 1


_TEXT = st.one_of(st.none(), st.text(max_size=5), st.sampled_from(["\x1f", "\x1e", "é", "", "a b"]))
_ROWS = st.lists(
    st.dictionaries(st.sampled_from(["acct_id", "name", "_row_hash", "change_ts", "zip", "b"]), _TEXT, min_size=1),
    min_size=1,
    max_size=8,
)


@settings(max_examples=80, deadline=None)
@given(_ROWS)
def test_the_catchups_row_hasher_equals_the_row_hash_definition(rows: list[dict]) -> None:
    """The catch-up hashes rows with column lists cached per key set; a fetched row that equals a
    landed row must keep the landed row's hash (else every unchanged row is written again)."""
    hasher = RowHasher()
    for row in rows + [dict(reversed(list(r.items()))) for r in rows]:
        assert hasher(row) == row_hash(row)


_VALUE = st.one_of(_TEXT, st.integers(-5, 5), st.floats(allow_nan=False, width=32), st.booleans())
_FETCHED = st.lists(
    st.dictionaries(st.sampled_from(["acct_id", "name_last", "change_ts", "zip", "_note", 'b"q']), _VALUE),
    min_size=1,
    max_size=8,
)


@settings(max_examples=80, deadline=None)
@given(_FETCHED)
def test_rows_prepared_in_duckdb_hash_as_the_row_hash_definition(rows: list[dict]) -> None:
    """On DuckDB a fetched batch is prepared in SQL: every row must get the hash and business key
    the Python definition gives it (as the export's rows do), whatever its column list, values that
    are not text, empty text, separators or quotes in names; else unchanged rows are written again
    or changed ones skipped."""
    ds = DATASETS["cust"]
    table, select = archtics_deltas_direct.prepare_sql(rows, ds)
    con = duckdb.connect()
    con.register(archtics_deltas_direct.BATCH_VIEW, table)
    got = con.sql(f"select _row_hash, _business_key from ({select})").fetchall()
    hasher = RowHasher()
    want = [(r["_row_hash"], r["_business_key"]) for r in (archtics_deltas._prepare(r, ds, hasher) for r in rows)]
    assert got == want


def test_both_lookup_paths_keep_the_same_changed_rows(work: Path) -> None:
    """What a batch changes is decided in DuckDB's SQL on DuckDB and row by row elsewhere: both keep
    the same rows. A changed row is kept, an unchanged one dropped; a child list is kept whole when
    one row changed, one was removed or the parent is new, and dropped when it is the same."""
    con = duckdb.connect(str(work / "warehouse.duckdb"), read_only=True)

    def rows(table: str, where: str) -> list[dict]:
        cur = con.sql(
            f"select * exclude (_row_hash, _business_key, _source_file, _source_line, _dlt_load_id, _dlt_id) from raw_archtics.{table} where {where}"
        )
        return [dict(zip(cur.columns, r, strict=True)) for r in cur.fetchall()]

    accts = [
        a
        for (a,) in con.sql(
            "select acct_id from raw_archtics.cust_address group by acct_id having count(*) >= 2 order by acct_id limit 3"
        ).fetchall()
    ]
    same, edited, shortened = (rows("cust_address", f"acct_id = '{a}'") for a in accts)
    custs = rows("cust", f"acct_id in ('{accts[0]}', '{accts[1]}')")
    con.close()
    edited[0] = {**edited[0], "street_addr_1": "1 Changed Street"}
    new_parent = [{**r, "acct_id": "99999999"} for r in same]
    custs[1] = {**custs[1], "name_last": "Changed"}
    batches = {"cust_address": same + edited + shortened[1:] + new_parent, "cust": custs}

    pipeline = archtics_deltas.make_pipeline(get_settings(work))
    kept: dict[str, dict[str, list]] = {}
    with (
        archtics_deltas.ExistingRows(pipeline) as existing,
        archtics_deltas_direct.DirectMerge(pipeline, existing.client) as merge,
    ):
        for name, batch in batches.items():
            ds, hasher = DATASETS[name], RowHasher()
            python = archtics_deltas.changed_rows(
                ds, [archtics_deltas._prepare(r, ds, hasher) for r in batch], existing
            )
            merge.stage(ds, batch)
            merge.merge(ds, archtics_deltas.merge_scope(ds))  # in the run's transaction, never committed
            written = existing.client.native_connection.execute(
                f"select _business_key from raw_archtics.{name} where _dlt_load_id = ?", [merge.load_id]
            )
            kept[name] = {
                "python": sorted(r["_business_key"] for r in python),
                "sql": sorted(k for (k,) in written.fetchall()),
            }
    want_addr = sorted(
        business_key(archtics_deltas._prepare(r, DATASETS["cust_address"], RowHasher()), DATASETS["cust_address"])
        for r in edited + shortened[1:] + new_parent
    )
    assert kept["cust_address"]["python"] == kept["cust_address"]["sql"] == want_addr
    assert kept["cust"]["python"] == kept["cust"]["sql"] == [business_key(custs[1], DATASETS["cust"])]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(), max_size=20), st.integers(1, 3))
def test_pages_read_ahead_come_in_order_and_errors_where_they_happened(items: list[int], depth: int) -> None:
    """The delta pages are fetched ahead by a thread (``read_ahead``): the consumer sees the same
    pages in the same order, and a fetch error after them is raised after them, not earlier."""

    def pages():
        yield from items
        raise RuntimeError("page fetch failed")

    got = []
    with pytest.raises(RuntimeError, match="page fetch failed"):
        for item in archtics_common.read_ahead(pages(), depth=depth):
            got.append(item)
    assert got == items


def test_a_consumer_that_stops_early_stops_the_fetching_thread() -> None:
    """A run that fails while working on a page (a look-up error, a kill) leaves no thread fetching
    further pages: the producer stops and the page iterator is closed."""
    import threading

    closed = threading.Event()

    def pages():
        try:
            yield from range(1000)
        finally:
            closed.set()

    with pytest.raises(ValueError):
        for item in archtics_common.read_ahead(pages(), name="fetch-test"):
            if item == 3:
                raise ValueError("look-up failed")
    assert closed.wait(5)
    assert not any(t.name == "fetch-test" for t in threading.enumerate())
