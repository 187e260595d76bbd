"""Benchmark: push ``rows`` KORE rows to the sandbox CRM and count the HTTP requests it took.

Shape: the Event2 chain (Season, Round, Division, PriceList: 10 rows each; Event2: ``rows`` rows,
each with four parent lookups by external key) in ``kore.*`` tables of a fresh workdir, pushed with
``reverse_etl.push`` to a sandbox CRM running in its own process (a real CRM is remote; in
the same process the server would compete with the client for the GIL).

Goal (issue 6): <= 60 s for 100,000 rows; <= 1 request per 200 rows (Salesforce collections) or
per 1,000 rows (Dynamics $batch). ``requests`` counts every API request the sandbox answered
(token and discovery included); ``requests_per_row`` = requests / rows pushed.
"""

from __future__ import annotations

import multiprocessing as mp
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd
import requests

GOAL_SECONDS = 60.0
PARENTS = ("Season", "Round", "Division", "PriceList")


def _serve(sandbox_dir: str, flavor: str, conn) -> None:  # runs in the child process
    from sandbox.crm_api import CrmSandbox

    with CrmSandbox(Path(sandbox_dir), flavor) as sb:
        conn.send({"url": sb.url, "credentials": sb.credentials})
        conn.recv()  # wait until the parent says stop


def _tables(rows: int) -> dict[str, pd.DataFrame]:
    from kore.registry import by_name

    out = {}
    for p in PARENTS:
        out[by_name(p).model_name] = pd.DataFrame(
            {
                "external_key": [f"{p}-{i}" for i in range(10)],
                "name": [f"{p} {i}" for i in range(10)],
                "status": "Active",
                "row_hash": [f"h{i}" for i in range(10)],
                "modified_at": pd.Timestamp("2026-10-01"),
            }
        )
    i = pd.RangeIndex(rows)
    out[by_name("Event2").model_name] = pd.DataFrame(
        {
            "external_key": "EV-" + i.astype(str),
            "name": "Event " + i.astype(str),
            "season_key": "Season-" + (i % 10).astype(str),
            "round_key": "Round-" + (i % 7).astype(str),
            "division_key": "Division-" + (i % 5).astype(str),
            "price_list_key": "PriceList-" + (i % 3).astype(str),
            "event_date": "2026-12-01",
            "capacity": 18000,
            "row_hash": "r" + i.astype(str),
            "modified_at": pd.Timestamp("2026-10-01"),
        }
    )
    return out


def run(
    workdir: Path, accounts: int | None = None, rows: int | None = 100_000, flavor: str = "dynamics", **kw: Any
) -> dict[str, Any]:
    from kore.config import Settings
    from kore.warehouse import connect
    from reverse_etl import push

    rows = int(rows or 100_000)
    workdir = Path(workdir) / f"crm_push_{flavor}"
    if workdir.exists():
        shutil.rmtree(workdir)
    settings = Settings(workdir=workdir)
    settings.ensure_dirs()
    with connect(settings) as wh:
        for name, df in _tables(rows).items():
            wh.replace_table("kore", name, df)

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(str(settings.sandbox_dir), flavor, child), daemon=True)
    proc.start()
    try:
        info = parent.recv()
        url, creds = info["url"], info["credentials"]
        verify = creds["ca_bundle"]
        requests.post(f"{url}/admin/stats/reset", verify=verify, timeout=10)
        t0 = time.perf_counter()
        result = push(settings, url, flavor, creds, entities=[*PARENTS, "Event2"])
        seconds = time.perf_counter() - t0
        stats = requests.get(f"{url}/admin/stats", verify=verify, timeout=10).json()
        in_crm = len(requests.get(f"{url}/admin/records?entity=Event2", verify=verify, timeout=60).json()["records"])
    finally:
        parent.send("stop")
        proc.join(timeout=30)
        if proc.is_alive():
            proc.terminate()
    pushed = result["synced"]
    per_request = 200 if flavor == "salesforce" else 1000
    ev_requests = int(result["entities"]["Event2"]["requests"])
    api_requests = int(stats.get("api_requests", 0))
    return {
        "flavor": flavor,
        "rows": pushed,
        "seconds": round(seconds, 2),
        "rows_per_s": round(pushed / seconds, 1) if seconds else 0.0,
        "requests": api_requests,
        "requests_per_row": round(api_requests / pushed, 6) if pushed else None,
        "failed": result["failed"],
        "event2_in_crm": in_crm,
        "event2_requests": ev_requests,
        "goal_seconds": GOAL_SECONDS,
        # the big entity needs one request per full batch; parents and the token add a handful
        "meets_goal": seconds <= GOAL_SECONDS and ev_requests <= -(-rows // per_request),
    }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(Path(sys.argv[1]), rows=int(sys.argv[2]), flavor=sys.argv[3])))
