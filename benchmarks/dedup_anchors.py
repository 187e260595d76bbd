"""Dedup accuracy and speed against the open-source anchors (issue 5): Splink, recordlinkage, dedupe.

Issue 5 asks for dedup "more accurate than the open-source anchors on person records, faster at a
large client's scale". This benchmark measures exactly that, with every tool on the same footing:

1. the sandbox generator writes person records with known duplicates (``benchmarks.dedup``'s
   ``generate`` + ``build_person_records``; ground truth ``<workdir>/sandbox/ground_truth.csv``);
2. the records are normalised once with our normaliser (lower case, accents folded, E.164 phone
   digits, zip5, ISO birth dates ...) and written to ``records.csv`` (``record_id`` + the person
   fields): **every tool reads this same file**, so nobody gets better-prepared input;
3. each tool runs in its own child process (``benchmarks/anchors/<tool>_runner.py``), so its wall
   time and peak RSS (``os.wait4`` rusage of that child alone) are separable; the anchors run under
   a separate interpreter (``anchors_python`` / ``KORE_ANCHORS_PYTHON``, default
   ``/tmp/anchors-venv/bin/python``) so the project's pinned stack stays untouched;
4. every tool's ``record_id,cluster_id`` output is scored by ``dedup.evaluate.evaluate_clusters``:
   pairwise precision / recall / F1 and cluster measures.

Rows: ``kore`` (file mode: the like-for-like row, same fields as the anchors), ``kore_warehouse``
(the production step ``run_dedup``; it also uses source / CRM-id / name-type columns the anchors do
not get, so it is informative, not like-for-like), ``splink``, ``recordlinkage_ecm``,
``recordlinkage_rule`` and ``dedupe`` (checked for an unsupervised mode; it has none, so it is
reported as not comparable with the error its ``train()`` raises without labels).

Per tool: ``seconds`` = wall time of the tool's process (start, imports, read, run, write; minus
the threshold sweep, which is sensitivity only), ``engine_seconds`` = the tool's own timed core (for
``kore`` file mode that includes reading and writing the CSV, for the anchors it does not),
``peak_rss_mb`` = that process's peak RSS (measured by ``anchors/_measure.py``).

A missing anchor interpreter or package is reported as ``not_installed`` with the install command;
a crash, timeout (``timeout`` kw, seconds per tool) or out-of-memory kill is reported per tool, and
the other tools still run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
from rich.progress import Progress

from kore.config import REPO_ROOT, get_settings
from kore.contracts.person_fields import PERSON_FIELDS
from kore.runlog import run_record

# the fields every runner reads (the columns of records.csv): the person fields but full_name, which
# only stands in for a missing split name
FIELDS = tuple(f for f in PERSON_FIELDS if f != "full_name")
ANCHORS_DIR = Path(__file__).with_name("anchors")
DEFAULT_ANCHORS_PYTHON = "/tmp/anchors-venv/bin/python"
INSTALL_HINT = (
    "python3 -m venv /tmp/anchors-venv && /tmp/anchors-venv/bin/pip install -r benchmarks/anchors/requirements.txt"
)
# tool -> (runner script, variant, interpreter kind, module the interpreter must import)
TOOLS: dict[str, tuple[str, str, str, str]] = {
    "kore": ("kore_runner.py", "filemode", "project", "dedup"),
    "kore_warehouse": ("kore_runner.py", "warehouse", "project", "dedup"),
    "splink": ("splink_runner.py", "", "anchors", "splink"),
    "recordlinkage_ecm": ("recordlinkage_runner.py", "ecm", "anchors", "recordlinkage"),
    "recordlinkage_rule": ("recordlinkage_runner.py", "rule", "anchors", "recordlinkage"),
    "dedupe": ("dedupe_runner.py", "", "anchors", "dedupe"),
}
NOT_COMPARABLE_EXIT = 3
QUALITY_KEYS = (
    "precision",
    "recall",
    "f1",
    "clusters",
    "exact_cluster_ratio",
    "persons_split",
    "clusters_mixed",
    "predicted_pairs",
    "true_positive_pairs",
)


def anchors_python(kw: dict) -> str:
    """The anchors' interpreter: kw ``anchors_python``, else ``KORE_ANCHORS_PYTHON``, else the default."""
    return str(kw.get("anchors_python") or os.environ.get("KORE_ANCHORS_PYTHON") or DEFAULT_ANCHORS_PYTHON)


def interpreter_has(python: str, module: str) -> str | None:
    """None if ``python`` exists and can import ``module``; else why not (for the report)."""
    if not Path(python).exists() and shutil.which(python) is None:
        return f"interpreter {python} not found"
    code = f"import importlib.util, sys; sys.exit(0 if importlib.util.find_spec({module!r}) else 1)"
    try:
        res = subprocess.run([python, "-c", code], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"interpreter {python} does not start ({type(exc).__name__})"
    return None if res.returncode == 0 else f"package {module!r} not importable by {python}"


def _wait_child(proc: subprocess.Popen, timeout: float) -> int | None:
    """Wait for one child; its exit code, or None after killing its process group on timeout."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the child runs in its own session: only its group
        proc.wait()
        return None


def run_tool(name: str, base: Path, python: str, timeout: float, truth: pd.DataFrame) -> dict:
    """Run one tool in its own process and score its clusters; never raises for a tool's failure."""
    script, variant, kind, module = TOOLS[name]
    missing = interpreter_has(python, module) if kind == "anchors" else None
    if missing:
        return {"status": "not_installed", "reason": missing, "install": INSTALL_HINT}
    out_dir = base / "tools" / name
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    output, stats_file, log_file = out_dir / "clusters.csv", out_dir / "stats.json", out_dir / "run.log"
    source = base / ("records_full.parquet" if variant == "warehouse" else "records.csv")
    cmd = [python, str(ANCHORS_DIR / script), "--input", str(source), "--output", str(output)]
    cmd += ["--stats", str(stats_file)]
    if variant:
        cmd += ["--variant", variant]
    if variant == "warehouse":
        cmd += ["--workdir", str(out_dir / "wh")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KORE_")}
    env.update(PYTHONPATH=str(REPO_ROOT) if kind == "project" else "", KORE_TARGET="duckdb", PYTHONHASHSEED="0")
    measure = out_dir / "measure.json"
    launch = [sys.executable, "-I", "-S", str(ANCHORS_DIR / "_measure.py"), str(measure), "--", *cmd]
    with open(log_file, "wb") as log:
        try:
            proc = subprocess.Popen(launch, cwd=ANCHORS_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)  # fmt: skip
        except OSError as exc:
            return {"status": "failed", "reason": f"cannot start {python}: {exc}", "command": " ".join(cmd)}
        code = _wait_child(proc, timeout)
    m = json.loads(measure.read_text()) if code is not None and measure.exists() else {}
    code = m.get("exit_code", code)
    row: dict = {"command": " ".join(cmd)}
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    if m:
        # a threshold sweep (sensitivity only) runs after the tool's own work: not its time
        wall = m["seconds"] - float(stats.get("sweep_seconds") or 0)
        row.update(seconds=round(wall, 2), peak_rss_mb=round(m["peak_rss_mb"], 1))
    row.update({k: v for k, v in stats.items() if k not in ("self_peak_rss_mb",)})
    if code is None:
        return {"status": "timeout", "reason": f"killed after {timeout:.0f} s", **row, "seconds": timeout}
    if code == NOT_COMPARABLE_EXIT and stats.get("status") == "not_comparable":
        return row
    if code != 0 or not output.exists():
        tail = log_file.read_text(errors="replace").strip().splitlines()[-3:]
        why = f"killed by signal {-code} (out of memory?)" if code < 0 else f"exit code {code}"
        return {"status": "failed", "reason": why, "log_tail": tail, **row}
    from dedup.evaluate import evaluate_clusters

    clusters = pd.read_csv(output, dtype=str)
    quality = evaluate_clusters(clusters, truth)
    out = {"status": "ok", **row, **{k: quality[k] for k in QUALITY_KEYS}, "records_scored": quality["records"]}
    sweep_file = output.with_suffix(".sweep.csv")
    if sweep_file.exists():
        out["threshold_sensitivity"] = threshold_sensitivity(pd.read_csv(sweep_file, dtype=str), truth)
    return out


def threshold_sensitivity(sweep: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """Precision/recall/F1 of the same predictions clustered at other thresholds (not the headline).

    Why: the headline uses the tool's documented threshold; this shows whether a better threshold
    (one could only pick it with the ground truth) would change the verdict.
    """
    from dedup.evaluate import evaluate_clusters

    out = {}
    for thr, grp in sweep.groupby("threshold"):
        q = evaluate_clusters(grp[["record_id", "cluster_id"]], truth)
        out[str(thr)] = {k: q[k] for k in ("precision", "recall", "f1")}
    return out


def prepare_inputs(base: Path, accounts: int, rows: int | None, seed: int, crm_share: float) -> dict:
    """Generate, build person records, write the shared normalised ``records.csv`` (+ full parquet)."""
    from benchmarks.dedup import build_person_records, generate
    from dedup.normalize import normalize_records

    gen_seconds = generate(base, accounts, seed, crm_share)
    records = build_person_records(base)
    if rows:
        records = records.head(int(rows))
    records.to_parquet(base / "records_full.parquet", index=False)
    norm = normalize_records(records[["record_id", *FIELDS]])[["record_id", *FIELDS]]
    norm.to_csv(base / "records.csv", index=False)
    return {
        "records": len(records),
        "archtics_names": int((records["source"] == "archtics").sum()),
        "crm_contacts": int((records["source"] == "crm").sum()),
        "generate_seconds": round(gen_seconds, 2),
    }


def summarise(tools: dict[str, dict]) -> dict:
    """Which tool is most accurate (F1) and fastest, and where an anchor beats our like-for-like row."""
    ok = {n: r for n, r in tools.items() if r.get("status") == "ok"}
    out: dict = {}
    if ok:
        out["best_f1"] = max(ok, key=lambda n: ok[n]["f1"])
        out["fastest"] = min(ok, key=lambda n: ok[n]["seconds"])
    kore = ok.get("kore")
    if kore:
        beats = []
        for n, r in ok.items():
            if n.startswith("kore"):
                continue
            for m in ("precision", "recall", "f1"):
                if r[m] > kore[m]:
                    beats.append(f"{n} {m} {r[m]} > kore {kore[m]}")
            for m in ("seconds", "peak_rss_mb"):
                if r[m] < kore[m]:
                    beats.append(f"{n} {m} {r[m]} < kore {kore[m]}")
        out["anchor_beats_kore"] = beats
    return out


def run(workdir: Path, accounts: int | None = None, rows: int | None = None, **kw) -> dict:
    """Figures per tool: status, seconds, peak_rss_mb, precision, recall, f1, clusters (JSON-able).

    kw: ``tools`` (list or comma string, default all), ``anchors_python``, ``timeout`` (seconds per
    tool, default 1800), ``seed`` (42), ``crm_share`` (0.2), ``fresh`` (True), ``progress`` (True).
    """
    accounts = int(accounts or 20_000)
    base = Path(workdir).resolve()
    if base.exists() and kw.get("fresh", True):
        shutil.rmtree(base)
    base.mkdir(parents=True, exist_ok=True)
    names = kw.get("tools") or list(TOOLS)
    names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
    unknown = sorted(set(names) - set(TOOLS))
    if unknown:
        raise ValueError(f"unknown tool(s) {', '.join(unknown)}; known: {', '.join(TOOLS)}")
    py_anchors = anchors_python(kw)
    timeout = float(kw.get("timeout", 1800))
    settings = get_settings(base)
    settings.ensure_dirs()
    with run_record(settings, "bench", "dedup_anchors") as rec:
        result: dict = {"accounts": accounts, "anchors_python": py_anchors, "timeout_seconds": timeout}
        result.update(prepare_inputs(base, accounts, rows, int(kw.get("seed", 42)), float(kw.get("crm_share", 0.2))))
        truth = pd.read_csv(base / "sandbox" / "ground_truth.csv", dtype=str)
        result["true_pairs"] = _true_pairs(truth, base)
        tools: dict[str, dict] = {}
        with Progress(disable=not kw.get("progress", True), transient=True) as bar:
            task = bar.add_task("dedup anchors", total=len(names))
            for name in names:
                bar.update(task, description=f"running {name}")
                python = sys.executable if TOOLS[name][2] == "project" else py_anchors
                tools[name] = run_tool(name, base, python, timeout, truth)
                bar.advance(task)
        result["tools"] = tools
        result["summary"] = summarise(tools)
        rec.rows_in = result["records"]
        rec.detail = {n: {k: r.get(k) for k in ("status", "seconds", "f1")} for n, r in tools.items()}
    (base / "bench_dedup_anchors.json").write_text(json.dumps(result, indent=1, default=str))
    return result


def _true_pairs(truth: pd.DataFrame, base: Path) -> int:
    ids = pd.read_csv(base / "records.csv", usecols=["record_id"], dtype=str)["record_id"]
    sizes = truth[truth["record_id"].isin(set(ids))].groupby("person_id").size().astype("int64")
    return int((sizes * (sizes - 1) // 2).sum())
