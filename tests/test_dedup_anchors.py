"""The anchors benchmark without the anchors venv: our engine is scored, a missing anchor is reported.

Why these: the benchmark must run on any machine (CI has no anchors venv) and still give our own
figures; a missing interpreter, a missing package, a crashing or hanging tool must each end up as
a status in the JSON, never as an exception that loses the other tools' figures.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.dedup_anchors import INSTALL_HINT, run, run_tool, summarise


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("anchors") / "bench"
    result = run(
        base,
        accounts=300,
        tools="kore,splink,recordlinkage_ecm",
        anchors_python="/nonexistent/bin/python",
        progress=False,
    )
    return base, result


def test_missing_anchor_interpreter_is_reported_with_install_command(small_run: tuple[Path, dict]) -> None:
    _, result = small_run
    for name in ("splink", "recordlinkage_ecm"):
        row = result["tools"][name]
        assert row["status"] == "not_installed"
        assert "/nonexistent/bin/python" in row["reason"]
        assert row["install"] == INSTALL_HINT


def test_our_engine_is_scored_against_ground_truth(small_run: tuple[Path, dict]) -> None:
    base, result = small_run
    kore = result["tools"]["kore"]
    assert kore["status"] == "ok"
    assert kore["records_scored"] == result["records"] > 0
    assert kore["seconds"] > 0 and kore["peak_rss_mb"] > 0
    # the figures are those of the clusters the tool wrote (not a stored number)
    from dedup.evaluate import evaluate_clusters

    clusters = pd.read_csv(base / "tools" / "kore" / "clusters.csv", dtype=str)
    truth = pd.read_csv(base / "sandbox" / "ground_truth.csv", dtype=str)
    assert evaluate_clusters(clusters, truth)["f1"] == kore["f1"]
    assert kore["f1"] > 0.9
    saved = json.loads((base / "bench_dedup_anchors.json").read_text())
    assert saved["tools"]["kore"]["f1"] == kore["f1"]
    assert saved["summary"]["best_f1"] == "kore"


def test_interpreter_without_the_package_is_not_installed(small_run: tuple[Path, dict]) -> None:
    base, result = small_run
    truth = pd.read_csv(base / "sandbox" / "ground_truth.csv", dtype=str)
    row = run_tool("splink", base, sys.executable, 60, truth)  # the project venv has no splink
    assert row["status"] == "not_installed"
    assert "splink" in row["reason"]


def test_hanging_tool_is_killed_and_reported(small_run: tuple[Path, dict]) -> None:
    base, _ = small_run
    truth = pd.read_csv(base / "sandbox" / "ground_truth.csv", dtype=str)
    row = run_tool("kore", base, sys.executable, 0.05, truth)
    assert row["status"] == "timeout"


def test_crashing_tool_is_reported_with_its_log(tmp_path: Path) -> None:
    truth = pd.DataFrame({"record_id": ["a"], "person_id": ["p"]})
    row = run_tool("kore", tmp_path, sys.executable, 60, truth)  # no records.csv: the runner fails
    assert row["status"] == "failed"
    assert row["reason"].startswith("exit code")
    assert row["log_tail"]


def test_summary_names_every_figure_an_anchor_wins() -> None:
    tools = {
        "kore": {"status": "ok", "precision": 0.96, "recall": 0.98, "f1": 0.97, "seconds": 3.0, "peak_rss_mb": 300},
        "recordlinkage_rule": {
            "status": "ok",
            "precision": 0.99,
            "recall": 0.86,
            "f1": 0.92,
            "seconds": 2.0,
            "peak_rss_mb": 400,
        },
        "splink": {"status": "not_installed"},
    }
    s = summarise(tools)
    assert s["best_f1"] == "kore"
    assert s["fastest"] == "recordlinkage_rule"
    assert s["anchor_beats_kore"] == [
        "recordlinkage_rule precision 0.99 > kore 0.96",
        "recordlinkage_rule seconds 2.0 < kore 3.0",
    ]
