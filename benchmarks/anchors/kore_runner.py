"""Our engine on the benchmark records, run like the anchors (own process, same input file).

Variants (``--variant``):
* ``filemode`` (default): ``dedup.filemode.match_file`` on ``records.csv`` -- the exact file-mode
  path a user runs (``kore dedup file``), default ``DedupConfig``, the same normalised fields the
  anchors get and nothing else.
* ``warehouse``: ``dedup.pipeline.run_dedup`` (full run) on the full person records
  (``--input`` = ``records_full.parquet``) in a fresh warehouse under ``--workdir``. This is the
  production step; it also uses columns the anchors do not get (source, CRM contact id, name type,
  Archtics account id on the CRM contact), so it is reported separately, not as the like-for-like row.

Runs under the project's interpreter (``PYTHONPATH`` = repo root), never the anchors venv.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _common import Timer, write_outputs


def file_fields(records_csv: Path) -> dict[str, str]:
    """File-mode roles of ``records.csv``'s person columns (its header: the fields every tool gets;
    the ZIP's role is ``zip``)."""
    with open(records_csv, encoding="utf-8") as fh:
        header = fh.readline().strip().split(",")
    return {("zip" if c == "zip5" else c): c for c in header if c != "record_id"}


def main() -> None:
    p = argparse.ArgumentParser(description="KORE dedup engine on the benchmark records")
    p.add_argument("--input", required=True, type=Path)
    p.add_argument("--output", required=True, type=Path)
    p.add_argument("--stats", required=True, type=Path)
    p.add_argument("--variant", default="filemode")
    p.add_argument("--workdir", type=Path, help="warehouse variant: a fresh workdir for its warehouse")
    args = p.parse_args()
    if args.variant == "filemode":
        from dedup.filemode import match_file

        fields = file_fields(args.input)
        with Timer() as t:
            counts = match_file(args.input, args.output, "record_id", fields)
        import pandas as pd

        clusters = pd.read_csv(args.output, dtype=str)
        info = {"tool": "kore", "variant": "filemode", **counts}
    elif args.variant == "warehouse":
        import pandas as pd

        from dedup.pipeline import run_dedup
        from kore.config import get_settings
        from kore.warehouse import connect

        if args.workdir is None:
            sys.exit("--workdir is required for the warehouse variant")
        settings = get_settings(args.workdir)
        with connect(settings) as wh:
            wh.replace_table("dedup", "dedup_person_records", pd.read_parquet(args.input))
        with Timer() as t:
            counts = run_dedup(settings, full=True, progress=False)
        with connect(settings) as wh:
            clusters = wh.query_df("select record_id, cluster_id from kore_dedup.clusters")
        info = {"tool": "kore", "variant": "warehouse", "pairs_scored": counts["pairs_scored"]}
    else:
        sys.exit(f"unknown variant {args.variant!r}: use filemode or warehouse")
    write_outputs(clusters, args, t.seconds, info)


if __name__ == "__main__":
    main()
