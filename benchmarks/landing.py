"""Benchmark the Archtics landing: export files into raw_archtics, against DuckDB's own read_csv,
then the ~1% catch-up over HTTP.

Goals (issue 3): landing at >= 50% of DuckDB's native ``read_csv`` rate on the same files, 1M
accounts in <= 5 minutes, the 1% catch-up in <= 5% of the initial landing time, bounded memory.
The landing is one ``land_export`` call (as in production); ``landing_times`` splits it into
setup, parse, dlt_extract, normalize and load, and ``catchup_times`` splits the catch-up into
setup, http_fetch, lookup, dlt_extract, normalize and load_merge (on DuckDB: setup, http_fetch,
stage -- each page prepared and staged in SQL --, merge -- each dataset's look-up, delete and
insert, while the next ones are fetched --, prepare and commit). The DuckDB reference
reads the same part files into one table per dataset in a separate database file in the same run.
The disk is flushed (``os.sync``) before the catch-up is timed: a routine incremental starts hours
after the landing, not while the reference's gigabyte is still being written back.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import psutil

from dlt_pipelines.archtics_deltas import land_deltas
from dlt_pipelines.archtics_export import land_export
from kore.config import Settings, get_settings
from kore.contracts.archtics import DATASETS


class PeakRss:
    """Samples this process's resident memory (plus children) in a thread; keeps the peak.
    ``own=False``: the children's only (a subprocess's memory, e.g. dbt's worker)."""

    def __init__(self, interval: float = 0.2, children: bool = True, own: bool = True):
        self.interval = interval
        self.children = children
        self.own = own
        self.peak = 0
        self._stop = threading.Event()
        self._proc = psutil.Process()

    def _rss(self) -> int:
        total = self._proc.memory_info().rss if self.own else 0
        for child in self._proc.children(recursive=True) if self.children else []:
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self.peak = self._rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mb(self) -> float:
        return round(self.peak / 2**20, 1)


@contextlib.contextmanager
def sandbox_server(sandbox_dir: Path, export_dir: Path, timeout: float = 900) -> Iterator[tuple[str, str, str]]:
    """Run the sandbox Archtics API in a child process; yields (url, client_id, client_secret)."""
    cred = sandbox_dir / "archtics_api_credentials.json"
    cred.unlink(missing_ok=True)
    code = "import sys; from pathlib import Path; from sandbox.archtics_api import serve; serve(Path(sys.argv[1]), Path(sys.argv[2]))"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(sandbox_dir), str(export_dir)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while not cred.exists():
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace")[-300:] if proc.stderr else ""
                raise RuntimeError(f"sandbox API exited with {proc.returncode}: {err}")
            if time.monotonic() > deadline:
                raise TimeoutError("sandbox API did not start")
            time.sleep(0.2)
        time.sleep(0.2)  # the file is written in one go; give the writer a moment to close it
        doc = json.loads(cred.read_text())
        yield doc["url"], doc["client_id"], doc["client_secret"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def duckdb_reference(export_dir: Path, db_path: Path) -> dict[str, dict[str, float]]:
    """DuckDB's native read_csv of the same part files into one table per dataset (all text)."""
    manifest = json.loads((export_dir / "manifest.json").read_text())
    db_path.unlink(missing_ok=True)
    con = duckdb.connect(str(db_path))
    out: dict[str, dict[str, float]] = {}
    try:
        for ds in DATASETS:
            files = [str(export_dir / f["path"]) for f in manifest["files"] if f["dataset"] == ds]
            if not files:
                continue
            t0 = time.perf_counter()
            paths = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"  # a workdir may hold '
            con.execute(f"create table {ds} as select * from read_csv({paths}, all_varchar = true, header = true)")
            secs = time.perf_counter() - t0
            rows = con.sql(f"select count(*) from {ds}").fetchall()[0][0]
            out[ds] = {"rows": rows, "seconds": round(secs, 3)}
    finally:
        con.close()
        db_path.unlink(missing_ok=True)
    return out


def run(workdir: Path, accounts: int | None = None, rows: int | None = None, **kw: Any) -> dict:
    """Generate (or reuse, ``reuse=True``) an export of ``accounts`` accounts, land it, compare.

    Extra keywords: ``change_rate`` (share of accounts changed after the cutoff, default 0.01),
    ``seed``, ``reuse``, ``page_size``.
    """
    accounts = accounts or 1_000_000
    workdir = Path(workdir).resolve()
    export_dir, sandbox_dir = workdir / "export", workdir / "sandbox"
    gen_seconds = prepare_export(workdir, accounts, kw)
    settings = get_settings(workdir)
    land = land_per_dataset(settings, export_dir)
    summary, per, land_seconds = land["summary"], land["datasets"], land["seconds"]
    ref = duckdb_reference(export_dir, workdir / "duckdb_reference.duckdb")
    compare_per_dataset(per, ref)
    catchup = catchup_figures(settings, sandbox_dir, export_dir, land_seconds, kw.get("page_size", 5000))

    total_rows = summary["rows"] + summary["quarantined"]
    ref_rows = sum(r["rows"] for r in ref.values())
    ref_seconds = sum(r["seconds"] for r in ref.values())
    rows_per_s = total_rows / land_seconds
    duck_rps = ref_rows / ref_seconds if ref_seconds else 0.0
    result = {
        "accounts": accounts,
        "rows": total_rows,
        "quarantined": summary["quarantined"],
        "files": summary["files"],
        "seconds": round(land_seconds, 2),
        "rows_per_s": round(rows_per_s, 1),
        "duckdb_read_csv_rows": ref_rows,
        "duckdb_read_csv_seconds": round(ref_seconds, 2),
        "duckdb_read_csv_rows_per_s": round(duck_rps, 1),
        "ratio_vs_duckdb": round(rows_per_s / duck_rps, 3) if duck_rps else None,
        "peak_rss_mb": land["peak_rss_mb"],
        "landing_times": summary["times"],
        **catchup,
        "generate_seconds": gen_seconds,
        "datasets": per,
        "cpu_count": os.cpu_count(),
    }
    result["goals"] = {
        "ratio_vs_duckdb_ge_0.5": bool(result["ratio_vs_duckdb"] and result["ratio_vs_duckdb"] >= 0.5),
        "1M_accounts_le_300s": (land_seconds <= 300) if accounts >= 1_000_000 else None,
        "catchup_le_5pct": (result["catchup_ratio"] <= 0.05) if result["catchup_ratio"] is not None else None,
    }
    return result


def prepare_export(workdir: Path, accounts: int, kw: dict[str, Any]) -> float | None:
    """Generate the export (unless ``reuse`` and the same parameters) and clear the last landing.

    Returns the generation time (None when reused).
    """
    from sandbox.generator import generate

    marker = workdir / "generated.json"
    params = {"accounts": accounts, "seed": kw.get("seed", 42), "change_rate": kw.get("change_rate", 0.01)}
    gen_seconds = None
    if not (kw.get("reuse") and marker.exists() and json.loads(marker.read_text()) == params):
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        t0 = time.perf_counter()
        generate(accounts, workdir / "export", seed=params["seed"], sandbox_dir=workdir / "sandbox",
                 change_rate=params["change_rate"], show_progress=False)  # fmt: skip
        gen_seconds = round(time.perf_counter() - t0, 1)
        marker.write_text(json.dumps(params))
    for stale in (workdir / "warehouse.duckdb", workdir / "warehouse.duckdb.wal", workdir / ".dlt_data"):
        if stale.is_dir():
            shutil.rmtree(stale)
        else:
            stale.unlink(missing_ok=True)
    return gen_seconds


def land_per_dataset(settings: Settings, export_dir: Path) -> dict[str, Any]:
    """The initial landing as production runs it (one ``land_export`` call for every dataset).

    Earlier versions called ``land_export`` once per dataset and so paid dlt's fixed cost nine
    times; the per-dataset figures now come from DuckDB's reference and the rows landed.
    """
    with PeakRss() as mem_land:
        t0 = time.perf_counter()
        summary = land_export(settings, export_dir, show_progress=False)
        land_seconds = time.perf_counter() - t0
    per = {ds: {"rows": d["rows"] + d["quarantined"]} for ds, d in summary["datasets"].items()}
    return {"summary": summary, "datasets": per, "seconds": land_seconds, "peak_rss_mb": mem_land.mb}


def compare_per_dataset(per: dict[str, dict[str, Any]], ref: dict[str, dict[str, float]]) -> None:
    """Add DuckDB's own read_csv rate of each dataset's files (the reference the ratio is taken to)."""
    for ds, r in ref.items():
        per.setdefault(ds, {})
        per[ds]["duckdb_read_csv_seconds"] = r["seconds"]
        per[ds]["duckdb_read_csv_rows_per_s"] = round(r["rows"] / r["seconds"], 1) if r["seconds"] else 0


def catchup_figures(
    settings: Settings, sandbox_dir: Path, export_dir: Path, land_seconds: float, page_size: int
) -> dict[str, Any]:
    """The catch-up over HTTP (the sandbox API runs in its own process: its memory is not ours)."""
    try:
        with sandbox_server(sandbox_dir, export_dir) as (url, cid, secret), PeakRss(children=False) as mem_c:
            getattr(os, "sync", lambda: None)()  # see the module docstring (Unix only)
            t0 = time.perf_counter()
            deltas = land_deltas(settings, url, cid, secret, page_size=page_size, show_progress=False)
            catchup: dict[str, Any] = {
                "catchup_seconds": round(time.perf_counter() - t0, 2),
                "catchup_rows_fetched": deltas["rows_fetched"],
                "catchup_rows_written": deltas["rows_written"],
                "catchup_times": deltas["times"],
            }
        catchup["catchup_peak_rss_mb"] = mem_c.mb
        catchup["catchup_ratio"] = round(catchup["catchup_seconds"] / land_seconds, 4)
        return catchup
    except Exception as exc:  # report the landing figures even when the sandbox cannot serve
        return {"catchup_error": f"{type(exc).__name__}: {str(exc)[:300]}", "catchup_seconds": None,
                "catchup_ratio": None}  # fmt: skip
