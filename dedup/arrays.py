"""Array helpers shared by the normalisation, blocking, comparators and clustering."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def member(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``np.isin(values, keys)`` for integer keys, by one hash look-up: ``np.isin`` sorts both arrays
    together, 4 s for 16M pair keys against 200k at a million accounts, the look-up ~0.4 s."""
    values = np.asarray(values)
    if not len(keys) or not len(values):
        return np.zeros(len(values), dtype=bool)
    return pd.Index(np.unique(np.asarray(keys))).get_indexer(values) >= 0


def in_ids(values: pd.Series, ids: set[str] | list[str] | pd.Index) -> np.ndarray:
    """Which values are in ``ids`` (bool array; a missing value never is), compared as text.

    Why not ``Series.isin``: on Arrow-backed text it turns the ids into Python objects and hashes
    them one by one (~0.7 s for 100k ids at a million accounts, several times a run); Arrow's
    ``is_in`` builds its hash set from an Arrow array of them (~0.04 s).
    """
    if not len(values) or not len(ids):
        return np.zeros(len(values), dtype=bool)
    wanted = pa.array([str(i) for i in ids if not pd.isna(i)], pa.large_string())
    return pc.is_in(arrow_text(values), value_set=wanted).to_numpy(zero_copy_only=False).astype(bool, copy=False)


def arrow_text(s: pd.Series) -> pa.ChunkedArray:
    """The text column as Arrow ``large_string`` (nulls kept), for Arrow's compute functions."""
    return pa.chunked_array(s.astype("string").array.__arrow_array__()).cast(pa.large_string())


def text_series(arr: pa.Array | pa.ChunkedArray, index: pd.Index) -> pd.Series:
    """Arrow text back as a pandas ``string`` column on ``index`` (no copy of the values)."""
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(arr)), index=index)
