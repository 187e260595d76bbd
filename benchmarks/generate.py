"""Benchmark: how fast the sample Archtics export is generated (rows/s, peak memory, bytes written).

Peak RSS is sampled from a background thread with psutil (the generator runs in this process), so
the figure includes the Python interpreter and the libraries, as a user running `kore generate` sees.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import psutil

from sandbox.generator import generate


def _peak_rss(stop: threading.Event, out: list[int]) -> None:
    proc = psutil.Process()
    while not stop.is_set():
        out[0] = max(out[0], proc.memory_info().rss)
        stop.wait(0.2)


def run(workdir: Path, accounts: int | None = 1_000_000, rows: int | None = None, seed: int = 42, **kw) -> dict:
    """Generate ``accounts`` accounts into ``workdir`` (wiped first) and return the figures."""
    accounts = accounts or 1_000_000
    workdir = Path(workdir)
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    peak = [psutil.Process().memory_info().rss]
    stop = threading.Event()
    sampler = threading.Thread(target=_peak_rss, args=(stop, peak), daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    try:
        summary = generate(accounts, workdir / "export", seed=seed, sandbox_dir=workdir / "sandbox", **kw)
    finally:
        stop.set()
        sampler.join()
    seconds = time.perf_counter() - t0
    total = summary["rows_total"]
    return {
        "accounts": accounts,
        "rows": total,
        "rows_by_dataset": summary["rows"],
        "seconds": round(seconds, 2),
        "rows_per_s": round(total / seconds),
        "peak_rss_mb": round(peak[0] / 2**20, 1),
        "bytes": summary["bytes"],
        "files": summary["files"],
    }
