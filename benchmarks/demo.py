"""`kore bench demo --accounts N`: seconds per stage and in total, and peak memory, for `kore demo`."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import psutil
from rich.console import Console

from kore.config import get_settings
from orchestration.demo import run_demo


def run(workdir: Path, accounts: int | None = None, rows: int | None = None, **_: object) -> dict:
    accounts = accounts or 2000
    shutil.rmtree(workdir, ignore_errors=True)
    settings = get_settings(workdir)
    settings.ensure_dirs()
    proc = psutil.Process()
    t0 = time.perf_counter()
    ok = run_demo(settings, accounts=accounts, console=Console(stderr=True, quiet=True))
    total = time.perf_counter() - t0
    import json

    stages = json.loads((settings.logs_dir / "last_demo.json").read_text())
    # peak RSS of this process and of its children (dbt runs as a subprocess)
    peak = proc.memory_info().rss
    try:
        import resource

        peak = max(peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    except ImportError:  # pragma: no cover - non-Unix
        peak_children = 0
    return {
        "benchmark": "demo",
        "accounts": accounts,
        "ok": ok,
        "seconds": round(total, 2),
        "stage_seconds": {s["stage"]: s["seconds"] for s in stages},
        "peak_rss_mb": round(peak / 2**20, 1),
        "peak_child_rss_mb": round(peak_children / 2**20, 1),
    }
