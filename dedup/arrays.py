"""Array helpers shared by the comparators and the clustering."""

from __future__ import annotations

import numpy as np
import pandas as pd


def member(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``np.isin(values, keys)`` for integer keys, by one hash look-up: ``np.isin`` sorts both arrays
    together, 4 s for 16M pair keys against 200k at a million accounts, the look-up ~0.4 s."""
    values = np.asarray(values)
    if not len(keys) or not len(values):
        return np.zeros(len(values), dtype=bool)
    return pd.Index(np.unique(np.asarray(keys))).get_indexer(values) >= 0
