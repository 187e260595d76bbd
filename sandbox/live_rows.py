"""Helpers every kind of post-cutoff change uses: change times and tables in a dataset's layout.

See :mod:`sandbox.live_changes` for the format of the live files these tables end up in.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kore.contracts.archtics import DATASETS
from sandbox.csv_parts import as_text_table

DAY = 86_400
WINDOW = 20 * DAY  # changes happen within this many seconds after the cutoff


def change_times(rng: np.random.Generator, n: int, cutoff: int, at_cutoff: float = 0.05) -> np.ndarray:
    ts = cutoff + 1 + (rng.random(n) * (WINDOW - 1)).astype(np.int64)
    ts[rng.random(n) < at_cutoff] = cutoff
    if n:
        ts[0] = cutoff  # always at least one change exactly at the cutoff second
    return ts


def rows_of(table: pa.Table, acct_ids: np.ndarray) -> pa.Table:
    return table.filter(pc.is_in(table.column("acct_id"), value_set=pa.array([str(a) for a in acct_ids])))


def latest_per_key(t: pa.Table, dataset: str) -> pa.Table:
    """One row per business key (the last one added wins); child lists keep every row."""
    if t.num_rows == 0:
        return t
    ds = DATASETS[dataset]
    df = t.to_pandas()
    key = list(ds.business_key)
    df = df.drop_duplicates(key, keep="last")
    return arrow(df, dataset)


def from_records(rows: list[dict], dataset: str) -> pa.Table:
    cols = DATASETS[dataset].columns
    data = {c: pa.array([r.get(c) for r in rows], pa.string()) for c in cols}
    return as_text_table(data, cols, len(rows))


def arrow(df, dataset: str) -> pa.Table:
    cols = DATASETS[dataset].columns
    df = df.reindex(columns=cols)
    data = {c: pa.array(df[c].astype(object).where(df[c].notna(), None).tolist(), pa.string()) for c in cols}
    return as_text_table(data, cols, len(df))


def arrow_cols(cols: dict, dataset: str) -> pa.Table:
    n = len(next(iter(v for v in cols.values() if v is not None)))
    return as_text_table(cols, DATASETS[dataset].columns, n)
