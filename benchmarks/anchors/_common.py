"""Shared I/O of the anchor runners (standalone: runs under the anchors venv, not the project's).

Every runner reads the same ``records.csv`` (``record_id`` + normalised person fields, empty = null)
and writes ``record_id,cluster_id`` for every input record plus a small stats JSON. Why a CSV: it is
the input of our own file mode too, so every tool starts from the very same bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd


def parse_args(description: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--input", required=True, type=Path, help="records.csv (record_id + normalised fields)")
    p.add_argument("--output", required=True, type=Path, help="record_id,cluster_id CSV to write")
    p.add_argument("--stats", required=True, type=Path, help="JSON with engine seconds and settings")
    p.add_argument("--variant", default="", help="runner-specific variant (e.g. classifier)")
    return p.parse_args()


def person_fields(records: pd.DataFrame) -> list[str]:
    """The person fields of ``records.csv``: every column but ``record_id`` (which ones is the
    benchmark's choice, ``benchmarks.dedup_anchors.FIELDS``; this venv cannot import the project)."""
    return [c for c in records.columns if c != "record_id"]


def read_records(path: Path) -> pd.DataFrame:
    """All values as text; empty cells become None (what every tool treats as missing)."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    for c in df.columns:
        df[c] = df[c].where(df[c] != "", None)
    return df


def components(ids: pd.Series, left: pd.Series, right: pd.Series) -> pd.DataFrame:
    """Connected components of the match links; singletons get their own cluster."""
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    index = pd.Index(ids)
    li, ri = index.get_indexer(left), index.get_indexer(right)
    n = len(index)
    graph = coo_matrix((np.ones(len(li), dtype=np.int8), (li, ri)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return pd.DataFrame({"record_id": ids.to_numpy(), "cluster_id": labels.astype(str)})


def write_outputs(clusters: pd.DataFrame, args: argparse.Namespace, seconds: float, info: dict) -> None:
    """Clusters atomically (a crashed run leaves no half file), then the stats JSON."""
    args.output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=args.output.parent, suffix=".part")
    os.close(fd)
    clusters[["record_id", "cluster_id"]].to_csv(tmp, index=False)
    os.replace(tmp, args.output)
    stats = {
        "engine_seconds": round(seconds, 2),
        "self_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        **info,
    }
    args.stats.write_text(json.dumps(stats, indent=1, default=str))


class Timer:
    def __enter__(self) -> Timer:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.t0
