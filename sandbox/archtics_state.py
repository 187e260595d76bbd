"""The live Archtics state behind the sandbox API: export + post-cutoff changes, in DuckDB.

Why DuckDB: a million-account export has ~10M ticket rows; Python dicts would need many GB, while
DuckDB reads the gzip'd CSV parts directly and pages with an index-free range scan. The state is
built once per (export, live changes) pair into ``<sandbox_dir>/archtics_api_cache/<fingerprint>.duckdb``
(atomically, then opened read-only), so restarting the sandbox or starting several at once is cheap.

Every dataset table holds the dataset's columns and ``change_ts``, stored in the order (change_ts,
parent key, business key), so its ``rowid`` is the row's position. Pages are rowid ranges: the order
is stable and a page token only has to remember the last rowid.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import duckdb
from rich.progress import Progress

from kore.contracts.archtics import DATASETS, Dataset
from sandbox.config import sandbox_settings

CACHE_FORMAT = 4


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_list(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def fingerprint(export_dir: Path, live_dir: Path) -> str:
    h = hashlib.sha256(f"v{CACHE_FORMAT}".encode())
    h.update((export_dir / "manifest.json").read_bytes())
    if live_dir.exists():
        for f in sorted(live_dir.iterdir()):
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:24]


def _read_csv(paths: list[Path], columns: list[str], skip_bad: bool = False) -> str:
    cols = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in columns) + "}"
    return (
        f"read_csv({_sql_list(paths)}, header=true, delim=',', quote='\"', escape='\"', "
        f"columns={cols}, compression='gzip', auto_detect=false{', ignore_errors=true' if skip_bad else ''})"
    )


def _order_key(ds: Dataset) -> str:
    keys = list(ds.parent_key) + [k for k in ds.business_key if k not in ds.parent_key]
    return ", ".join(["change_ts"] + [f"{_q(k)} nulls first" for k in keys])


def build_state(export_dir: Path, live_dir: Path, db_path: Path, show_progress: bool = False) -> None:
    """Load export + live changes into a new DuckDB file at ``db_path`` (written atomically)."""
    manifest = json.loads((export_dir / "manifest.json").read_text())
    progress = Progress(disable=not show_progress, transient=True)
    task = progress.add_task("loading Archtics live state", total=len(DATASETS))
    progress.start()
    tmp = db_path.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
    tmp.unlink(missing_ok=True)
    # a bounded memory limit (the machine is shared): big sorts spill to the cache folder instead
    con = duckdb.connect(
        str(tmp),
        config={"memory_limit": sandbox_settings().duckdb_memory, "temp_directory": str(db_path.parent / "tmp")},
    )
    try:
        con.execute("set enable_progress_bar=false")
        con.execute("set preserve_insertion_order=true")
        order = ["cust", "evnt"] + [d for d in DATASETS if d not in ("cust", "evnt")]  # parents first
        for name in order:
            ds = DATASETS[name]
            parts = [export_dir / f["path"] for f in manifest["files"] if f["dataset"] == name]
            cols = ", ".join(_q(c) for c in ds.columns)
            if parts:
                # a view: the export is read once, streaming, by the final sorted CTAS
                # The export's deliberately malformed lines (generate(malformed_rows=...)) were never
                # rows of the live database: skip lines of the wrong shape, and ids that are not numbers.
                valid = (
                    f"where try_cast({_q('acct_id')} as bigint) is not null or {_q('acct_id')} is null"
                    if "acct_id" in ds.columns
                    else ""
                )
                con.execute(
                    f"create temp view e as select {cols} from {_read_csv(parts, ds.columns, skip_bad=True)} {valid}"
                )
            else:
                con.execute(
                    f"create temp view e as select {cols} from (select {', '.join(f'null::varchar {_q(c)}' for c in ds.columns)}) where false"
                )
            live_file = live_dir / f"{name}.csv.gz"
            if live_file.exists():
                con.execute(f"create temp table l as select {cols} from {_read_csv([live_file], ds.columns)}")
            else:
                con.execute(f"create temp table l as select {cols} from e where false")
            if ds.is_child_list:
                pk = ", ".join(_q(k) for k in ds.parent_key)
                merged = f"select * from l union all select e.* from e anti join (select distinct {pk} from l) x using ({pk})"
            else:
                # keys may be null (ticket.return_datetime): compare coalesced values, a plain hash join
                cond = " and ".join(f"coalesce(e.{_q(k)}, '') = coalesce(l.{_q(k)}, '')" for k in ds.business_key)
                merged = f"select * from l union all select e.* from e anti join l on {cond}"
            if ds.cursor:
                with_ts = f"select m.*, m.{_q(ds.cursor)} as change_ts from ({merged}) m"
            elif ds.parent == "cust":
                with_ts = (
                    f"select m.*, p.ts as change_ts from ({merged}) m left join "
                    "(select acct_id, max(upd_date) ts from cust group by acct_id) p using (acct_id)"
                )
            else:  # events_in_plan: the plan's evnt.upd_date
                with_ts = (
                    f"select m.*, p.upd_date as change_ts from ({merged}) m left join "
                    "(select event_id, upd_date from evnt) p on m.plan_event_id = p.event_id"
                )
            # CTAS with ORDER BY stores rows in that order (insertion order is preserved), so the
            # table's rowid *is* the position in (change_ts, parent key, business key) order; a
            # global window row_number() would cost a second, single-threaded sort.
            # two steps (merge, then sort) keep DuckDB within its memory limit on big datasets
            con.execute(f"create table _merged as {with_ts}")
            con.execute(f"create table {_q(name)} as select * from _merged order by {_order_key(ds)}")
            con.execute("drop table _merged; drop view e; drop table l")
            progress.advance(task)
        con.execute("create table _meta as select ? as cutoff", [manifest.get("cutoff")])
        con.execute("checkpoint")
    finally:
        con.close()
        progress.stop()
    os.replace(tmp, db_path)
    for old in db_path.parent.glob("*.duckdb"):  # states of earlier exports are never used again
        if old != db_path:
            old.unlink(missing_ok=True)


class ArchticsState:
    """Read-only access to the built state; one cursor per calling thread."""

    def __init__(self, export_dir: Path, live_dir: Path, cache_dir: Path, show_progress: bool = False):
        cache_dir.mkdir(parents=True, exist_ok=True)
        self.version = fingerprint(export_dir, live_dir)
        self.db_path = cache_dir / f"{self.version}.duckdb"
        if not self.db_path.exists():
            build_state(export_dir, live_dir, self.db_path, show_progress)
        # reads only: a small limit bounds what stays cached of the tables it scanned (a sample reads a
        # whole table: at 1M accounts the ticket table's sample alone kept ~600 MB at a 2 GB limit)
        self.con = duckdb.connect(
            str(self.db_path), read_only=True, config={"memory_limit": sandbox_settings().serve_duckdb_memory}
        )
        self.cutoff = self.con.execute("select cutoff from _meta").fetchone()[0]

    def close(self) -> None:
        self.con.close()

    def page(self, dataset: str, since: str | None, after_seq: int, limit: int | None) -> tuple[list[dict], int | None]:
        """Rows with change_ts >= since and rowid > after_seq (-1 = from the start), in order; child lists never split.

        Returns the rows and the last rowid when more rows follow (else None).
        """
        ds = DATASETS[dataset]
        cur = self.con.cursor()  # one cursor per call: DuckDB cursors are cheap and thread-safe this way
        try:
            return self._page(cur, ds, since, after_seq, limit)
        finally:
            cur.close()

    def _page(
        self, cur: duckdb.DuckDBPyConnection, ds: Dataset, since: str | None, after_seq: int, limit: int | None
    ) -> tuple[list[dict], int | None]:
        dataset = ds.name
        cols = ds.columns + ["change_ts"]
        sel = ", ".join(_q(c) for c in cols) + ", rowid"
        where, params = "rowid > ?", [after_seq]
        if since is not None:
            where += " and change_ts >= ?"
            params.append(since)
        lim = f" limit {int(limit)}" if limit else ""
        res = cur.execute(f"select {sel} from {_q(dataset)} where {where} order by rowid{lim}", params).fetchall()
        if limit and ds.is_child_list and len(res) == limit:
            last = res[-1]
            ts, pk = last[len(cols) - 1], [last[ds.columns.index(k)] for k in ds.parent_key]
            pk_cond = " and ".join(f"{_q(k)} = ?" for k in ds.parent_key)
            res += cur.execute(
                f"select {sel} from {_q(dataset)} where rowid > ? and change_ts = ? and {pk_cond} order by rowid",
                [last[-1], ts, *pk],
            ).fetchall()
        rows = [dict(zip(cols, r[:-1], strict=True)) for r in res]
        if not res:
            return rows, None
        last_seq = res[-1][-1]
        more = cur.execute(f"select 1 from {_q(dataset)} where {where} limit 1", [last_seq, *params[1:]]).fetchone()
        return rows, (last_seq if more else None)

    def sample(self, dataset: str, n: int, seed: int) -> list[dict]:
        """``n`` live rows drawn at random (repeatably): what an audit compares with the replica,
        without paging the whole live state through HTTP (tens of millions of ticket rows)."""
        cols = DATASETS[dataset].columns + ["change_ts"]
        sel = ", ".join(_q(c) for c in cols)
        cur = self.con.cursor()
        try:
            sql = f"select {sel} from {_q(dataset)} using sample reservoir({int(n)} rows) repeatable ({int(seed)})"
            return [dict(zip(cols, r, strict=True)) for r in cur.execute(sql).fetchall()]
        finally:
            cur.close()

    def count(self, dataset: str) -> int:
        cur = self.con.cursor()
        try:
            return cur.execute(f"select count(*) from {_q(dataset)}").fetchone()[0]
        finally:
            cur.close()
