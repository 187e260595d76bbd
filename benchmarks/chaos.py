"""`kore bench chaos --kills N`: every stage killed (``kill -9``) at random moments, then rerun plainly.

For each stage (export landing, catch-up, build, dedup, push) the benchmark takes the workdir as the
flow leaves it just before that stage (a small generated sample, ``--accounts``, default 150), then:

1. runs the stage **clean** twice on copies of it (the columns that differ between two clean runs,
   e.g. random ids and load ids, are what "identical" cannot ask for; they are listed per stage);
2. ``kills`` times: on a fresh copy, runs the stage in its own process group and ``kill -9``s the
   whole group (dbt's children too) at a random moment within the clean run's duration; for the
   API stages (catch-up, push) with faults injected into the sandbox API while it runs (429, 500,
   slow and dropped replies);
3. reruns the stage plainly (no flags, no faults) and compares **every table** of the warehouse
   (and, for the push, every record of the sandbox CRM store, parent references resolved to keys)
   row for row with the clean run.

Figures per stage: ``kills`` (trials), ``killed`` (the kill landed while the stage ran; a trial
whose stage ended before its kill is redone, up to 3 times, with a kill drawn within that run's own
duration), ``repaired_by_plain_rerun`` (the plain rerun exited 0), ``identical`` (and then equalled
the clean run), ``seconds`` (the clean run), ``failures`` (first lines of what differed). Run
bookkeeping that a killed run adds by design is not compared: ``ops.run_history`` and dlt's ``_dlt_loads``/
``_dlt_pipeline_state``/``_dlt_version`` tables and ``_dlt_load_id``/``_dlt_id`` columns.

Each trial's stage runs as ``python -m benchmarks.chaos STAGE WORKDIR ENDPOINTS.json`` (the flow's
own stage function, :data:`orchestration.flow.FLOW`); the sandbox servers run in this process.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb

from kore.config import REPO_ROOT, get_settings

# benchmark stage -> flow stage; the flow stages before it make its starting workdir
STAGES = {
    "export_landing": "land export",
    "catch_up": "catch-up deltas",
    "build": "dbt build",
    "dedup": "dedup",
    "push": "CRM push",
}
API_FAULTS = {
    "catch_up": {
        "rate_429": 0.15,
        "retry_after": 0,
        "rate_500": 0.15,
        "rate_drop": 0.1,
        "slow_ms": 300,
        "rate_slow": 0.1,
    },
    "push": {
        "faults": [
            {"kind": "429", "times": 2, "retry_after": 0},
            {"kind": "500", "times": 2},
            {"kind": "drop", "times": 1},
        ]
    },
}
SKIP_TABLES = {"ops.run_history", "ops.check_results"}
SKIP_COLUMNS = {"_dlt_load_id", "_dlt_id"}


# --------------------------------------------------------------------------------- the worker


def _worker(stage: str, workdir: str, endpoints_json: str) -> int:
    """Run one flow stage in this process (what a trial kills); exit 0 when it succeeded."""
    from rich.console import Console

    from orchestration.flow import FLOW, Endpoints, FlowContext, FlowRun

    raw = json.loads(Path(endpoints_json).read_text())
    e = Endpoints(**{k: Path(v) if k.endswith("_dir") and v else v for k, v in raw.items()})
    settings = get_settings(workdir)
    console = Console(stderr=True, quiet=True)
    flow = FlowRun(settings, console, title="chaos")
    flow.stage(next(s for s in FLOW if s.name == STAGES[stage]), FlowContext(settings, e, console))
    return 1 if flow.failed else 0


# --------------------------------------------------------------------------------- snapshots


@contextlib.contextmanager
def _servers(workdir: Path, flavor: str, archtics_faults: dict | None = None):
    """The sandbox Archtics API and CRM on the workdir's sandbox data; yields their endpoints."""
    from orchestration.flow import Endpoints
    from sandbox.archtics_api import ArchticsSandbox
    from sandbox.crm_api import CrmSandbox

    s = get_settings(workdir)
    with (
        ArchticsSandbox(s.sandbox_dir, s.export_dir, faults=archtics_faults) as arch,
        CrmSandbox(s.sandbox_dir, flavor) as crm,
    ):
        yield (
            Endpoints(
                export_dir=s.export_dir,
                kore_apps_dir=s.sandbox_dir / "kore_apps",
                archtics_url=arch.url,
                archtics_credentials={"client_id": arch.client_id, "client_secret": arch.client_secret},
                crm_url=crm.url,
                crm_credentials=crm.credentials,
            ),
            arch,
            crm,
        )


def _snapshots(base: Path, accounts: int, seed: int, flavor: str, names: list[str]) -> dict[str, Path]:
    """Run the flow once on ``base``, copying the workdir just before each benchmarked stage."""
    from rich.console import Console

    from orchestration.demo import generate_sample, sample_settings
    from orchestration.flow import FLOW, FlowContext, FlowRun

    work = base / "flow"
    settings = sample_settings(get_settings(work))
    settings.ensure_dirs()
    generate_sample(settings, accounts, seed)
    console = Console(stderr=True, quiet=True)
    flow = FlowRun(settings, console, title="chaos snapshots")
    out: dict[str, Path] = {}
    wanted = {STAGES[n]: n for n in names}
    with _servers(work, flavor) as (endpoints, _, _):
        ctx = FlowContext(settings, endpoints, console)
        for stage in FLOW:
            if stage.name in wanted:
                out[wanted[stage.name]] = _copy(work, base / "before" / wanted[stage.name])
            if len(out) == len(wanted):
                break
            flow.stage(stage, ctx)
            if flow.failed:
                raise RuntimeError(f"chaos: the flow failed at {stage.name!r}: {flow.results[-1].outcome}")
    return out


def _copy(src: Path, dst: Path) -> Path:
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("bench"))
    return dst


# --------------------------------------------------------------------------------- comparison


def _norm(v: Any, workdir: str) -> Any:
    if isinstance(v, str):
        return v.replace(workdir, "<WD>")
    return v


def dump_warehouse(workdir: Path) -> dict[str, dict[str, Counter]]:
    """Every table's rows (as a multiset per column set), workdir paths replaced by ``<WD>``."""
    path = workdir / "warehouse.duckdb"
    out: dict[str, dict[str, Counter]] = {}
    if not path.exists():
        return out
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE'"
        ).fetchall()
        for schema, table in tables:
            name = f"{schema}.{table}"
            if name in SKIP_TABLES or table.startswith("_dlt_"):
                continue
            cur = con.execute(f'select * from "{schema}"."{table}"')
            cols = [d[0] for d in cur.description]
            rows = cur.fetchall()
            out[name] = {
                c: Counter(repr(_norm(r[i], str(workdir))) for r in rows)
                for i, c in enumerate(cols)
                if c not in SKIP_COLUMNS
            }
            out[name]["__rows__"] = Counter(
                repr(tuple(_norm(r[i], str(workdir)) for i, c in enumerate(cols) if c not in SKIP_COLUMNS))
                for r in rows
            )
            out[name]["__cols__"] = Counter([",".join(c for c in cols if c not in SKIP_COLUMNS)])
    finally:
        con.close()
    return out


def dump_crm(crm: Any) -> dict[str, dict[str, Counter]]:
    """Every record of the sandbox CRM store, ids replaced by the (table, external key) they name."""
    import sqlite3

    path = crm.app.store.path if hasattr(crm.app, "store") and hasattr(crm.app.store, "path") else None
    files = [Path(path)] if path else sorted(Path(crm.sandbox_dir).glob("crm_*.sqlite"))
    recs: list[tuple[str, str, str | None, dict]] = []
    for f in files:
        con = sqlite3.connect(str(f))
        try:
            recs += [
                (t, i, k, json.loads(d)) for t, i, k, d in con.execute("select tbl, id, ext_key, data from records")
            ]
        finally:
            con.close()
    ref = {i: f"ref:{t}:{k if k is not None else i}" for t, i, k, _ in recs}
    rows = Counter(
        repr(
            (
                t,
                k if k is not None else i,
                sorted((a, ref.get(v, v) if isinstance(v, str) else v) for a, v in d.items()),
            )
        )
        for t, i, k, d in recs
    )
    return {"crm.records": {"__rows__": rows, "__cols__": Counter(["tbl,key,data"])}}


def volatile(a: dict[str, dict[str, Counter]], b: dict[str, dict[str, Counter]]) -> dict[str, set[str]]:
    """Per table, the columns whose values differ between two clean runs (random ids, load times)."""
    out: dict[str, set[str]] = {}
    for t in set(a) & set(b):
        cols = {c for c in a[t] if c not in ("__rows__", "__cols__") and a[t][c] != b[t].get(c)}
        if cols or a[t]["__rows__"] != b[t]["__rows__"]:
            out[t] = cols
    return out


def differences(clean: dict, other: dict, skip: dict[str, set[str]]) -> list[str]:
    """What differs between a rerun and the clean run (tables, row counts, columns), volatile columns
    and tables that already differ between two clean runs only by those columns excepted."""
    diffs = [f"table {t} missing" for t in sorted(set(clean) - set(other))]
    diffs += [f"extra table {t}" for t in sorted(set(other) - set(clean))]
    for t in sorted(set(clean) & set(other)):
        a, b = clean[t], other[t]
        if a["__cols__"] != b["__cols__"]:
            diffs.append(f"{t}: columns differ")
            continue
        if t not in skip:
            if a["__rows__"] != b["__rows__"]:
                diffs.append(f"{t}: rows differ ({sum(a['__rows__'].values())} vs {sum(b['__rows__'].values())})")
            continue
        n_a, n_b = sum(a["__rows__"].values()), sum(b["__rows__"].values())
        if n_a != n_b:
            diffs.append(f"{t}: {n_b} rows, clean {n_a}")
            continue
        bad = [c for c in a if c not in ("__rows__", "__cols__") and c not in skip[t] and a[c] != b.get(c)]
        if bad:
            diffs.append(f"{t}: column(s) {', '.join(bad[:4])} differ")
    return diffs


# --------------------------------------------------------------------------------- trials


def _stage_process(stage: str, workdir: Path, endpoints: Any) -> subprocess.Popen:
    spec = workdir / "chaos_endpoints.json"
    spec.write_text(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in endpoints.__dict__.items()}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KORE_")}
    env |= {"PYTHONPATH": str(REPO_ROOT), "KORE_WORKDIR": str(workdir)}
    # the sample export's deliberately broken rows are accepted (as orchestration.demo.sample_settings)
    env |= {"KORE_ALLOW_QUARANTINE": "1", "KORE_MAX_BAD_SHARE_FILE": "0.05", "KORE_MAX_BAD_SHARE_DATASET": "0.05"}
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.chaos", stage, str(workdir), str(spec)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: kill -9 reaches dbt's children too
    )


def _run_stage(
    stage: str, workdir: Path, endpoints: Any, kill_after: float | None = None
) -> tuple[int, bool, float, str]:
    """Run the stage (killed after ``kill_after`` s); (exit code, killed, seconds, stderr tail)."""
    t0 = time.perf_counter()
    proc = _stage_process(stage, workdir, endpoints)
    killed = False
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
    _, err = proc.communicate()
    return proc.returncode, killed, time.perf_counter() - t0, (err or "")[-600:]


def _dump(workdir: Path, crm: Any, stage: str) -> dict:
    out = dump_warehouse(workdir)
    if stage == "push":
        out |= dump_crm(crm)
    return out


def _trial(
    stage: str, before: Path, wd: Path, flavor: str, kill_after: float | None, faults: bool
) -> tuple[dict, dict[str, Any]]:
    """One run of the stage on a copy of ``before``: killed (with faults) and rerun, or clean."""
    _copy(before, wd)
    arch_faults = API_FAULTS["catch_up"] if faults and stage == "catch_up" else None
    with _servers(wd, flavor, arch_faults) as (endpoints, arch, crm):
        info: dict[str, Any] = {}
        if kill_after is not None:
            if faults and stage == "push":
                crm.add_faults(API_FAULTS["push"])
            rc, killed, secs, _ = _run_stage(stage, wd, endpoints, kill_after)
            info.update(first_rc=rc, killed=killed, first_seconds=secs)
            arch.faults.configure({})
            crm.clear_faults()
        rc, _, secs, err = _run_stage(stage, wd, endpoints)
        info.update(rc=rc, seconds=secs, stderr=err if rc else "")
        return _dump(wd, crm, stage), info


def _bench_stage(stage: str, before: Path, root: Path, flavor: str, kills: int, rng: random.Random) -> dict[str, Any]:
    clean, info = _trial(stage, before, root / "clean1", flavor, None, False)
    if info["rc"] != 0:
        return {"kills": 0, "error": f"the clean run failed: {info['stderr'][-300:]}"}
    clean2, _ = _trial(stage, before, root / "clean2", flavor, None, False)
    skip = volatile(clean, clean2)
    seconds = info["seconds"]
    res: dict[str, Any] = {"kills": kills, "killed": 0, "identical": 0, "repaired_by_plain_rerun": 0}
    failures: list[str] = []
    for i in range(kills):
        at = rng.uniform(0.05, 1.0) * seconds
        dump, tinfo = _trial(stage, before, root / f"kill{i}", flavor, at, stage in API_FAULTS)
        for _ in range(3):  # it ran faster than the clean run and ended first: kill within its own time
            if tinfo["killed"]:
                break
            at = rng.uniform(0.05, 0.9) * tinfo["first_seconds"]
            dump, tinfo = _trial(stage, before, root / f"kill{i}", flavor, at, stage in API_FAULTS)
        res["killed"] += int(tinfo["killed"])
        if tinfo["rc"] == 0:
            res["repaired_by_plain_rerun"] += 1
            diffs = differences(clean, dump, skip)
            res["identical"] += int(not diffs)
            if diffs:
                failures.append(f"kill at {at:.1f}s: " + "; ".join(diffs[:3]))
        else:
            failures.append(f"kill at {at:.1f}s: rerun exit {tinfo['rc']}: {tinfo['stderr'].strip().splitlines()[-1:]}")
        shutil.rmtree(root / f"kill{i}", ignore_errors=True)
    res["seconds"] = round(seconds, 2)
    res["volatile_columns"] = {t: sorted(c) for t, c in sorted(skip.items())}
    if failures:
        res["failures"] = failures[:5]
    return res


def run(workdir: Path, accounts: int | None = None, rows: int | None = None, **kw: Any) -> dict:
    """Keywords: ``kills`` (per stage, default 3), ``stages`` (comma list, default all), ``seed``,
    ``flavor`` (dynamics)."""
    workdir = Path(workdir).resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    accounts = accounts or 150
    kills = int(kw.get("kills", 3))
    flavor = str(kw.get("flavor") or "dynamics")
    names = [s for s in str(kw.get("stages") or ",".join(STAGES)).split(",") if s]
    rng = random.Random(int(kw.get("seed", 1)))
    t0 = time.perf_counter()
    unknown = set(names) - set(STAGES)
    if unknown:
        raise ValueError(f"unknown stages {sorted(unknown)}; choose from {', '.join(STAGES)}")
    befores = _snapshots(workdir, accounts, int(kw.get("seed", 42)), flavor, names)
    stages = {s: _bench_stage(s, befores[s], workdir / "trials" / s, flavor, kills, rng) for s in names}
    ok = all(v.get("identical") == v.get("kills") and v.get("kills") for v in stages.values())
    return {
        "benchmark": "chaos",
        "accounts": accounts,
        "flavor": flavor,
        "kills_per_stage": kills,
        "all_identical": ok,
        "stages": stages,
        "seconds": round(time.perf_counter() - t0, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


if __name__ == "__main__":
    sys.exit(_worker(*sys.argv[1:4]))
